"""Load test: point lookups at a fixed rate against two app instances on one database.

Two gunicorn instances (2 workers × 4 threads each, as ``wangge serve``) on two loopback ports share
the synthetic 2,000-grid county of :mod:`lookup_http`; requests alternate between them, open-loop at
``--rate`` per second for ``--seconds`` (latency counted from each request's scheduled start, so a
stalled server cannot hide queueing). Reports errors, p50, p99 and the maximum, overall and per
instance. Target on a 2-core machine: 0 errors and p99 < 20 ms at 500 requests/s for 60 s.

Run: ``.venv/bin/python benchmarks/load.py [--rate 500] [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lookup_http import (  # noqa: E402  (benchmark scripts run from the repository)
    _free_port,
    bench_database,
    build_county,
    drive,
    point_paths,
    sample_points,
    start_server,
    warm_up,
)


def run(rate: float, seconds: float, grids: int) -> dict:
    """Build the county, start two instances, drive both, and return the figures."""
    # One load generator stands for a city's residents: its address must not hit the per-client limit
    # (which still counts every request in PostgreSQL, as in production).
    os.environ["WANGGE_LOOKUP_LIMIT"] = f"{int(rate * seconds * 10)}/{int(seconds * 2)}"
    url = bench_database(fresh=True)
    county = build_county(url, n_grids=grids)
    paths = point_paths(sample_points(county["bounds"], int(rate * seconds)))
    ports = [_free_port(), _free_port()]
    servers = [start_server(url, port) for port in ports]
    try:
        for port in ports:
            warm_up(port, paths)
        results: dict[int, dict] = {}
        # Each instance gets every other request, at half the rate: together the target rate.
        threads = [threading.Thread(target=lambda p=port, k=k: results.__setitem__(p, drive(
            p, paths[k::2], rate / 2, n_threads=6))) for k, port in enumerate(ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    per_instance = [results[p] for p in ports]
    errors = sum(n for r in per_instance for status, n in r["status"].items() if status not in (200, 404))
    return {"rate": rate, "seconds": seconds, "grids": grids, "instances": 2, "requests": len(paths),
            "errors": errors, "p50_ms": max(r["p50"] for r in per_instance),
            "p99_ms": max(r["p99"] for r in per_instance), "max_ms": max(r["max"] for r in per_instance),
            "achieved_rate": sum(r["achieved_rate"] for r in per_instance),
            "per_instance": per_instance}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--grids", type=int, default=2_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = run(args.rate, args.seconds, args.grids)
    print(json.dumps(result, indent=2, default=lambda v: float(v) if isinstance(v, np.floating) else str(v)))
    verdict = result["errors"] == 0 and result["p99_ms"] < 20
    print(f"{'MET' if verdict else 'NOT MET'}: {result['errors']} errors, p50 {result['p50_ms']:.1f} ms, "
          f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms at {result['achieved_rate']:.0f}/s")


if __name__ == "__main__":
    main()
