"""Point-in-grid, side by side: the server's cached ``GridLocator`` vs PostGIS ``ST_Covers`` with a GiST index.

Same synthetic county as ``benchmarks/lookup_http.py`` (~2,000 grids in the scratch database
``wangge_bench_lookup``), same random points (10 % outside the county). Reported:

* ``GridLocator`` build time, then points/s for one batch call and for one call per point (what a
  request costs);
* PostGIS, one query over all points (``unnest`` of two arrays, ``LATERAL`` lookup using the GiST
  index on ``grid.geom``), and one query per point over a pooled connection (what a request would
  cost if it asked PostGIS).

Both use the same rule (``covers``; lowest code wins on shared edges), and the answers must agree.
Run: ``.venv/bin/python benchmarks/locate_vs_postgis.py [--points 100000] [--single 2000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lookup_http import bench_database, build_county, sample_points  # noqa: E402

_BATCH_SQL = """
    SELECT g.code FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i)
    LEFT JOIN LATERAL (
        SELECT code FROM grid WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490))
        ORDER BY code LIMIT 1) g ON TRUE
    ORDER BY p.i"""
_ONE_SQL = """
    SELECT code FROM grid WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4490)) ORDER BY code LIMIT 1"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=2_000, help="points asked one query/call at a time")
    args = parser.parse_args()

    from sqlalchemy import text

    from server.services.lookup import LookupService
    from server.store.db import make_engine

    url = bench_database()
    county = build_county(url)
    pts = sample_points(county["bounds"], args.points, seed=3)
    engine = make_engine(url)
    service = LookupService(engine, background=False)
    started = time.perf_counter()
    _, layer, _ = service.layer()
    build = time.perf_counter() - started
    codes = layer.grids["code"].to_numpy(object)

    started = time.perf_counter()
    pos = layer.locator.locate(pts[:, 0], pts[:, 1])
    batch_s = time.perf_counter() - started
    ours = np.where(pos >= 0, codes[np.maximum(pos, 0)], None)

    single = pts[: args.single]
    started = time.perf_counter()
    for x, y in single:
        layer.locator.locate(np.array([x]), np.array([y]))
    single_s = time.perf_counter() - started

    with engine.connect() as conn:
        conn.execute(text("ANALYZE grid"))
        started = time.perf_counter()
        theirs = conn.execute(text(_BATCH_SQL), {"xs": pts[:, 0].tolist(), "ys": pts[:, 1].tolist()}).scalars().all()
        pg_batch_s = time.perf_counter() - started
        started = time.perf_counter()
        for x, y in single:
            conn.execute(text(_ONE_SQL), {"x": float(x), "y": float(y)}).scalar_one_or_none()
        pg_single_s = time.perf_counter() - started
    engine.dispose()
    disagree = sum(1 for a, b in zip(ours, theirs, strict=True) if a != b)
    n, k = len(pts), len(single)
    print(f"county: {county['grids']} grids (+ micro-grids); {n:,} points, {int((pos >= 0).sum()):,} in a grid; "
          f"answers that differ: {disagree}")
    print(f"GridLocator build (grids + micro-grids + metric tree): {build:.2f} s")
    print(f"{'':28}{'GridLocator':>16}{'PostGIS ST_Covers':>20}")
    print(f"{'one batch, points/s':28}{n / batch_s:>16,.0f}{n / pg_batch_s:>20,.0f}")
    print(f"{'one call per point, pts/s':28}{k / single_s:>16,.0f}{k / pg_single_s:>20,.0f}")
    print(f"{'one call per point, µs':28}{1e6 * single_s / k:>16,.1f}{1e6 * pg_single_s / k:>20,.1f}")


if __name__ == "__main__":
    main()
