"""Benchmark wangge's engine against anchor methods on the same atoms; write docs/benchmarks.md.

Run: ``.venv/bin/python benchmarks/run_all.py [--quick] [--out docs/benchmarks.md]`` (``make bench``).

It also runs :mod:`benchmarks.engine_speed` (``wangge divide-file`` end to end and per stage on a generated
old town, every demo community and Bubeneč; the partition against pymetis; rebalance against re-dividing),
prints wangge's figures per case against the report it replaces, and carries that report's history table
forward with one row more.

Every case (each demo-county community, and Prague Bubeneč from momepy's sample data) is turned into
atoms once, exactly as :func:`gis.pipeline.divide_community` does; then each method
(:data:`benchmarks.anchors.METHODS`) divides those atoms in a child process under a wall-clock cap,
and :func:`benchmarks.metrics.evaluate` scores every result the same way. The markdown table goes to
``--out`` and to stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import anchors, engine_speed  # noqa: E402
from benchmarks.cases import (  # noqa: E402
    BUBENEC_BUFFER_M,
    BUBENEC_STOREYS,
    M2_PER_HOUSEHOLD,
    Case,
    bubenec_case,
    demo_cases,
    street_case,
)
from benchmarks.metrics import evaluate  # noqa: E402

log = logging.getLogger("benchmarks")

ROOT = Path(__file__).resolve().parents[1]
#: Communities of the quick run: one urban, one rural (plus Bubeneč).
QUICK_CODES = ["320499001001", "320499101201"]
#: Methods skipped by ``--quick``: MaxP alone takes longer than all the others together.
QUICK_SKIP = {"maxp"}

METRIC_COLUMNS = ["n_grids", "in_band", "min_hh", "max_hh", "violation", "contiguous", "gap_m2", "overlap_m2",
                  "buildings_split", "mean_pp", "barrier_share", "off_barrier_m", "seconds"]


@dataclass
class Outcome:
    """One method on one case: its scores, or why there are none."""

    case: str
    method: str
    status: str  # 'ok' | 'timed out' | 'failed' | 'skipped'
    metrics: dict = field(default_factory=dict)
    note: str = ""


def _child(method_name: str, case: Case, steps: int, conn) -> None:
    """Run one method in a child process and send back ``(labels dict, seconds)`` or an error."""
    import gerrychain  # noqa: F401  (its import resets the warning filters, so it goes first)

    warnings.simplefilter("ignore")  # gerrychain and spopt warn on every retry; the parent logs results
    try:
        fn = anchors.METHODS[method_name]
        if method_name == "gerrychain":
            fn = partial(fn, steps=steps)
        t0 = time.perf_counter()
        labels = fn(case.atoms, case.edges, case.band)
        seconds = time.perf_counter() - t0
        conn.send(("ok", {int(k): int(v) for k, v in labels.items()}, seconds))
    except Exception as exc:  # any failure of an anchor is a result to report, not a crash
        conn.send(("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


def run_method(method_name: str, case: Case, *, timeout: float, steps: int) -> Outcome:
    """Run one method on one case in a forked child, killing it after ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(method_name, case, steps, child), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    child.close()
    message = None
    ready = parent.poll(timeout)  # True on a message and on EOF (the child died without sending)
    if ready:
        try:
            message = parent.recv()
        except EOFError:
            message = None
    elapsed = time.perf_counter() - t0
    if not ready:
        proc.kill()
        proc.join()
        log.warning("%s on %s: timed out after %.0f s", method_name, case.name, timeout)
        return Outcome(case.name, method_name, "timed out", {"seconds": elapsed}, f"> {timeout:.0f} s")
    proc.join()
    if message is None:
        return Outcome(case.name, method_name, "failed", note=f"child exited with code {proc.exitcode}")
    if message[0] == "failed":
        log.warning("%s on %s failed: %s", method_name, case.name, message[1])
        log.debug("%s", message[2])
        return Outcome(case.name, method_name, "failed", note=message[1])
    _, labels, seconds = message
    labels = pd.Series(labels, name="grid").rename_axis("atom_id")
    metrics = evaluate(case.atoms, case.edges, labels, case.band, case.buildings)
    metrics["seconds"] = seconds
    return Outcome(case.name, method_name, "ok", metrics)


# -- formatting -------------------------------------------------------------------------------------

