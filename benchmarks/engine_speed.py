"""The engine's own speed: ``wangge divide-file`` end to end and per stage, the partition against pymetis, and
rebalancing after a population change against re-dividing.

Run: ``.venv/bin/python benchmarks/engine_speed.py [--repeat 3] [--quick]`` (``run_all.py`` runs it too and keeps
the figures in ``docs/benchmarks.md``). Inputs, written to a scratch folder as ``divide-file`` GeoPackages:

* **old town**: ``data/boundaries/generate.py --old-town`` (460 buildings, 16,000 households, an irregular
  Voronoi street network with a river and two winding main streets);
* each community of the demo county, and Prague Bubeneč (as in :mod:`benchmarks.cases`).

End to end is the wall time of the ``wangge divide-file IN OUT`` process, start-up included (median of
``--repeat`` runs). The stages come from a separate process that times its imports and reads
:attr:`gis.pipeline.CommunityDivision.seconds`; "start" is what the end-to-end run spends outside them
(interpreter start, click, argument parsing).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "data" / "boundaries"))

from benchmarks.cases import DEMO_PATH, bubenec_households, bubenec_path, demo_codes, read_demo  # noqa: E402

log = logging.getLogger("benchmarks.engine_speed")

#: The issue's targets (seconds, end to end with process start).
OLD_TOWN_TARGET_S = 2.0
COMMUNITY_TARGET_S = 0.5
#: Partition step against pymetis on the same atoms.
METIS_RATIO_TARGET = 10.0
#: Seeded pymetis restarts tried for the band wangge reaches (see :func:`metis_restarts_to`).
METIS_RESTART_LIMIT = 1000
STAGES = ["start", "imports", "read", "atoms", "partition", "micro", "quality", "write"]
#: The stages a warm process pays per community (a Dask worker dividing a province): no start, no imports.
ENGINE_STAGES = STAGES[2:]
#: The demo community the rebalance benchmark changes, its share of extra households and the buildings raised.
REBALANCE_CODE = "320499001001"
REBALANCE_GROWTH = 0.30
REBALANCE_BUILDINGS = 6

_STAGE_PROBE = """
import json, sys, time
t0 = time.perf_counter()
import gis.pipeline, server.cli
t1 = time.perf_counter()
seconds = {}
results = gis.pipeline.divide_file(sys.argv[1], sys.argv[2], seconds=seconds)
stages = {"imports": t1 - t0, **seconds}
for r in results:
    for name, value in r.seconds.items():
        stages[name] = stages.get(name, 0.0) + value
