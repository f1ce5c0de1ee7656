"""Load test: point lookups at a fixed rate against two app instances on one database.

Two gunicorn instances (2 workers × 4 threads each, as ``wangge serve``) on two loopback ports share
the synthetic 2,000-grid county of :mod:`lookup_http`; requests alternate between them, open-loop at
``--rate`` per second for ``--seconds`` (latency counted from each request's scheduled start, so a
stalled server cannot hide queueing). Reports errors, p50, p99 and the maximum, overall and per
instance. Target on a 2-core machine: 0 errors and p99 < 20 ms at 500 requests/s for 60 s.

The generator is one asyncio loop with a few keep-alive connections per instance. A thread per
connection (as the first version had) measured its own GIL hand-overs: with a dozen Python threads
sharing the two cores with the servers, a request could wait 5 ms for the interpreter before it was
even sent.

Run: ``.venv/bin/python benchmarks/load.py [--rate 500] [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lookup_http import (  # noqa: E402  (benchmark scripts run from the repository)
    _free_port,
    bench_database,
    build_county,
    point_paths,
    sample_points,
    start_server,
    warm_up,
)


async def _request(conn, port: int, path: str):
    """Send one GET on a keep-alive connection (opened when ``conn`` is None); (status, conn or None)."""
    if conn is None:
        conn = await asyncio.open_connection("127.0.0.1", port)
    reader, writer = conn
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    await reader.readexactly(length)
    if b"connection: close" in head:
        writer.close()
        conn = None
    return int(head.split(b" ", 2)[1]), conn


async def _drive(port: int, paths: list[str], rate: float, t0: float, connections: int) -> dict:
    """Send ``paths`` to one instance open-loop at ``rate``/s from loop time ``t0``; latencies in ms."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(None)
    latencies, service = np.full(len(paths), np.nan), np.full(len(paths), np.nan)
    statuses = np.zeros(len(paths), dtype=int)

    async def one(i: int, scheduled: float) -> None:
        conn = await idle.get()  # waiting for a free connection counts: latency runs from `scheduled`
        sent = loop.time()
        try:
            statuses[i], conn = await asyncio.wait_for(_request(conn, port, paths[i]), timeout=10)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            statuses[i], conn = -1, None
        done = loop.time()
        idle.put_nowait(conn)
        latencies[i], service[i] = 1000 * (done - scheduled), 1000 * (done - sent)

    tasks = []
    for i in range(len(paths)):
        scheduled = t0 + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - t0
    return {**{f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)},
            "max": float(np.max(latencies)), "service_p99": float(np.percentile(service, 99)),
            "n": len(paths), "achieved_rate": len(paths) / elapsed, "latencies": latencies,
            "status": {int(s): int((statuses == s).sum()) for s in np.unique(statuses)}}


async def _drive_all(ports: list[int], paths: list[str], rate: float) -> list[dict]:
    # Each instance gets every other request, at half the rate: together the target rate.
    t0 = asyncio.get_running_loop().time() + 0.2
    return await asyncio.gather(*(_drive(port, paths[k::2], rate / 2, t0 + k / rate, connections=8)
                                  for k, port in enumerate(ports)))


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
        per_instance = asyncio.run(_drive_all(ports, paths, rate))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    errors = sum(n for r in per_instance for status, n in r["status"].items() if status not in (200, 404))
    latencies = np.concatenate([r.pop("latencies") for r in per_instance])
    return {"rate": rate, "seconds": seconds, "grids": grids, "instances": 2, "requests": len(paths),
            "errors": errors, "p50_ms": float(np.percentile(latencies, 50)),
            "p99_ms": float(np.percentile(latencies, 99)), "max_ms": float(latencies.max()),
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