def _fmt(column: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if column in ("in_band", "contiguous", "barrier_share"):
        return f"{value:.0%}"
    if column in ("gap_m2", "overlap_m2"):
        return f"{value:.1f}"
    if column == "mean_pp":
        return f"{value:.2f}"
    if column == "seconds":
        return f"{value:.2f}" if value < 10 else f"{value:.0f}"
    if column == "off_barrier_m":
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


HEADERS = {"n_grids": "grids", "in_band": "in band", "min_hh": "min hh", "max_hh": "max hh",
           "violation": "hh outside band", "contiguous": "contiguous", "gap_m2": "gap m²", "overlap_m2": "overlap m²",
           "buildings_split": "bldgs split", "mean_pp": "mean PP", "barrier_share": "cut on barriers",
           "off_barrier_m": "cut off barriers m", "seconds": "seconds"}


def _table(rows: list[list[str]], header: list[str], align_left: int = 1) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":--" if i < align_left else "--:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def aggregate(outcomes: list[Outcome], methods: list[str]) -> pd.DataFrame:
    """Mean of each metric over the cases a method finished, per method (plus finished/total counts)."""
    rows = []
    for m in methods:
        mine = [o for o in outcomes if o.method == m and o.status != "skipped"]
        if not mine:
            continue
        done = [o.metrics for o in mine if o.status == "ok"]
        frame = pd.DataFrame(done, columns=METRIC_COLUMNS) if done else pd.DataFrame(columns=METRIC_COLUMNS)
        row = {c: float(np.nanmean(frame[c].astype(float))) if len(frame) and frame[c].notna().any() else np.nan
               for c in METRIC_COLUMNS}
        row.update(method=m, finished=len(done), cases=len(mine))
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def _winners(agg: pd.DataFrame) -> list[str]:
    """One line per metric naming the best method(s) by the aggregate, among methods that finished everywhere."""
    full = agg[(agg["finished"] == agg["cases"]) & (agg["cases"] > 0)]
    better = {"in_band": max, "violation": min, "contiguous": max, "mean_pp": max, "barrier_share": max,
              "off_barrier_m": min, "seconds": min, "buildings_split": min, "gap_m2": min, "overlap_m2": min}
    lines = []
    for col, pick in better.items():
        values = full[col].dropna()
        if values.empty:
            continue
        best = pick(values)
        who = [m for m, v in values.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=1e-9)]
        runner = values.drop(who)
        tail = ""
        if len(runner):
            second = pick(runner)
            tail = f" (next: {', '.join(m for m, v in runner.items() if v == second)} {_fmt(col, second)})"
        tie = " (tie)" if len(who) > 1 else ""
        lines.append(f"- **{HEADERS[col]}**: {', '.join(who)}{tie} {_fmt(col, best)}{tail}")
    return lines


def _beats_wangge(outcomes: list[Outcome]) -> dict[str, list[str]]:
    """Cases where an anchor did strictly better than wangge, by kind of comparison.

    ``band``: fewer households outside the band, all grids contiguous. ``barriers``: fewer metres of
    grid boundary off barriers *and* no more households outside the band (a plan that ignores the
    band can always cut along roads). ``shape``: higher mean Polsby-Popper, no more households
    outside the band.
    """
    by = {(o.case, o.method): o for o in outcomes if o.status == "ok"}
    found: dict[str, list[str]] = {"band": [], "barriers": [], "shape": []}
    for (case, method), o in by.items():
        w = by.get((case, "wangge"))
        if method == "wangge" or w is None:
            continue
        wm, am = w.metrics, o.metrics
        if am["violation"] < wm["violation"] and am["contiguous"] >= 1.0:
            found["band"].append(
                f"- {case}: **{method}** leaves {am['violation']} households outside the band "
                f"({_fmt('in_band', am['in_band'])} of grids in band, {am['n_grids']} grids) against "
                f"wangge's {wm['violation']} ({_fmt('in_band', wm['in_band'])}, {wm['n_grids']} grids).")
        if am["violation"] <= wm["violation"] and am["contiguous"] >= 1.0:
            if am["off_barrier_m"] < wm["off_barrier_m"] - 1.0:
                found["barriers"].append(
                    f"- {case}: **{method}** {_fmt('off_barrier_m', am['off_barrier_m'])} m of boundary off "
                    f"barriers ({_fmt('barrier_share', am['barrier_share'])} on barriers) against wangge's "
                    f"{_fmt('off_barrier_m', wm['off_barrier_m'])} m ({_fmt('barrier_share', wm['barrier_share'])}), "
                    f"with {am['violation']} vs {wm['violation']} households outside the band.")
            if am["mean_pp"] > wm["mean_pp"] + 0.005:
                found["shape"].append(
                    f"- {case}: **{method}** mean PP {_fmt('mean_pp', am['mean_pp'])} against wangge's "
                    f"{_fmt('mean_pp', wm['mean_pp'])}, with {am['violation']} vs {wm['violation']} households "
                    "outside the band.")
    return {k: sorted(v) for k, v in found.items()}


