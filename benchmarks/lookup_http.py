"""Point lookup over HTTP: p50/p95/p99 at a fixed request rate against a county of ~2,000 grids.

A synthetic county (20 communities of ~100 Voronoi grids each, ~5 micro-grids per grid, two published
staff per grid) is written into a scratch database of the embedded cluster (``wangge_bench_lookup``),
then the app is served by gunicorn (2 workers x 4 threads, as ``wangge serve``) on loopback and
driven open-loop at ``--rate`` requests/s for ``--seconds`` by a pool of keep-alive ``http.client``
threads. Latency is measured from the moment each request was *scheduled*, so a stalled server cannot
hide queueing (no coordinated omission). Requests mix the four CRSs; ~10 % of points fall outside the
county (404 with the nearest grid). It also times a 100,000-row batch CSV through the same service.

Run: ``.venv/bin/python benchmarks/lookup_http.py [--rate 200] [--seconds 10] [--grids 2000]``.
"""

from __future__ import annotations

import argparse
import http.client
import io
import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "wangge_bench_lookup"
COUNTY = "320599"
ORIGIN = (119.80, 31.50)  # south-west corner of the synthetic county (lon, lat)
METRIC = "EPSG:4549"  # CGCS2000 Gauss-Krüger 3-degree zone, central meridian 120°E

log = logging.getLogger("benchmarks.lookup")


# -- the synthetic county ---------------------------------------------------------------------------

def bench_database(name: str = DATABASE, *, fresh: bool = False) -> str:
    """URL of a migrated scratch database on the embedded cluster (re-created when ``fresh``)."""
    from server.config import load_config
    from server.store.db import embedded_cluster
    from server.store.migrate import upgrade

    cluster = embedded_cluster(load_config({"DATABASE_URL": None}, environ={}))
    cluster.start()
    if fresh:
        cluster.drop_database(name)
    cluster.ensure_database(name)
    url = cluster.url(name)
    upgrade(url)
    return url


