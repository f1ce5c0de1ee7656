"""Whole-county division through the real stack: ``wangge divide --county`` on generated counties.

Run: ``.venv/bin/python benchmarks/county_timing.py [--scale 1 6] [--workers 2]``. For each scale it
generates the demo county with ``data/boundaries/generate.py`` (scale 1 is the shipped demo, 41k
households; scale 6 about 280k), imports it into a scratch database ``wangge_bench_county`` of the
embedded cluster, and divides every community with ``--workers`` processes, each community read from
PostGIS, divided (atoms, grids, micro-grids, codes, checks) and stored in its own transaction. Prints
a markdown table: households, communities, atoms, grids, share of grids in band, seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "boundaries"))

from generate import generate_county, write_county  # noqa: E402
from sqlalchemy import text  # noqa: E402

from server.config import load_config  # noqa: E402
from server.services.division_jobs import divide_many  # noqa: E402
from server.services.divisions import communities_to_divide  # noqa: E402
from server.services.importer import import_demo  # noqa: E402
from server.store.db import embedded_cluster, make_engine, running_database  # noqa: E402
from server.store.migrate import upgrade  # noqa: E402

DATABASE = "wangge_bench_county"


def run(scale: float, workers: int) -> dict:
    config = load_config()
    cluster = embedded_cluster(config)
    cluster.drop_database(DATABASE)
    cluster.ensure_database(DATABASE)
    url = cluster.url(DATABASE)
    upgrade(url)
    engine = make_engine(url)
    with tempfile.TemporaryDirectory() as folder:
        write_county(generate_county(seed=2026, scale=scale), folder)
        import_demo(engine, folder)
    with engine.connect() as conn:
        codes = communities_to_divide(conn, "320499000000")
        households = conn.execute(text("SELECT sum(households) FROM building")).scalar_one()
    started = time.perf_counter()
    outcomes = list(divide_many(url, codes, workers=workers))
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if o.error]
    with engine.connect() as conn:
        atoms = conn.execute(text("SELECT count(*) FROM atom")).scalar_one()
        grids = conn.execute(text("SELECT count(*) FROM grid")).scalar_one()
        in_band = conn.execute(text("""
            SELECT avg(CASE WHEN g.households BETWEEN d.band_min AND d.band_max THEN 1.0 ELSE 0 END)
            FROM grid g JOIN division d ON d.id = g.division_id WHERE g.type = 'comprehensive'""")).scalar_one()
    engine.dispose()
    slowest = max(outcomes, key=lambda o: o.seconds)
    return {"scale": scale, "households": int(households), "communities": len(codes), "atoms": atoms,
            "grids": grids, "in_band": float(in_band), "seconds": seconds, "failed": len(failed),
            "slowest": f"{slowest.community_code} {slowest.seconds:.1f} s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, nargs="+", default=[1.0, 6.0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with running_database(load_config()):
        rows = [run(scale, args.workers) for scale in args.scale]
    print(f"\n| county (scale) | households | communities | atoms | grids | comprehensive grids in band | "
          f"seconds ({args.workers} workers) | slowest community |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['scale']:g} | {r['households']:,} | {r['communities']} | {r['atoms']:,} | {r['grids']:,} | "
              f"{r['in_band']:.0%} | {r['seconds']:.1f} | {r['slowest']} |"
              + (f" **{r['failed']} failed**" if r["failed"] else ""))


if __name__ == "__main__":
    main()
