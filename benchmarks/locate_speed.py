"""Points per second of ``gis.locate.GridLocator`` against a shapely STRtree baseline (not a timed test).

A synthetic county: a Voronoi tessellation of random seeds over a 30 km x 30 km square (metric
coordinates, as the server uses), clipped to the square, with some grids holed by empty ponds and some
holes filled by enclave grids, and a few two-part (MultiPolygon) grids. One million uniform random
points are located by

* ``STRtree.query(points, predicate="within")`` (lowest position among matches), the baseline;
* ``STRtree.query(points, predicate="intersects")`` (= ``covers``, the locator's exact rule);
* ``GridLocator.locate`` with 1 and 2 threads.

All answers must agree. Run: ``.venv/bin/python benchmarks/locate_speed.py [n_grids] [n_points]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.locate import GridLocator  # noqa: E402

SIDE = 30_000.0


def synthetic_county(n_grids: int = 2_000, seed: int = 0) -> gpd.GeoDataFrame:
    """About ``n_grids`` Voronoi grids over a 30 km square, with holes, enclaves and multipolygons."""
    rng = np.random.default_rng(seed)
    square = shapely.box(0, 0, SIDE, SIDE)
    seeds = rng.uniform(0, SIDE, (n_grids, 2))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square))
    cells = shapely.intersection(cells, square)
    cells = cells[np.argsort(rng.random(cells.size))]  # row order unrelated to space
    cells = list(cells)
    extra = []
    # 5 % of grids get a hole: half stay empty (ponds), half are filled by an enclave grid.
    for i in rng.choice(len(cells), size=len(cells) // 20, replace=False):
        c = cells[i]
        centre = c.centroid
        r = 0.15 * np.sqrt(c.area)
        pond = shapely.Point(centre.x, centre.y).buffer(r, quad_segs=4)
        if not c.contains(pond):
            continue
        cells[i] = c.difference(pond)
        if rng.random() < 0.5:
            extra.append(pond)
    # A few two-part grids: a cell plus a far-away pond-free small square (disjoint from others is not
    # required: overlaps follow the lowest-position rule and stay exact).
    for i in rng.choice(len(cells), size=10, replace=False):
        x, y = rng.uniform(0, SIDE - 50, 2)
        cells[i] = shapely.union(cells[i], shapely.box(x, y, x + 50, y + 50))
    geoms = cells + extra
    codes = [f"320102001{i:06d}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs="EPSG:4549")


def strtree_baseline(geoms: np.ndarray, x: np.ndarray, y: np.ndarray, predicate: str) -> np.ndarray:
    """Lowest tree position among the grids satisfying ``predicate`` for each point, -1 if none."""
    tree = shapely.STRtree(geoms)
    p, g = tree.query(shapely.points(x, y), predicate=predicate)
    out = np.full(x.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, p, g)
    out[out == np.iinfo(np.int64).max] = -1
    return out


def timed(fn, repeat: int = 3):
    """Best wall time of ``repeat`` runs and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    n_grids = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    n_points = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    grids = synthetic_county(n_grids)
    geoms = np.asarray(grids.geometry.values, dtype=object)
    rng = np.random.default_rng(42)
    x = rng.uniform(-500, SIDE + 500, n_points)
    y = rng.uniform(-500, SIDE + 500, n_points)

    t0 = time.perf_counter()
    loc1 = GridLocator(grids)
    build = time.perf_counter() - t0
    loc2 = GridLocator(grids, workers=2)
    nx, ny = loc1.n_bins
    nboundary = int((loc1._bin_value <= -2).sum())

    rows = []
    t_within, r_within = timed(lambda: strtree_baseline(geoms, x, y, "within"), repeat=2)
    rows.append(("STRtree.query(within)", t_within))
    t_inter, r_inter = timed(lambda: strtree_baseline(geoms, x, y, "intersects"), repeat=2)
    rows.append(("STRtree.query(intersects)", t_inter))
    t_one, r_one = timed(lambda: loc1.locate(x, y))
    rows.append(("GridLocator.locate, 1 thread", t_one))
    t_two, r_two = timed(lambda: loc2.locate(x, y))
    rows.append(("GridLocator.locate, 2 threads", t_two))

    print(f"{len(grids)} grids ({(grids.geom_type == 'MultiPolygon').sum()} multipolygons, "
          f"{int((shapely.get_num_interior_rings(shapely.get_parts(geoms)) > 0).sum())} holed parts), "
          f"{n_points:,} points; bins {nx} x {ny} ({nboundary / (nx * ny):.1%} boundary), build {build:.2f} s\n")
    print("| method | seconds | points/s | speed-up vs within |")
    print("|---|---:|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {n_points / t:,.0f} | {t_within / t:.1f}x |")
    inside = r_one >= 0
    print(f"\npoints inside a grid: {inside.mean():.1%}")
    same_within = np.array_equal(r_within, r_one)
    print(f"identical to STRtree within: {same_within} ({int((r_within != r_one).sum())} differ; only points "
          "exactly on a boundary can, as within excludes the boundary)")
    print(f"identical to STRtree intersects (covers): {np.array_equal(r_inter, r_one)}")
    print(f"1 vs 2 threads identical: {np.array_equal(r_one, r_two)}")
    if not (np.array_equal(r_inter, r_one) and np.array_equal(r_one, r_two)):
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
