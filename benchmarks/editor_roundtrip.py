"""Round trip of one editor edit through the real stack: HTTP handler, PostGIS transaction, checks.

Run: ``.venv/bin/python benchmarks/editor_roundtrip.py [--runs 40]``. Builds a synthetic community of
2,000 buildings (20,000 households) in a scratch database ``wangge_bench_editor`` of the embedded
cluster (or ``DATABASE_URL``'s server), divides it with the engine (about 2,000 atoms, ~50 grids),
then times ``POST /api/v1/divisions/{id}/edits`` for paint, split, merge, undo (restore) and
set_grid through Flask's test client with an API token: everything but the socket. Prints a
markdown table of median and p95 milliseconds. The target is under 200 ms per edit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis import edits  # noqa: E402
from gis.errors import InputError  # noqa: E402
from server import create_app, engine_of  # noqa: E402
from server.config import load_config  # noqa: E402
from server.services.divisions import divide_and_store  # noqa: E402
from server.services.editing import load_draft  # noqa: E402
from server.services.importer import import_file  # noqa: E402
from server.services.users import create_token, ensure_demo_users  # noqa: E402
from server.store.db import embedded_cluster, running_database  # noqa: E402
from server.store.migrate import upgrade  # noqa: E402

DATABASE = "wangge_bench_editor"
COMMUNITY = "320499001001"
CRS = "EPSG:4549"  # CGCS2000 GK zone 120°E, metres
X0, Y0 = 500_000.0, 3_500_000.0


def synthetic_base_data(folder: Path) -> dict[str, Path]:
    """A 2,000 m × 1,500 m community: 50 × 40 buildings of 10 households, roads every 10 × 8 buildings.

    Blocks of 80 buildings (800 households) are over the band maximum, so every building becomes an
    atom of its own: about 2,000 atoms.
    """
    cell = 40.0
    width, height = 50 * cell, 40 * cell
    area = shapely.box(X0, Y0, X0 + width, Y0 + height)
    frames = {
        "areas": gpd.GeoDataFrame({"code": ["320499000000", "320499001000", COMMUNITY],
                                   "name": ["基准县", "基准街道", "基准社区"],
                                   "level": ["county", "township", "community"],
                                   "parent_code": [None, "320499000000", "320499001000"],
                                   "kind": [None, "street", "urban"]}, geometry=[area, area, area], crs=CRS),
        "buildings": gpd.GeoDataFrame(
            {"households": [10] * 2000, "id": [f"b{i}" for i in range(2000)]},
            geometry=[shapely.box(X0 + i * cell + 8, Y0 + j * cell + 8, X0 + i * cell + 32, Y0 + j * cell + 32)
                      for i in range(50) for j in range(40)], crs=CRS),
        "barriers": gpd.GeoDataFrame(
            {"kind": ["road"] * 8, "id": [f"r{i}" for i in range(8)]},
            geometry=[shapely.LineString([(X0 + x, Y0 - 5), (X0 + x, Y0 + height + 5)]) for x in (400, 800, 1200, 1600)]
            + [shapely.LineString([(X0 - 5, Y0 + y), (X0 + width + 5, Y0 + y)]) for y in (320, 640, 960, 1280)],
            crs=CRS),
    }
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.geojson"
        frame.to_crs(4490).to_file(paths[name], driver="GeoJSON")
    return paths


def timed(client, division_id: int, body: dict, token: str) -> tuple[float, dict]:
    start = time.perf_counter()
    response = client.post(f"/api/v1/divisions/{division_id}/edits", json=body,
                           headers={"Authorization": f"Bearer {token}"})
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{body['op']} refused: {response.json}")
    return seconds, response.json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    config = load_config()
    with running_database(config) as url:
        if not config["DATABASE_URL"]:
            cluster = embedded_cluster(config)
            cluster.drop_database(DATABASE)
            cluster.ensure_database(DATABASE)
            url = cluster.url(DATABASE)
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "TILES": "none"})
        engine = engine_of(app)
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            for kind, path in synthetic_base_data(Path(folder)).items():
                import_file(engine, kind, path)
        outcome = divide_and_store(engine, COMMUNITY)
        if outcome.error:
            raise SystemExit(outcome.error)
        ensure_demo_users(engine)
        with engine.begin() as conn:
            token = create_token(conn, "editor", "benchmark")
        client = app.test_client()
        division_id = outcome.division_id
        with engine.connect() as conn:
            draft = load_draft(conn, division_id)
        n_atoms = draft.layer.context.n
        print(f"community: {n_atoms} atoms, {len(draft.grids)} grids, division {division_id}")
        client.get(f"/api/v1/divisions/{division_id}", headers={"Authorization": f"Bearer {token}"})  # warm cache

        times: dict[str, list[float]] = {"paint": [], "undo (restore)": [], "set_grid": [], "split": [],
                                         "merge": []}
        rng = np.random.default_rng(0)
        revision = draft.revision
        for _ in range(args.runs):
            with engine.connect() as conn:
                draft = load_draft(conn, division_id)
            ctx, lab = draft.layer.context, draft.labels.labels
            edge = rng.permutation(len(ctx.edge_a))
            for e in edge:
                a, b = int(ctx.edge_a[e]), int(ctx.edge_b[e])
                if lab[a] == lab[b]:
                    continue
                try:
                    edits.paint(ctx, draft.labels, [int(ctx.atom_ids[a])], int(lab[b]))
                except InputError:
                    continue
                break
            seconds, answer = timed(client, division_id, {"op": "paint", "atoms": [int(ctx.atom_ids[a])],
                                                          "grid": int(lab[b]), "revision": revision}, token)
            times["paint"].append(seconds)
            seconds, answer = timed(client, division_id, {"op": "restore", "to_revision": revision,
                                                          "revision": answer["revision"]}, token)
            times["undo (restore)"].append(seconds)
            seconds, answer = timed(client, division_id, {"op": "set_grid", "grid": int(lab[b]), "name": "基准",
                                                          "revision": answer["revision"]}, token)
            times["set_grid"].append(seconds)
            revision = answer["revision"]
            # split the biggest grid through its middle, then merge the two halves back
            big = int(np.bincount(lab[lab >= 0]).argmax())
            members = lab == big
            y = float(np.median(ctx.rep_y[members])) + 1.0
            x0, x1 = float(ctx.rep_x[members].min()) - 50, float(ctx.rep_x[members].max()) + 50
            line = gpd.GeoSeries([shapely.LineString([(x0, y), (x1, y)])], crs=draft.layer.crs).to_crs(4490).iloc[0]
            seconds, answer = timed(client, division_id, {"op": "split", "grid": big, "revision": revision,
                                                          "line": shapely.geometry.mapping(line)}, token)
            times["split"].append(seconds)
            created = answer["change"]["created"][0]
            seconds, answer = timed(client, division_id, {"op": "merge", "a": big, "b": created,
                                                          "revision": answer["revision"]}, token)
            times["merge"].append(seconds)
            revision = answer["revision"]
        print(f"\n| edit ({n_atoms} atoms, {args.runs} runs) | median ms | p95 ms |\n|---|---:|---:|")
        for op, values in times.items():
            ms = np.array(values) * 1000
            print(f"| {op} | {np.median(ms):.0f} | {np.percentile(ms, 95):.0f} |")
        engine.dispose()


if __name__ == "__main__":
    main()
