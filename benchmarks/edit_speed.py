"""Timing of the map editor's core (gis.edits + gis.checks) on a synthetic 2,000-atom community.

Run: ``.venv/bin/python benchmarks/edit_speed.py [--runs 50]``. Builds a 40 x 50 box-grid community
(roads every 5 columns and 6 rows, 20,000 households), divides it once with the engine, then times
each edit operation on 50 different valid inputs, alone and followed by :func:`gis.checks.live_checks`
(the editor's round trip without DB I/O), and prints a markdown table of median and p95 milliseconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from atomfixtures import box_atoms  # noqa: E402

from gis.checks import live_checks  # noqa: E402
from gis.edits import (  # noqa: E402
    Assignment,
    EditContext,
    EditResult,
    delete_grid,
    merge,
    move_boundary,
    new_grid,
    paint,
    split_by_line,
)
from gis.errors import InputError  # noqa: E402
from gis.partition import Band, PartitionSettings, divide  # noqa: E402

BAND = Band.urban()


def synthetic(nrows: int = 40, ncols: int = 50, households: int = 20_000, seed: int = 1):
    """A box-grid community with roads every 5 columns and 6 rows and uneven households."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.8, 1.0, nrows * ncols)
    hh = np.floor(weights / weights.sum() * households).astype(int)
    hh[: households - hh.sum()] += 1
    return box_atoms(nrows, ncols, hh, cell=40.0,
                     barriers=lambda p, q: (p[1] % 5 == 4 and q[1] % 5 == 0) or (p[0] % 6 == 5 and q[0] % 6 == 0))


def cases(ctx: EditContext, asg: Assignment, runs: int, seed: int = 0) -> dict[str, list[Callable[[], EditResult]]]:
    """``runs`` valid calls of each operation (inputs tried at random until the edit is accepted)."""
    rng = np.random.default_rng(seed)
    lab = asg.labels
    ea, eb = ctx.edge_a, ctx.edge_b
    cross = np.flatnonzero(lab[ea] != lab[eb])
    nbrs: list[list[int]] = [[] for _ in range(ctx.n)]
    for a, b in zip(ea.tolist(), eb.tolist(), strict=True):
        nbrs[a].append(b)
        nbrs[b].append(a)
    ids = ctx.atom_ids

    def boundary_pair() -> tuple[int, int]:
        e = int(rng.choice(cross))
        return (int(ea[e]), int(eb[e])) if rng.random() < 0.5 else (int(eb[e]), int(ea[e]))

    def click() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        return lambda: paint(ctx, asg, [int(ids[v])], int(lab[u]))

    def brush() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        picked = [v] + [w for w in nbrs[v] if lab[w] == lab[v]][:3]
        return lambda: paint(ctx, asg, ids[picked].tolist(), int(lab[u]))

    def lasso_new() -> Callable[[], EditResult]:
        v = int(rng.integers(ctx.n))
        picked = [v] + [w for w in nbrs[v] if lab[w] == lab[v]]
        return lambda: new_grid(ctx, asg, ids[picked].tolist())

    def split() -> Callable[[], EditResult]:
        g = int(rng.choice(asg.grids))
        m = np.flatnonzero(lab == g)
        b = ctx.bounds[m]
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        t = rng.uniform(0.3, 0.7)
        if rng.random() < 0.5:
            y = y0 + t * (y1 - y0) + 7.0
            line = shapely.LineString([(x0 - 5, y), (x1 + 5, y + 3)])
        else:
            x = x0 + t * (x1 - x0) + 7.0
            line = shapely.LineString([(x, y0 - 5), (x + 3, y1 + 5)])
        return lambda: split_by_line(ctx, asg, g, line)

    def merge_pair() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        return lambda: merge(ctx, asg, int(lab[u]), int(lab[v]))

    def delete() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        return lambda: delete_grid(ctx, asg, int(lab[v]), int(lab[u]))

    def drag_polygon() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        x, y = ctx.rep_x[v], ctx.rep_y[v]
        swept = shapely.box(x - 25, y - 25, x + 25, y + 25)
        return lambda: move_boundary(ctx, asg, int(lab[u]), int(lab[v]), swept)

    def drag_line() -> Callable[[], EditResult]:
        v, u = boundary_pair()
        a, b = int(lab[u]), int(lab[v])
        m = np.flatnonzero((lab == a) | (lab == b))
        # The old boundary is straight on a box grid; the new one runs through v, parallel to it.
        x, y = ctx.rep_x[v], ctx.rep_y[v]
        bb = ctx.bounds[m]
        if abs(ctx.rep_x[u] - x) > abs(ctx.rep_y[u] - y):
            line = shapely.LineString([(x + 1, bb[:, 1].min() - 5), (x + 1, bb[:, 3].max() + 5)])
        else:
            line = shapely.LineString([(bb[:, 0].min() - 5, y + 1), (bb[:, 2].max() + 5, y + 1)])
        return lambda: move_boundary(ctx, asg, a, b, line)

    makers = {"paint (click, 1 atom)": click, "paint (brush, 4 atoms)": brush, "new_grid (lasso)": lasso_new,
              "split_by_line": split, "merge": merge_pair, "delete_grid": delete,
              "move_boundary (swept polygon)": drag_polygon, "move_boundary (new line)": drag_line}
    out: dict[str, list[Callable[[], EditResult]]] = {}
    for name, make in makers.items():
        found: list[Callable[[], EditResult]] = []
        for _ in range(200 * runs):
            call = make()
            try:
                result = call()
            except InputError:
                continue
            if result.change.atoms_moved:
                found.append(call)
                if len(found) == runs:
                    break
        out[name] = found
    return out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    atoms, edges = synthetic()
    t0 = time.perf_counter()
    division = divide(atoms, edges, PartitionSettings(band=BAND, seed=0))
    t_divide = time.perf_counter() - t0
    t0 = time.perf_counter()
    ctx = EditContext.build(atoms, edges)
    t_ctx = (time.perf_counter() - t0) * 1000.0
    asg = Assignment.from_division(ctx, division)
    print(f"{ctx.n} atoms, {len(edges)} edges, {int(ctx.households.sum())} households, {len(asg.grids)} grids "
          f"(divide {t_divide:.1f} s); EditContext.build {t_ctx:.1f} ms; assignment {asg.labels.nbytes} bytes\n")
    rows = []
    checks = [timed(lambda: live_checks(ctx, asg, BAND)) for _ in range(args.runs)]
    rows.append(("live_checks", args.runs, checks, checks))
    for name, calls in cases(ctx, asg, args.runs).items():
        alone, trip = [], []
        for call in calls:
            alone.append(timed(call))

            def round_trip(call: Callable[[], EditResult] = call) -> None:
                live_checks(ctx, call().assignment, BAND)

            trip.append(timed(round_trip))
        rows.append((name, len(calls), alone, trip))
    print("| operation | runs | median ms | p95 ms | + live_checks median ms | + live_checks p95 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, alone, trip in rows:
        if not n:
            print(f"| {name} | 0 | - | - | - | - |")
            continue
        a, t = np.asarray(alone), np.asarray(trip)
        print(f"| {name} | {n} | {np.median(a):.1f} | {np.percentile(a, 95):.1f} | {np.median(t):.1f} | "
              f"{np.percentile(t, 95):.1f} |")


if __name__ == "__main__":
    main()