def _to_storage(geoms: np.ndarray) -> np.ndarray:
    import pyproj

    t = pyproj.Transformer.from_crs(METRIC, 4490, always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def build_county(url: str, n_grids: int = 2_000, n_communities: int = 20, seed: int = 0) -> dict:
    """Write the synthetic county (areas, draft divisions, grids, micro-grids, staff) unless present.

    Returns
    -------
    dict
        ``bounds`` (lon/lat of the county), ``grids`` (count), ``seconds`` to build.
    """
    import pyproj
    from sqlalchemy import create_engine, func, insert, select

    from server.store import models as m
    from server.store.features import geom_value

    engine = create_engine(url)
    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(m.Grid)).scalar_one()
    started = time.perf_counter()
    to_metric = pyproj.Transformer.from_crs(4490, METRIC, always_xy=True)
    x0, y0 = to_metric.transform(*ORIGIN)
    cols = 5
    rows = -(-n_communities // cols)
    side = 5_000.0  # metres per community square
    county = shapely.box(x0, y0, x0 + cols * side, y0 + rows * side)
    if existing:
        engine.dispose()
        return {"bounds": tuple(_to_storage(np.array([county]))[0].bounds), "grids": existing, "seconds": 0.0}
    rng = np.random.default_rng(seed)
    per = n_grids // n_communities
    with engine.begin() as conn:
        county_geom = _to_storage(np.array([county]))[0]
        conn.execute(insert(m.AdminArea).values(code=f"{COUNTY}000000", name="基准县", level="county",
                                                geom=geom_value(county_geom)))
        townships = {}
        for t in range(rows):
            code = f"{COUNTY}{t + 1:03d}000"
            band = shapely.box(x0, y0 + t * side, x0 + cols * side, y0 + (t + 1) * side)
            conn.execute(insert(m.AdminArea).values(code=code, name=f"基准街道{t + 1}", level="township",
                                                    parent_code=f"{COUNTY}000000", kind="street",
                                                    geom=geom_value(_to_storage(np.array([band]))[0])))
            townships[t] = code
        staff_rows, assignment_rows = [], []
        for c in range(n_communities):
            t, col = divmod(c, cols)
            square = shapely.box(x0 + col * side, y0 + t * side, x0 + (col + 1) * side, y0 + (t + 1) * side)
            community = f"{COUNTY}{t + 1:03d}{c + 1:03d}"
            conn.execute(insert(m.AdminArea).values(
                code=community, name=f"基准社区{c + 1}", level="community", parent_code=townships[t], kind="urban",
                geom=geom_value(_to_storage(np.array([square]))[0])))
            layer = conn.execute(insert(m.AtomLayer).values(community_code=community).returning(m.AtomLayer.id)
                                 ).scalar_one()
            division = conn.execute(insert(m.Division).values(
                community_code=community, version=1, status="approved", effective_from=date(2025, 1, 1),
                atom_layer_id=layer, band_min=300, band_max=500).returning(m.Division.id)).scalar_one()
            minx, miny, maxx, maxy = square.bounds
            seeds = np.column_stack([rng.uniform(minx, maxx, per), rng.uniform(miny, maxy, per)])
            cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square))
            cells = shapely.intersection(cells, square)
            # Densify so grid outlines have realistic vertex counts (roads and walls, not straight cuts).
            cells = shapely.segmentize(cells, 60.0)
            storage = _to_storage(cells)
            grid_rows = [{"division_id": division, "label": i + 1, "code": f"{community}{i + 1:03d}",
                          "name": f"基准社区{c + 1}第{i + 1}网格", "households": int(rng.integers(300, 500)),
                          "geom": geom_value(g)} for i, g in enumerate(storage)]
            grid_ids = conn.execute(insert(m.Grid).returning(m.Grid.id, sort_by_parameter_order=True),
                                    grid_rows).scalars().all()
            micro_rows = []
            for i, (cell, grid_id) in enumerate(zip(cells, grid_ids, strict=True)):
                gx0, gy0, gx1, gy1 = cell.bounds
                pts = np.column_stack([rng.uniform(gx0, gx1, 5), rng.uniform(gy0, gy1, 5)])
                parts = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=cell))
                parts = shapely.intersection(parts, cell)
                parts = [p for p in parts if p.area > 0 and p.geom_type in ("Polygon", "MultiPolygon")]
                for j, p in enumerate(_to_storage(np.array(parts, dtype=object))):
                    micro_rows.append({"grid_id": grid_id, "label": j + 1,
                                       "code": f"{community}{i + 1:03d}{j + 1:02d}", "geom": geom_value(p)})
                for role in ("grid_chief", "full_time"):
                    staff_rows.append({"code": f"S{community}{i + 1:03d}{role[0]}",
                                       "name": f"网格员{len(staff_rows) + 1}",
                                       "phone": f"139{len(staff_rows):08d}", "publish_contact": True})
                    assignment_rows.append((f"{community}{i + 1:03d}", role))
            conn.execute(insert(m.MicroGrid), micro_rows)
        ids = conn.execute(insert(m.Staff).returning(m.Staff.id, sort_by_parameter_order=True),
                           staff_rows).scalars().all()
        conn.execute(insert(m.StaffAssignment), [{"staff_id": s, "grid_code": code, "role": role}
                                                 for s, (code, role) in zip(ids, assignment_rows, strict=True)])
        n = conn.execute(select(func.count()).select_from(m.Grid)).scalar_one()
    engine.dispose()
    bounds = tuple(_to_storage(np.array([county]))[0].bounds)
    return {"bounds": bounds, "grids": n, "seconds": time.perf_counter() - started}