print(json.dumps(stages))
"""


@dataclass
class SpeedRow:
    """End-to-end and per-stage seconds of one input."""

    name: str
    buildings: int
    households: int
    target: float
    end_to_end: float
    cpu: float
    stages: dict


# -- inputs --------------------------------------------------------------------------------------------------


def write_inputs(folder: Path, quick: bool = False) -> dict[str, Path]:
    """Old town, the demo communities (two in quick mode) and Bubeneč as divide-file GeoPackages."""
    from generate import generate_old_town, write_old_town

    paths = {"old town (generated)": folder / "old_town.gpkg"}
    write_old_town(generate_old_town(), paths["old town (generated)"])
    data = read_demo(DEMO_PATH)
    codes = demo_codes(DEMO_PATH)
    for code in (codes[:1] + codes[-1:]) if quick else codes:
        path = folder / f"{code}.gpkg"
        _write_demo_community(data, code, path)
        paths[code] = path
    paths["Bubeneč (Prague)"] = folder / "bubenec.gpkg"
    _write_bubenec(paths["Bubeneč (Prague)"])
    return paths


def _write_demo_community(data: dict, code: str, path: Path) -> None:
    areas = data["areas"]
    area = areas[areas["code"] == code][["code", "kind", "geometry"]]
    boundary = area.geometry.iloc[0]
    buildings = data["buildings"]
    inside = buildings[buildings.representative_point().within(boundary)]
    wanted = ("id", "households", "population", "units", "compound", "site", "geometry")
    columns = [c for c in wanted if c in inside.columns]
    barriers = data["barriers"][data["barriers"].intersects(boundary)]
    sites = data["sites"][data["sites"].intersects(boundary)].copy()
    sites["geometry"] = sites.geometry.intersection(boundary)
    sites = sites[~sites.geometry.is_empty & (sites.geometry.area > 1.0)]
    layers = {"area": area, "buildings": inside[columns], "barriers": barriers[["kind", "geometry"]],
              "sites": sites[["id", "kind", "geometry"]]}
    for name, frame in layers.items():
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def _write_bubenec(path: Path) -> None:
    import shapely

    from gis.crs import metric_crs_for_frame

    raw = {name: gpd.read_file(bubenec_path(), layer=name, engine="pyogrio") for name in ("buildings", "streets")}
    metric = metric_crs_for_frame(raw["buildings"])
    buildings = raw["buildings"].to_crs(metric)
    buildings["geometry"] = buildings.geometry.make_valid()
    buildings["households"] = bubenec_households(buildings)
    from benchmarks.cases import BUBENEC_BUFFER_M

    boundary = shapely.union_all(buildings.geometry.to_numpy()).convex_hull.buffer(BUBENEC_BUFFER_M)
    area = gpd.GeoDataFrame({"code": ["000000000000"], "kind": ["urban"]}, geometry=[boundary], crs=metric)
    streets = raw["streets"].to_crs(metric).assign(kind="road")
    for name, frame in (("area", area), ("buildings", buildings[["households", "geometry"]]),
                        ("barriers", streets[["kind", "geometry"]])):
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


# -- timing --------------------------------------------------------------------------------------------------


def _wangge() -> list[str]:
    script = Path(sys.executable).parent / "wangge"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from server.cli import main; main()"]


def end_to_end(path: Path, out: Path, repeat: int) -> tuple[float, float]:
    """Median wall time and CPU time (user + system) of ``wangge divide-file path out`` over ``repeat`` runs.

    The CPU time is what the process itself used: on a machine other work shares, the wall time
    also counts the waiting, the CPU time much less so.
    """
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    times, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([*_wangge(), "divide-file", str(path), str(out)], check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), statistics.median(cpu)


def stage_seconds(path: Path, out: Path) -> dict[str, float]:
    """Seconds per stage of one divide-file run in a fresh process (imports included)."""
    done = subprocess.run([sys.executable, "-c", _STAGE_PROBE, str(path), str(out)], check=True,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed(paths: dict[str, Path], folder: Path, repeat: int) -> list[SpeedRow]:
    """End to end and per stage for every input."""
    rows = []
    for name, path in paths.items():
        out = folder / f"out-{path.stem}.gpkg"
        stages = stage_seconds(path, out)
        total, cpu = end_to_end(path, out, repeat)
        stages["start"] = max(0.0, total - sum(stages.values()))
        buildings = gpd.read_file(path, layer="buildings", engine="pyogrio", columns=["households"])
        target = OLD_TOWN_TARGET_S if path.stem == "old_town" else COMMUNITY_TARGET_S
        rows.append(SpeedRow(name, len(buildings), int(buildings["households"].sum()), target, total, cpu, stages))
        log.info("%-22s %5.2f s end to end (CPU %.2f s)  %s", name, total, cpu,
                 ", ".join(f"{k} {stages.get(k, 0.0):.2f}" for k in STAGES))
    return rows


def partition_against_metis(cases: list, repeat: int) -> list[dict]:
    """Seconds of :func:`gis.partition.divide` and of pymetis (anchors.run_metis) on the same atoms, and
    the seeded pymetis restarts it takes to leave no more households outside the band than wangge does.
    """
    from benchmarks.anchors import run_metis
    from benchmarks.metrics import evaluate
    from gis.partition import PartitionSettings, divide

    rows = []
    for case in cases:
        settings = PartitionSettings(band=case.band, seed=0)
        ours, theirs = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            division = divide(case.atoms, case.edges, settings)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_metis(case.atoms, case.edges, case.band)
            theirs.append(time.perf_counter() - t0)
        # Scored as every method is (benchmarks/metrics.py): grids of sites only are left out of the band.
        violation = int(evaluate(case.atoms, case.edges, division.labels, case.band)["violation"])
        restarts, restart_s = metis_restarts_to(case, violation)
        rows.append({"case": case.name, "atoms": len(case.atoms), "wangge": statistics.median(ours),
                     "metis": statistics.median(theirs), "violation": violation, "restarts": restarts,
                     "restart_s": restart_s})
    return rows


def metis_restarts_to(case, violation: int, limit: int = METIS_RESTART_LIMIT) -> tuple[int | None, float]:
    """Seeded pymetis restarts until one leaves at most ``violation`` households outside the band.

    The restarts cycle through the anchor's grid count and the counts either side of it (as wangge
    tries the neighbouring counts), with the anchor's options; the adjacency is built once, so each
    restart costs only its METIS call and the band check. Returns the restarts run (None when none of
    ``limit`` got there) and their seconds.
    """
    import pymetis

    from benchmarks.anchors import _components, adjacency, n_parts
    from benchmarks.metrics import site_atoms

    nbrs = adjacency(case.atoms, case.edges)
    households = case.atoms["households"].astype(int).to_numpy()
    weights = households.tolist()
    not_site = ~site_atoms(case.atoms).to_numpy()
    contig = _components(nbrs) == 1
    k0 = min(n_parts(case.atoms, case.band), len(nbrs))
    counts = [k for k in (k0, k0 - 1, k0 + 1) if 1 <= k <= len(nbrs)]
    t0 = time.perf_counter()
    for r in range(limit):
        k = counts[r % len(counts)]
        if k == 1:
            parts = np.zeros(len(nbrs), dtype=np.int64)
        else:
            _, parts = pymetis.part_graph(k, adjacency=nbrs, vweights=weights,
                                          options=pymetis.Options(seed=r, contig=contig))
        parts = np.asarray(parts)
        held = np.bincount(parts, weights=households, minlength=k)
        banded = np.bincount(parts, weights=not_site, minlength=k) > 0  # as evaluate: site-only parts are not
        if sum(case.band.violation(int(h)) for h in held[banded]) <= violation:
            return r + 1, time.perf_counter() - t0
    return None, time.perf_counter() - t0


# -- rebalance -----------------------------------------------------------------------------------------------


def _moved(atoms: pd.DataFrame, before: pd.Series, after: pd.Series) -> int:
    """Households in atoms whose grid changed, after matching the new grids to the old ones at best.

    Re-dividing numbers its grids afresh, so labels are matched first (the assignment keeping the
    most households in place, scipy's ``linear_sum_assignment``); rebalance keeps labels, so the
    matching is the identity there.
    """
    from scipy.optimize import linear_sum_assignment

    hh = atoms.set_index("atom_id")["households"]
    table = pd.crosstab(before, after, values=hh.reindex(before.index), aggfunc="sum").fillna(0)
    rows, cols = linear_sum_assignment(-table.to_numpy())
    mapping = {table.columns[c]: table.index[r] for r, c in zip(rows, cols, strict=True)}
    matched = after.map(lambda g: mapping.get(g, -1 - g))
    return int(hh[matched.reindex(hh.index) != before.reindex(hh.index)].sum())


def rebalance_benchmark(case) -> dict:
    """Raise a few buildings of ``case`` by 30 %, then rebalance and re-divide; households moved by each.

    The buildings raised are the largest ones of the grids already nearest the band maximum, so that
    some grids leave the band. The smallest in-band grid that none of them is in is locked.
    """
    from gis.partition import PartitionSettings, divide
    from gis.rebalance import rebalance

    settings = PartitionSettings(band=case.band, seed=0)
    division = divide(case.atoms, case.edges, settings)
    before = division.labels
    exclusive = set(division.grids.loc[division.grids["kind"] == "exclusive", "label"].astype(int))
    buildings = case.buildings.assign(atom=case.layer.building_atom.reindex(case.buildings.index).to_numpy())
    buildings["grid"] = buildings["atom"].map(before)
    fullest = _grid_households(case.atoms, before, exclusive).sort_values(ascending=False).index[:3].tolist()
    raised = []
    for grid in fullest:
        mine = buildings[buildings["grid"] == grid].sort_values("households", ascending=False)
        raised += mine.index[: REBALANCE_BUILDINGS // 3].tolist()
    extra = np.ceil(buildings.loc[raised, "households"] * REBALANCE_GROWTH).astype(int)
    added = extra.groupby(buildings.loc[raised, "atom"]).sum()
    atoms = case.atoms.assign(households=case.atoms["households"]
                              + case.atoms["atom_id"].map(added).fillna(0).astype(int))
    changed = _grid_households(atoms, before, exclusive)
    # Locked: the smallest grid still in the band that no raised building is in.
    calm = changed.drop(index=fullest)
    locked = int(calm[[case.band.contains(int(h)) for h in calm]].idxmin())
    t0 = time.perf_counter()
    # As the editor's rebalance does: exclusive grids are locked too (they are outside the band).
    result = rebalance(atoms, case.edges, before, case.band, locked_grids={locked} | exclusive)
    rebalance_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh = divide(atoms, case.edges, settings).labels
    redivide_s = time.perf_counter() - t0
    locked_atoms = before[before == locked].index

    def out_of_band(hh: pd.Series) -> list[int]:
        return [int(g) for g, h in hh.items() if not case.band.contains(int(h))]

    return {"case": case.name, "buildings_raised": len(raised), "households_added": int(extra.sum()),
            "grids": int(before.nunique()), "locked_grid": locked,
            "out_of_band_before": out_of_band(_grid_households(case.atoms, before, exclusive)),
            "out_of_band_after_change": out_of_band(changed),
            "out_of_band_after_rebalance": out_of_band(_grid_households(atoms, result.labels, exclusive)),
            "locked_unchanged": bool((result.labels.reindex(locked_atoms) == locked).all()
                                     and (result.labels == locked).sum() == len(locked_atoms)),
            "moved_rebalance": int(result.households_moved), "moved_redivide": _moved(atoms, before, fresh),
            "rebalance_s": rebalance_s, "redivide_s": redivide_s,
            "findings": [f.message for f in result.findings]}


def _grid_households(atoms: pd.DataFrame, labels: pd.Series, exclusive: set[int]) -> pd.Series:
    """Households per comprehensive grid."""
    hh = atoms.assign(grid=atoms["atom_id"].map(labels)).groupby("grid")["households"].sum()
    return hh.drop(index=[g for g in exclusive if g in hh.index])


# -- report --------------------------------------------------------------------------------------------------


def run(repeat: int = 3, quick: bool = False, cases: list | None = None) -> dict:
    """Every figure of this benchmark as plain data (what ``run_all.py`` renders)."""
    from benchmarks.cases import demo_cases

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        paths = write_inputs(folder, quick=quick)
        rows = speed(paths, folder, repeat)
        from benchmarks.cases import old_town_case

        town = old_town_case(paths["old town (generated)"])
    cases = list(cases if cases is not None else demo_cases()) + [town]
    metis = partition_against_metis([c for c in cases if not c.scale], repeat)
    rebalance_case = next(c for c in cases if c.code == REBALANCE_CODE) if any(
        c.code == REBALANCE_CODE for c in cases) else demo_cases([REBALANCE_CODE])[0]
    return {"speed": [row.__dict__ for row in rows], "metis": metis, "rebalance": rebalance_benchmark(rebalance_case)}


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def engine_seconds(row: dict) -> float:
    """Seconds of one input's run from read to write (see :data:`ENGINE_STAGES`)."""
    return sum(row["stages"].get(s, 0.0) for s in ENGINE_STAGES)


def render(figures: dict) -> list[str]:
    """Markdown lines for the engine's speed, the METIS ratio and the rebalance."""
    out = ["## Engine speed (`wangge divide-file`, end to end)", "",
           "Wall time of the whole `wangge divide-file IN.gpkg OUT.gpkg` process (interpreter start included; "
           "median of the runs), its CPU time (user + system: what the run itself used, which the load other "
           "work puts on a shared machine inflates far less than the wall time), and the same run split by stage "
           f"(wall time) in a separate process. Targets: under {OLD_TOWN_TARGET_S:g} s for the old town, under "
           f"{COMMUNITY_TARGET_S:g} s for each community. `engine s` is the sum of the stages from read to "
           "write: what a warm process (a Dask worker dividing a province) pays per community; interpreter start "
           "and imports (geopandas, pandas, pyproj, shapely: about 0.45 s) are paid once per process. "
           f"Load average when this ran: {_load()}.", ""]
    header = ["input", "buildings", "households", "end to end s", "CPU s", "target s", "met", "engine s",
              "engine met", *[f"{s} s" for s in STAGES]]
    lines = ["| " + " | ".join(header) + " |", "|:--|" + "--:|" * (len(header) - 1)]
    for row in figures["speed"]:
        cells = [row["name"], str(row["buildings"]), f"{row['households']:,}", f"{row['end_to_end']:.2f}",
                 f"{row['cpu']:.2f}", f"{row['target']:g}", "yes" if row["end_to_end"] < row["target"] else "**no**",
                 f"{engine_seconds(row):.2f}", "yes" if engine_seconds(row) < row["target"] else "**no**",
                 *[f"{row['stages'].get(s, 0.0):.2f}" for s in STAGES]]
        lines.append("| " + " | ".join(cells) + " |")
    out += lines
    out += ["", "### Partition step against pymetis (same atoms, median seconds)", "",
            "`restarts to wangge's band`: seeded pymetis restarts (its grid count and the counts either side, "
            f"in turn; at most {METIS_RESTART_LIMIT:,}) until one leaves no more households outside the band "
            "than wangge, and their seconds.", "",
            "| case | atoms | wangge s | pymetis s | ratio | hh outside (wangge) | pymetis restarts to wangge's band "
            "| their s | wangge faster |", "|:--|--:|--:|--:|--:|--:|--:|--:|:--|"]
    for r in figures["metis"]:
        ratio = r["wangge"] / max(r["metis"], 1e-4)
        restarts = f"{r['restarts']:,}" if r["restarts"] is not None else f"none of {METIS_RESTART_LIMIT:,}"
        faster = r["restarts"] is None or r["wangge"] <= r["restart_s"]
        out.append(f"| {r['case']} | {r['atoms']} | {r['wangge']:.3f} | {r['metis']:.4f} | {ratio:.0f}× | "
                   f"{r['violation']} | {restarts} | {r['restart_s']:.3f} | {'yes' if faster else '**no**'} |")
    total_w = sum(r["wangge"] for r in figures["metis"])
    total_m = sum(r["metis"] for r in figures["metis"])
    slower = [r["case"] for r in figures["metis"] if r["restarts"] is not None and r["wangge"] > r["restart_s"]]
    out += ["", f"Over all cases: wangge {total_w:.2f} s, pymetis {total_m:.3f} s, "
            f"{total_w / max(total_m, 1e-4):.0f}× (target {METIS_RATIO_TARGET:g}×). pymetis here is one k-way "
            "call without the band; wangge's time is the METIS starts it needs plus the local search that puts "
            "grids in the band. Against the pymetis restarts that reach the same band: wangge is "
            + (("slower on every case" if len(slower) == len(figures["metis"]) else f"slower on {', '.join(slower)}")
               + " (what wangge adds in that time is the boundary on barriers and the shape, in the per-case table)."
               if slower else "never slower."), ""]
    r = figures["rebalance"]
    out += ["## Rebalance after a population change", "",
            f"{r['case']}: the {r['buildings_raised']} largest buildings of the 3 fullest grids get "
            f"{REBALANCE_GROWTH:.0%} more households ({r['households_added']} in all); grid {r['locked_grid']} "
            "is locked. Households moved = households in atoms whose grid changed (re-dividing is matched to "
            "the old grids first, so renumbering is not counted).", "",
            "| | households moved | seconds | grids out of band |", "|:--|--:|--:|:--|",
            f"| the division before | – | – | {', '.join(map(str, r['out_of_band_before'])) or 'none'} |",
            f"| after the change | – | – | {', '.join(map(str, r['out_of_band_after_change'])) or 'none'} |",
            f"| rebalance | {r['moved_rebalance']:,} | {r['rebalance_s']:.2f} | "
            f"{', '.join(map(str, r['out_of_band_after_rebalance'])) or 'none'} |",
            f"| re-divide from scratch | {r['moved_redivide']:,} | {r['redivide_s']:.2f} | – |", "",
            f"Locked grid unchanged: {'yes' if r['locked_unchanged'] else '**no**'}."]
    if r["findings"]:
        out += ["", "Rebalance findings: " + "; ".join(r["findings"])]
    return out + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per input (median)")
    parser.add_argument("--quick", action="store_true", help="two demo communities instead of twelve")
    parser.add_argument("--json", help="also write the raw figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("gis").setLevel(logging.WARNING)
    figures = run(args.repeat, args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=float), encoding="utf-8")
    sys.stdout.write("\n".join(render(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