def _summary(agg: pd.DataFrame) -> list[str]:
    """A few sentences on who wins what, composed from the aggregate so they stay true on a re-run."""
    if "wangge" not in agg.index or len(agg) < 2:
        return []
    full = agg[(agg["finished"] == agg["cases"]) & (agg["cases"] > 0)]
    w = agg.loc["wangge"]
    others = full.drop(index="wangge", errors="ignore")
    lines = []

    def best(col: str, pick) -> tuple[str, float]:
        values = others[col].dropna()
        value = pick(values)
        return ", ".join(m for m, v in values.items() if v == value), value

    name, value = best("violation", min)
    verdict = ("fewer households outside the band than any anchor" if w["violation"] < value - 1e-9 else
               "as few households outside the band as the best anchor" if w["violation"] <= value + 1e-9 else
               "more households outside the band than the best anchor")
    lines.append(f"On the household band, wangge leaves {verdict} that finished every case "
                 f"({w['violation']:.1f} per case on average against {value:.1f} for {name}), with "
                 f"{_fmt('in_band', w['in_band'])} of its comprehensive grids in band.")
    name, value = best("mean_pp", max)
    cmp = "ahead of" if w["mean_pp"] > value else "behind" if w["mean_pp"] < value else "level with"
    # What holds wangge's mean down, named whichever way the comparison goes (the rural cases are at the best
    # mean any contiguous in-band split of their atoms reaches: checked by enumerating every split).
    lines.append(f"On compactness wangge is {cmp} the most compact anchor (mean Polsby-Popper "
                 f"{w['mean_pp']:.3f} against {value:.3f} for {name}; what holds wangge's mean down is the notch "
                 "or hole each exclusive site leaves in its grids, which the anchors simply absorb, and the thin "
                 "street-frontage atom round a block of walled compounds, which one grid must take whole).")
    name, value = best("barrier_share", max)
    cmp = "ahead of" if w["barrier_share"] > value else "behind" if w["barrier_share"] < value else "level with"
    lines.append(f"On following roads and rivers it is {cmp} the best anchor "
                 f"({w['barrier_share']:.1%} of grid boundaries on barriers against {value:.1%} for {name}); the "
                 "cases where an anchor cuts less off barriers without leaving more households outside the band "
                 "are listed below.")
    name, value = best("seconds", min)
    slow = agg.loc[agg["seconds"].idxmax()]
    unfinished = int(slow["cases"] - slow["finished"])
    lines.append(f"Fastest is {name} ({_fmt('seconds', value)} s per case on average); wangge takes "
                 f"{_fmt('seconds', w['seconds'])} s; the slowest, {slow.name}, {_fmt('seconds', slow['seconds'])} s"
                 + (f" and it did not finish {unfinished} case(s)." if unfinished else "."))
    lines.append("Gaps, overlaps and split buildings are zero for every method: all of them assign whole atoms.")
    return lines


# -- the previous run: before/after per case, and the history of the engine's figures ---------------------

COMPARED = {"in band": "in_band", "hh outside band": "violation", "contiguous": "contiguous", "mean PP": "mean_pp",
            "cut on barriers": "barrier_share"}
#: Whether a higher value is better, per compared column.
HIGHER_BETTER = {"in band": True, "hh outside band": False, "contiguous": True, "mean PP": True,
                 "cut on barriers": True}
HISTORY_HEADER = ["run (UTC)", "commit", "command", "old town end to end s", "slowest community end to end s",
                  "old town imports / atoms / partition / micro / write s", "partition ÷ pymetis",
                  "mean PP", "in band", "cut on barriers", "slowest community engine s"]


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """Cells of the first markdown table under ``heading`` in ``text`` (header and rule left out)."""
    if heading not in text:
        return []
    rows = []
    for line in text.split(heading, 1)[1].splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not line.startswith("|:") and not line.startswith("|-"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]


