"""Address search latency over 200,000 standard addresses: p50/p95 and top-1 accuracy by query variant.

Writes 200,000 synthetic standard addresses (``<road><n>号<b>幢<u>单元`` and ``<road><n>号`` over ~600
roads) at random points of the synthetic county of ``benchmarks/lookup_http.py`` into the scratch
database ``wangge_bench_lookup`` (once), then times :meth:`server.services.lookup.LookupService.search` — the
whole answer of ``GET /api/v1/lookup/address``: normalisation, the pg_trgm candidate query on the GIN
trigram index, re-ranking, grid lookup and staff — for queries typed in several ways: as stored,
full-width digits, 栋 for 幢, with province/city/county prefix, one wrong character in the road name,
and road + number only.

Run: ``.venv/bin/python benchmarks/address_search.py [--addresses 200000] [--queries 300]``.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from lookup_http import bench_database, build_county  # noqa: E402

CHARS = "东西南北中新华建设解放人民文化光明幸福和平友谊胜利长江黄河青松翠柏银杏梧桐玉兰牡丹芙蓉海棠丁香紫荆金桂"
SUFFIXES = ("路", "街", "巷", "大道")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def roads(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct two- or three-character road names."""
    out: set[str] = set()
    while len(out) < n:
        k = 2 if rng.random() < 0.8 else 3
        out.add("".join(rng.choice(list(CHARS), size=k)) + SUFFIXES[rng.integers(len(SUFFIXES))])
    return sorted(out)


def fill_addresses(url: str, bounds: tuple, n: int, seed: int = 4) -> int:
    """Write ``n`` synthetic standard addresses unless the table holds that many already."""
    from sqlalchemy import create_engine, func, select

    from server.store import models as m

    engine = create_engine(url)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(m.Address)).scalar_one()
    if have >= n:
        engine.dispose()
        return have
    rng = np.random.default_rng(seed)
    names = roads(600, rng)
    seen: set[str] = set()
    rows = io.StringIO()
    west, south, east, north = bounds
    while len(seen) < n:
        road = names[rng.integers(len(names))]
        number = int(rng.integers(1, 400))
        if rng.random() < 0.1:
            address, building, unit = f"{road}{number}号", None, None
        else:
            building, unit = int(rng.integers(1, 21)), int(rng.integers(1, 5))
            address = f"{road}{number}号{building}幢{unit}单元"
        if address in seen:
            continue
        seen.add(address)
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        rows.write(f"bench-{len(seen)}\t{address}\t{road}\t{number}\t{building or ''}\t{unit or ''}\t"
                   f"SRID=4490;POINT({lon:.8f} {lat:.8f})\n")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("TRUNCATE address")
            with cur.copy("COPY address (source_id, address, road, number, building, unit, geom) FROM STDIN "
                          "(FORMAT text, NULL '')") as copy:
                copy.write(rows.getvalue())
            cur.execute("ANALYZE address")
        raw.commit()
    finally:
        raw.close()
    engine.dispose()
    return n


def variants(address: str, rng: np.random.Generator) -> dict[str, str]:
    """The ways a resident may type ``address``."""
    road_end = next(i for i, ch in enumerate(address) if ch.isdigit())
    road = address[:road_end]
    i = int(rng.integers(0, max(1, road_end - 1)))  # never the suffix
    typo_char = next(c for c in rng.permutation(list(CHARS)) if c != road[i])
    number_end = address.index("号") + 1
    return {"exact": address,
            "full-width digits": address.translate(FULL_WIDTH),
            "栋 for 幢": address.replace("幢", "栋"),
            "county prefix": "江苏省基准市基准县" + address,
            "typo in road": road[:i] + typo_char + address[i + 1:],
            "road + number": address[:number_end]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()

    from sqlalchemy import text

    from server.services.lookup import LookupService
    from server.store.db import make_engine

    url = bench_database()
    county = build_county(url)
    started = time.perf_counter()
    total = fill_addresses(url, county["bounds"], args.addresses)
    print(f"{total:,} addresses ready in {time.perf_counter() - started:.1f} s")
    engine = make_engine(url)
    with engine.connect() as conn:
        sample = conn.execute(text("SELECT address FROM address WHERE address LIKE '%单元' ORDER BY md5(source_id) "
                                   "LIMIT :n"), {"n": args.queries}).scalars().all()
    service = LookupService(engine, background=False, check_interval=3600)
    service.layer()
    rng = np.random.default_rng(7)
    times: dict[str, list[float]] = {}
    hits: dict[str, int] = {}
    for address in sample:
        for kind, query in variants(address, rng).items():
            started = time.perf_counter()
            answer = service.search(query, 10)
            times.setdefault(kind, []).append(1000 * (time.perf_counter() - started))
            results = answer["results"]
            if kind == "road + number":
                ok = bool(results) and results[0]["address"].startswith(query)
            else:
                ok = bool(results) and results[0]["address"] == address
            hits[kind] = hits.get(kind, 0) + ok
    engine.dispose()
    every = np.concatenate([np.array(v) for v in times.values()])
    print(f"{'variant':20}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'top-1':>8}")
    for kind, values in times.items():
        v = np.array(values)
        print(f"{kind:20}{np.percentile(v, 50):>9.1f}{np.percentile(v, 95):>9.1f}{v.max():>9.1f}"
              f"{hits[kind] / len(v):>8.0%}")
    print(f"{'all':20}{np.percentile(every, 50):>9.1f}{np.percentile(every, 95):>9.1f}{every.max():>9.1f}"
          f"{sum(hits.values()) / every.size:>8.0%}")


if __name__ == "__main__":
    main()