def sample_points(bounds: tuple, n: int, seed: int = 1, outside: float = 0.1) -> np.ndarray:
    """``n`` lon/lat points: most uniform in the county, a share ``outside`` up to 5 km beyond it."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    pts = np.column_stack([rng.uniform(west, east, n), rng.uniform(south, north, n)])
    k = int(n * outside)
    pts[:k, 0] = east + rng.uniform(0.001, 0.05, k)
    return pts[rng.permutation(n)]


# -- the server and the client ----------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, workers: int = 2, threads: int = 4) -> subprocess.Popen:
    """gunicorn on loopback serving the app on ``url``; returns when it answers /healthz."""
    env = {**os.environ, "DATABASE_URL": url, "WANGGE_TILES": "none"}
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(workers), "--threads", str(threads),
                             "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                             "server.wsgi:app_factory()"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


def drive(port: int, paths: list[str], rate: float, n_threads: int = 8) -> dict:
    """Send ``paths`` open-loop at ``rate`` per second; latencies in ms from each scheduled start."""
    lock = threading.Lock()
    counter = iter(range(len(paths)))
    latencies = np.full(len(paths), np.nan)
    service = np.full(len(paths), np.nan)
    statuses = np.zeros(len(paths), dtype=int)
    t0 = time.perf_counter() + 0.2

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.perf_counter()
            try:
                conn.request("GET", paths[i])
                response = conn.getresponse()
                response.read()
                statuses[i] = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                statuses[i] = -1
            done = time.perf_counter()
            latencies[i] = 1000 * (done - scheduled)
            service[i] = 1000 * (done - sent)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    pct = {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)}
    return {**pct, "max": float(np.max(latencies)), "service_p99": float(np.percentile(service, 99)),
            "mean": statistics.fmean(latencies), "n": len(paths), "achieved_rate": len(paths) / elapsed,
            "status": {int(s): int((statuses == s).sum()) for s in np.unique(statuses)}}


def warm_up(port: int, paths: list[str], timeout: float = 120.0) -> int:
    """Request on fresh connections until 40 in a row are fast, so every worker has built its locators."""
    fast, sent, deadline = 0, 0, time.monotonic() + timeout
    while fast < 40 and time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        conn.request("GET", paths[sent % len(paths)], headers={"Connection": "close"})
        conn.getresponse().read()
        conn.close()
        sent += 1
        fast = fast + 1 if time.perf_counter() - started < 0.05 else 0
    return sent


def point_paths(points: np.ndarray, seed: int = 2) -> list[str]:
    """Request paths for the points, in a mix of CGCS2000, WGS84, GCJ-02 and BD-09."""
    from gis.crs import wgs84_to_bd09, wgs84_to_gcj02

    rng = np.random.default_rng(seed)
    kinds = rng.choice(["cgcs2000", "wgs84", "gcj02", "bd09"], size=len(points))
    paths = []
    for (lon, lat), crs in zip(points, kinds, strict=True):
        if crs == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        elif crs == "bd09":
            lon, lat = wgs84_to_bd09(lon, lat)
        paths.append(f"/api/v1/lookup/point?lon={lon:.7f}&lat={lat:.7f}&crs={crs}")
    return paths


def time_batch(url: str, points: np.ndarray) -> dict:
    """Seconds to answer a CSV of the points through :meth:`server.services.lookup.LookupService.batch`."""
    from server.services.lookup import LookupService
    from server.store.db import make_engine

    engine = make_engine(url)
    service = LookupService(engine)
    service.layer()  # the layer is cached per process: a server has it already
    body = io.StringIO()
    body.write("lon,lat,crs\n")
    for i, (lon, lat) in enumerate(points):
        body.write(f"{lon:.7f},{lat:.7f},{'wgs84' if i % 2 else ''}\n")
    data = body.getvalue().encode()
    started = time.perf_counter()
    out = service.batch(data, "cgcs2000")
    seconds = time.perf_counter() - started
    engine.dispose()
    found = out.decode("utf-8-sig").count(",point,")
    return {"rows": len(points), "seconds": seconds, "rows_per_s": len(points) / seconds, "found": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--grids", type=int, default=2_000)
    parser.add_argument("--fresh", action="store_true", help="re-create the scratch database")
    parser.add_argument("--batch-rows", type=int, default=100_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    url = bench_database(fresh=args.fresh)
    county = build_county(url, args.grids)
    print(f"county: {county['grids']} grids, built in {county['seconds']:.1f} s, bounds {county['bounds']}")
    n = int(args.rate * args.seconds)
    points = sample_points(county["bounds"], n)
    port = _free_port()
    proc = start_server(url, port)
    try:
        warm = point_paths(sample_points(county["bounds"], 200, seed=9))
        warm_up(port, warm)  # every worker builds its locators once (the first request after a change pays it)
        result = drive(port, point_paths(points), rate=args.rate)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"HTTP point lookup: {result['n']} requests at {args.rate:g}/s (achieved {result['achieved_rate']:.1f}/s): "
          f"p50 {result['p50']:.2f} ms, p95 {result['p95']:.2f} ms, p99 {result['p99']:.2f} ms, "
          f"max {result['max']:.1f} ms (service-time p99 {result['service_p99']:.2f} ms); status {result['status']}")
    batch = time_batch(url, sample_points(county["bounds"], args.batch_rows, seed=5))
    print(f"batch CSV: {batch['rows']:,} coordinate rows in {batch['seconds']:.2f} s "
          f"({batch['rows_per_s']:,.0f} rows/s), {batch['found']:,} in a grid")


if __name__ == "__main__":
    main()