def previous_run(path: Path) -> tuple[dict[str, dict[str, str]], list[list[str]]]:
    """wangge's per-case figures and the history rows of the report at ``path`` (empty when none)."""
    if not path.exists():
        return {}, []
    text = path.read_text(encoding="utf-8")
    header = ["case", "method"] + [HEADERS[c] for c in METRIC_COLUMNS]
    per_case = {}
    for cells in _table_rows(text, "## Per case"):
        if len(cells) == len(header) and cells[1] == "wangge":
            per_case[cells[0]] = dict(zip(header, cells, strict=True))
    return per_case, _table_rows(text, "## History")


def _number(cell: str) -> float:
    cell = cell.replace(",", "").strip()
    if cell in ("", "–"):
        return math.nan
    return float(cell[:-1]) / 100 if cell.endswith("%") else float(cell)


def before_after(outcomes: list[Outcome], previous: dict[str, dict[str, str]]) -> list[str]:
    """wangge per case: the previous report's figures against this run's, and whether any went down."""
    rows, worse = [], []
    for o in outcomes:
        if o.method != "wangge" or o.status != "ok" or o.case not in previous:
            continue
        cells = [o.case]
        for label, column in COMPARED.items():
            old, new = previous[o.case][label], _fmt(column, o.metrics[column])
            cells.append(f"{old} → {new}" if old != new else new)
            a, b = _number(old), _number(new)
            if not (math.isnan(a) or math.isnan(b)) and ((b < a) if HIGHER_BETTER[label] else (b > a)):
                worse.append(f"{o.case} {label}")
        rows.append(cells)
    if not rows:
        return []
    out = ["## wangge against the previous report", "",
           "Each figure as the previous `docs/benchmarks.md` had it → as this run has it (one value when unchanged).",
           "", _table(rows, ["case", *COMPARED], align_left=1), ""]
    out.append("Worse than before: " + ", ".join(worse) + "." if worse else "No figure went down on any case.")
    return out + [""]


def history(previous_rows: list[list[str]], figures: dict, agg: pd.DataFrame, command: str) -> list[str]:
    """The history table: earlier runs' rows and this run's."""
    speed = {row["name"]: row for row in figures["speed"]}
    town = speed.get("old town (generated)")
    communities = [row["end_to_end"] for name, row in speed.items() if name != "old town (generated)"]
    engines = [engine_speed.engine_seconds(row) for name, row in speed.items() if name != "old town (generated)"]
    ratio = sum(r["wangge"] for r in figures["metis"]) / max(sum(r["metis"] for r in figures["metis"]), 1e-4)
    stages = " / ".join(f"{town['stages'].get(s, 0.0):.2f}" for s in ("imports", "atoms", "partition", "micro",
                                                                    "write")) if town else "–"
    w = agg.loc["wangge"] if "wangge" in agg.index else None
    row = [dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"), _commit(), f"`{command}`",
           f"{town['end_to_end']:.2f}" if town else "–", f"{max(communities):.2f}" if communities else "–",
           stages, f"{ratio:.0f}×", f"{w['mean_pp']:.3f}" if w is not None else "–",
           _fmt("in_band", w["in_band"]) if w is not None else "–",
           _fmt("barrier_share", w["barrier_share"]) if w is not None else "–",
           f"{max(engines):.2f}" if engines else "–"]
    previous_rows = [r + ["–"] * (len(HISTORY_HEADER) - len(r)) for r in previous_rows]  # columns added later
    return ["## History", "", "One row per run of this benchmark, oldest first (kept from the previous report).", "",
            _table([*previous_rows, row], HISTORY_HEADER, align_left=3), ""]


def _commit() -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "–"


