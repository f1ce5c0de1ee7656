"""Province scale: divide a generated multi-county area on a Dask LocalCluster with 1 and with 2 workers.

The area comes from ``data/boundaries/area.py --counties N`` (about 41,000 households per county;
25 counties ≈ 1 million households), imported into a scratch database of the embedded cluster. Each run
divides every community with ``wangge``'s Dask job (``divide_many``, ``--force`` so nothing is skipped)
and reports:

- households per second, overall and per worker;
- scheduler overhead per task: the run's wall time minus the tasks' own time divided by the workers,
  per task;
- peak memory per worker (the largest resident set a worker process reached);
- the scaling efficiency from 1 to 2 workers: speed-up ÷ workers.

Run: ``.venv/bin/python benchmarks/province.py [--counties 25] [--workers 1 2]``. The figures and the
projection to a province of 30 million households are in ``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "data" / "boundaries"))

DATABASE = "wangge_bench_province"


def area_files(counties: int, seed: int) -> Path:
    """The generated area (cached under var/): generated once per size and seed."""
    from area import generate_area
    from generate import write_county

    folder = ROOT / "var" / "bench" / f"province-{counties}-{seed}"
    if not (folder / "demo_county.gpkg").exists():
        started = time.perf_counter()
        write_county(generate_area(counties, seed), folder)
        print(f"generated {counties} counties in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def database(folder: Path, fresh: bool) -> str:
    """A migrated scratch database holding the area's base data."""
    from server.config import load_config
    from server.services.importer import import_demo
    from server.store.db import embedded_cluster, make_engine
    from server.store.migrate import upgrade

    cluster = embedded_cluster(load_config({"DATABASE_URL": None}, environ={}))
    cluster.start()
    if fresh:
        cluster.drop_database(DATABASE)
    cluster.ensure_database(DATABASE)
    url = cluster.url(DATABASE)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        from sqlalchemy import text

        loaded = conn.execute(text("SELECT count(*) FROM building")).scalar_one()
    if not loaded:
        started = time.perf_counter()
        for report in import_demo(engine, folder):
            print(report.summary(), flush=True)
        print(f"imported in {time.perf_counter() - started:.0f} s", flush=True)
    engine.dispose()
    return url


class PeakMemory:
    """Samples the resident set of this process's worker children every 0.2 s; keeps each one's peak."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process(os.getpid())
        while not self._stop.wait(0.2):
            for child in me.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(child.cmdline()):
                        self.peaks[child.pid] = max(self.peaks.get(child.pid, 0), child.memory_info().rss)
                except psutil.Error:
                    continue

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run(url: str, codes: list[str], workers: int) -> dict:
    """Divide every community with ``workers`` local workers; the figures of the run."""
    from server.services.division_jobs import JobReport, divide_many

    report = JobReport()
    with PeakMemory() as memory:
        started = time.perf_counter()
        for _ in divide_many(url, codes, workers=workers, report=report, skip_unchanged=False):
            pass
        wall = time.perf_counter() - started
    task_seconds = sum(o.seconds for o in report.divided)
    households = report.households
    return {"workers": workers, "communities": len(codes), "divided": len(report.divided),
            "failed": len(report.failed), "households": households, "grids": report.grids,
            "grids_in_band": report.grids_in_band, "wall_s": round(wall, 1),
            "households_per_s": round(households / wall), "households_per_s_per_worker": round(households / wall
                                                                                                 / workers),
            "scheduler_overhead_ms_per_task": round(1000 * (wall - task_seconds / workers) / len(codes), 1),
            "peak_rss_mb_per_worker": round(max(memory.peaks.values(), default=0) / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=25)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fresh", action="store_true", help="Re-create the database and import again.")
    args = parser.parse_args()
    url = database(area_files(args.counties, args.seed), args.fresh)
    from server.services.divisions import communities_to_divide
    from server.store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        codes = communities_to_divide(conn, "320000000000")
    engine.dispose()
    results = [run(url, codes, n) for n in args.workers]
    if len(results) >= 2:
        one, many = results[0], results[-1]
        speedup = one["wall_s"] / many["wall_s"]
        efficiency = speedup / (many["workers"] / one["workers"])
        print(f"speed-up {speedup:.2f} from {one['workers']} to {many['workers']} workers, "
              f"scaling efficiency {efficiency:.2f}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