def render(outcomes: list[Outcome], cases: list[Case], methods: list[str], *, quick: bool, timeout: float,
           steps: int, runtime: float, command: str, figures: dict | None = None,
           previous: tuple[dict, list] = ({}, [])) -> str:
    scale = {c.name for c in cases if c.scale}
    agg = aggregate([o for o in outcomes if o.case not in scale], methods)
    versions = []
    for pkg in ("shapely", "geopandas", "spopt", "pymetis", "gerrychain", "momepy", "libpysal"):
        try:
            versions.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    out = [
        "# Benchmarks: wangge against anchor methods",
        "",
        "Generated by `benchmarks/run_all.py`; do not edit by hand (re-run it instead).",
        "",
        f"- Command: `{command}`{' (quick mode: fewer cases, MaxP skipped, short chain)' if quick else ''}",
        f"- Machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
        f"run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; total runtime {runtime:.0f} s.",
        f"- Packages: {', '.join(versions)}.",
        f"- Each method runs alone in a child process, capped at {timeout:.0f} s per case; `seconds` is the "
        "method's own wall-clock time (atoms and scoring excluded).",
        "",
        "## Aggregate (mean over the cases each method finished)",
        "",
        f"Over the {sum(not c.scale for c in cases)} community cases"
        + (f"; the scale case ({', '.join(sorted(scale))}) is only in the per-case table." if scale else "."),
        "",
    ]
    cols = ["in_band", "violation", "min_hh", "max_hh", "contiguous", "gap_m2", "overlap_m2", "buildings_split",
            "mean_pp", "barrier_share", "off_barrier_m", "seconds"]
    rows = []
    for m, r in agg.iterrows():
        rows.append([m, f"{int(r['finished'])}/{int(r['cases'])}"] + [_fmt(c, r[c]) for c in cols])
    out.append(_table(rows, ["method", "finished"] + [HEADERS[c] for c in cols], align_left=1))
    skipped = sorted({o.method for o in outcomes if o.status == "skipped"})
    if skipped:
        out += ["", f"Skipped in this run: {', '.join(skipped)}."]
    out += ["", "Best by aggregate (methods that finished every case):", ""] + _winners(agg)
    summary = _summary(agg)
    if summary:
        at = out.index("## Aggregate (mean over the cases each method finished)")
        out[at:at] = ["## Summary", "", " ".join(summary), ""]
    beats = _beats_wangge(outcomes)
    out += ["", "### Where an anchor beats wangge", "",
            "Fewer households outside the band (all grids contiguous):", ""]
    out += beats["band"] or ["- none"]
    out += ["", "Less grid boundary off barriers, with no more households outside the band:", ""]
    out += beats["barriers"] or ["- none"]
    out += ["", "More compact (mean Polsby-Popper), with no more households outside the band:", ""]
    out += beats["shape"] or ["- none"]
    if figures:
        out += ["", *engine_speed.render(figures)]
    out += ["", *before_after(outcomes, previous[0])]
    if figures:
        out += history(previous[1], figures, agg, command)
    out += ["## Per case", ""]
    case_cols = ["n_grids", "in_band", "min_hh", "max_hh", "violation", "contiguous", "gap_m2", "overlap_m2",
                 "buildings_split", "mean_pp", "barrier_share", "off_barrier_m", "seconds"]
    rows = []
    for case in cases:
        for m in methods:
            o = next((x for x in outcomes if x.case == case.name and x.method == m), None)
            if o is None:
                continue
            if o.status == "ok":
                rows.append([case.name, m] + [_fmt(c, o.metrics[c]) for c in case_cols])
            else:
                label = o.status + (f" ({o.note})" if o.note else "")
                rows.append([case.name, m, label] + [""] * (len(case_cols) - 1))
    out.append(_table(rows, ["case", "method"] + [HEADERS[c] for c in case_cols], align_left=2))
    out += ["", "## Cases", ""]
    rows = []
    for c in cases:
        rows.append([c.name, c.kind, f"{c.band.min}-{c.band.max} (target {c.band.target})", str(len(c.buildings)),
                     str(len(c.atoms)), str(int(c.atoms["site"].notna().sum())) if "site" in c.atoms else "0",
                     str(int(c.atoms["households"].sum())), str(anchors.n_parts(c.atoms, c.band))])
    out.append(_table(rows, ["case", "kind", "band", "buildings", "atoms", "site atoms", "households", "k"],
                      align_left=3))
    out += ["", _METHOD_NOTES.format(storeys=BUBENEC_STOREYS, m2=M2_PER_HOUSEHOLD, buffer=BUBENEC_BUFFER_M,
                                     steps=steps, timeout=timeout)]
    return "\n".join(out) + "\n"


_METHOD_NOTES = """\
**Demo county**: each community polygon of `data/boundaries/demo/demo_county.gpkg` (layer `areas`,
`level == 'community'`; `kind` urban → band 300-500 target 400, rural → 200-400 target 300), projected
with `gis.crs.metric_crs_for_frame`; buildings by representative point, barriers touching the polygon,
site polygons clipped to it; atoms from `gis.atoms.build_atoms(..., max_atom_households=band.max)` as in
`gis.pipeline.divide_community`.

**Bubeneč (Prague)**: momepy's `datasets/bubenec.gpkg` (144 buildings, 35 street centre lines; no
height or household data), projected to UTM 33N. Households per building = round(footprint m² ×
{storeys} storeys / {m2:.0f} m² per household): the layer has no storeys column, and the district is
mostly 4-6 storey perimeter blocks, so 4 is the conservative guess. Boundary = convex hull of all
buildings buffered by {buffer:.0f} m (the `plots` layer omits the streets and extends far into empty land,
so its union is no usable outline). Barriers = the streets. Band: urban 300-500. With blocks under 500
households every block is one atom, so this case is small (see the cases table).

**Scale case** (full run only, not in the aggregate): the demo county's whole urban street 城关街道
(`320499001000`, the union of the 6 urban communities) as one urban community, to see how the
methods scale to ~400 atoms.

## Methods

All methods get the same atoms and the same adjacency (`edges` of `build_atoms`), with households as
node weights. k = round(total households / band target), at least 1, for the anchors that need a
count; it is not clamped to the counts the band allows (wangge does clamp: a village of 419
households with band 200-400 gets k = 1 for the anchors, so one grid over the maximum, but 2 grids
from wangge).

- **wangge**: `gis.partition.divide(atoms, edges, PartitionSettings(band=band, seed=0))`, defaults otherwise.
- **maxp**: spopt `MaxPHeuristic`, threshold = band minimum on households, standardised atom
  centroids as attributes (so its heterogeneity term rewards compact regions). It maximises the
  number of regions; it has no upper bound. On 320499101206 (9 atoms, 4 of them with households) it
  does not finish even in a standalone 400 s run: it stays in spopt's simulated-annealing loop
  (`spopt.region.maxp._perform_sa`), so the cap reports it as timed out.
- **skater**, **azp**: spopt `Skater` / `AZP` with k regions, standardised centroids as attributes.
  Neither balances households (Skater's `floor` counts areas, not households).
- **metis**: pymetis `part_graph(k, adjacency, vweights=households)` with `contig` when the atom graph
  is connected. Edge weights (shared length) were tried and dropped: on these coarse graphs METIS then
  leaves parts empty (8 of 17 grids on 320499001001).
- **gerrychain**: `recursive_tree_part` into k parts of total/k households within the widest epsilon
  the band allows (widened ×1.5 up to 5 times when the atoms are too coarse), then a ReCom chain of
  {steps} steps with the same epsilon, keeping the best plan by (share of grids in band, metres of cut
  not on barriers).

Slow methods are capped at {timeout:.0f} s per case and reported as "timed out".

## Metrics

One function (`benchmarks/metrics.py: evaluate`) scores every division, through
`gis.quality.division_quality`.

- **Exclusive sites**: wangge makes every site atom (school, market, ...) its own exclusive grid; the
  anchors know nothing of sites. For all methods alike, a grid made only of site atoms is exclusive
  and left out of the band metrics; every other grid is comprehensive. An anchor that folds a site into
  a residential grid is therefore scored on that grid like any other (site atoms hold 0 households in
  the demo data, so this only helps the anchors' contiguity, never their household counts).
- **in band**: share of comprehensive grids with band.min ≤ households ≤ band.max.
  **hh outside band**: households outside the band summed over comprehensive grids.
  **min hh / max hh**: over comprehensive grids.
- **contiguous**: share of grids that are one connected piece in the atom graph.
- **gap m² / overlap m²**: `division_quality` given the dissolved grid polygons: atom area covered by
  no grid / area covered by two or more. Zero for every atom-based method by construction.
- **bldgs split**: buildings whose footprint (inside the community) is not wholly in one grid
  polygon: its representative point in no or several grids, or more than 1 % (and 0.01 m²) of its
  area in another grid. Zero for atom-based methods, since atoms never split buildings; checked anyway.
- **mean PP**: mean Polsby-Popper (4πA/P², `gis.quality.grid_quality`) of the comprehensive grids.
  A site carved out as an exclusive grid leaves a notch or hole in wangge's grid around it, while the
  anchors absorb the site; for a like-for-like view of shape, compare the cases without site atoms
  (cases table). wangge itself minimises a different shape measure (the summed deficit
  P - 2√(πA) in metres), which can disagree with the mean of Polsby-Popper.
- **cut on barriers**: share of the boundary between grids lying on roads/rivers/walls (by length);
  **cut off barriers m**: metres of boundary between grids not on a barrier. Both leave out every
  edge of a site atom, for all methods: an exclusive grid's outline is set by the site, not chosen,
  and counting it would charge wangge for keeping sites apart while the anchors merge them.
- **seconds**: the method's wall-clock time.

## Re-run

```
make bench                                   # full run, writes docs/benchmarks.md
.venv/bin/python benchmarks/run_all.py --quick --out /tmp/bench.md   # ~1 minute smoke run
```
"""


def _shown_options(argv: list[str]) -> list[str]:
    """The options of this run worth printing in the report (where the output goes is left out)."""
    shown, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--out"):
            skip = True
        elif not arg.startswith(("--json=", "--out=")):
            shown.append(arg)
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two demo communities + Bubeneč, MaxP skipped, "
                        "30 s cap, 50 ReCom steps")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="markdown file to write")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per method and case (120; quick 30)")
    parser.add_argument("--steps", type=int, default=None, help=f"ReCom steps ({anchors.RECOM_STEPS}; quick 50)")
    parser.add_argument("--methods", default=",".join(anchors.METHODS), help="comma-separated subset")
    parser.add_argument("--json", help="also write the raw results (one record per case and method) here")
    parser.add_argument("--no-scale", action="store_true", help="leave out the whole-street scale case")
    parser.add_argument("--no-speed", action="store_true", help="leave out the engine-speed and rebalance figures")
    parser.add_argument("--repeat", type=int, default=None, help="end-to-end runs per input, median (3; quick 1)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # The engine logs every step at INFO; the benchmark's own progress is what matters here.
    logging.getLogger("gis").setLevel(logging.WARNING)
    warnings.simplefilter("ignore", FutureWarning)
    timeout = args.timeout or (30.0 if args.quick else 120.0)
    steps = args.steps if args.steps is not None else (50 if args.quick else anchors.RECOM_STEPS)
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(anchors.METHODS)
    if unknown:
        parser.error(f"unknown methods: {', '.join(sorted(unknown))}")

    t0 = time.perf_counter()
    cases = demo_cases(QUICK_CODES if args.quick else None) + [bubenec_case()]
    if not args.quick and not args.no_scale:
        cases.append(street_case())
    log.info("built atoms of %d cases in %.1f s", len(cases), time.perf_counter() - t0)
    outcomes = []
    for case in cases:
        for m in methods:
            if args.quick and m in QUICK_SKIP:
                outcomes.append(Outcome(case.name, m, "skipped", note="--quick"))
                continue
            o = run_method(m, case, timeout=timeout, steps=steps)
            outcomes.append(o)
            if o.status == "ok":
                log.info("%-22s %-10s %5.1f s  in band %.0f%%, %d outside", case.name, m, o.metrics["seconds"],
                         100 * o.metrics["in_band"] if not math.isnan(o.metrics["in_band"]) else float("nan"),
                         o.metrics["violation"])
    figures = None
    if not args.no_speed:
        repeat = args.repeat or (1 if args.quick else 3)
        figures = engine_speed.run(repeat=repeat, quick=args.quick,
                                   cases=[c for c in cases if not c.scale])
    runtime = time.perf_counter() - t0
    command = " ".join(["python benchmarks/run_all.py", *_shown_options(sys.argv[1:] if argv is None else argv)])
    out = Path(args.out)
    text = render(outcomes, cases, methods, quick=args.quick, timeout=timeout, steps=steps, runtime=runtime,
                  command=command, figures=figures, previous=previous_run(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if args.json:
        records = [{"case": o.case, "method": o.method, "status": o.status, "note": o.note, **o.metrics}
                   for o in outcomes]
        Path(args.json).write_text(json.dumps(records, indent=1, default=float), encoding="utf-8")
    sys.stdout.write(text)
    log.info("wrote %s (%.0f s)", out, runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
