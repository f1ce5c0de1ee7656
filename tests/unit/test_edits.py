"""Edit operations of the map editor core (gis.edits) on tiny box grids with exact expected labels.

The 4 x 4 box grid used throughout (cells of 100 m, atom ids row-major, row 0 northernmost)::

     0  1  2  3        x from X0 (west) to X0+400, y from Y0 (south) to Y0+400
     4  5  6  7
     8  9 10 11
    12 13 14 15
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from atomfixtures import box_atoms
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gis.edits import (
    UNASSIGNED,
    Assignment,
    EditContext,
    auto_divide,
    delete_grid,
    merge,
    move_boundary,
    new_grid,
    paint,
    rebalance_unlocked,
    split_by_line,
)
from gis.edits import _neighbours as _neighbours
from gis.errors import InputError
from gis.partition import Band, PartitionSettings

X0, Y0 = 500000.0, 2500000.0
QUADRANTS = [0, 0, 1, 1,
             0, 0, 1, 1,
             2, 2, 3, 3,
             2, 2, 3, 3]
ROWS = [0, 0, 0, 0,
        1, 1, 1, 1,
        2, 2, 2, 2,
        3, 3, 3, 3]


@pytest.fixture(scope="module")
def ctx() -> EditContext:
    atoms, edges = box_atoms(4, 4, 100)
    return EditContext.build(atoms, edges)


def asg(labels: list[int]) -> Assignment:
    return Assignment(np.array(labels))


def grid_of(result) -> list[int]:
    return result.assignment.labels.tolist()


def xy(x: float, y: float) -> tuple[float, float]:
    return (X0 + x, Y0 + y)


# ---- context and assignment -----------------------------------------------------------------------


def test_context_arrays(ctx: EditContext) -> None:
    assert ctx.n == 16 and ctx.atom_ids.tolist() == list(range(16))
    assert len(ctx.edge_a) == 24
    # Corner atoms have 200 m of outer boundary, edge atoms 100 m, inner atoms none.
    assert ctx.outer_length[[0, 1, 5]].tolist() == pytest.approx([200.0, 100.0, 0.0])
    assert (ctx.rep_x[0], ctx.rep_y[0]) == pytest.approx(xy(50, 350))
    assert not ctx.households.flags.writeable


def test_context_validates_like_divide() -> None:
    atoms, edges = box_atoms(2, 2, 100)
    bad = edges.copy()
    bad.loc[0, "b"] = 42
    with pytest.raises(InputError, match="42"):
        EditContext.build(atoms, bad)


def test_assignment_is_compact_read_only_and_round_trips(ctx: EditContext) -> None:
    source = np.array(QUADRANTS)
    a = Assignment(source)
    source[0] = 9  # the assignment holds a copy
    assert a.labels[0] == 0 and a.labels.dtype == np.int32 and a.labels.nbytes == 64
    with pytest.raises(ValueError):
        a.labels[0] = 5
    series = a.to_series(ctx)
    assert series.index.name == "atom_id" and series.tolist() == QUADRANTS
    assert Assignment.from_series(ctx, series) == a
    assert a.grids.tolist() == [0, 1, 2, 3]
    assert hash(a) == hash(Assignment(np.array(QUADRANTS)))


def test_assignment_from_series_errors(ctx: EditContext) -> None:
    series = pd.Series(QUADRANTS, index=range(16))
    with pytest.raises(InputError, match="99"):
        Assignment.from_series(ctx, pd.concat([series, pd.Series([0], index=[99])]))
    with pytest.raises(InputError, match="15"):
        Assignment.from_series(ctx, series.drop(15))
    loose = Assignment.from_series(ctx, series.drop(15), allow_unassigned=True)
    assert loose.labels[15] == UNASSIGNED and loose.grids.tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError, match="1.5"):
        Assignment.from_series(ctx, series.astype(float).replace({3.0: 1.5}))
    with pytest.raises(InputError, match="-3"):
        Assignment(np.array([0, -3]))


# ---- paint --------------------------------------------------------------------------------------


def test_paint_one_atom(ctx: EditContext) -> None:
    result = paint(ctx, asg(QUADRANTS), [2], 0)
    assert grid_of(result) == [0, 0, 0, 1,
                               0, 0, 1, 1,
                               2, 2, 3, 3,
                               2, 2, 3, 3]
    c = result.change
    assert c.op == "paint" and c.atoms_moved == (2,) and c.households_moved == 100 and c.population_moved == 300
    assert c.grids_touched == (0, 1) and c.created == () and c.removed == ()
    assert "grid 0" in c.description


def test_paint_accepts_a_series_and_never_mutates(ctx: EditContext) -> None:
    series = pd.Series(QUADRANTS, index=pd.Index(range(16), name="atom_id"))
    before = series.copy()
    result = paint(ctx, series, [2, 6], 0)
    assert grid_of(result)[:8] == [0, 0, 0, 1, 0, 0, 0, 1]
    pd.testing.assert_series_equal(series, before)


def test_paint_already_in_grid_changes_nothing(ctx: EditContext) -> None:
    start = asg(QUADRANTS)
    result = paint(ctx, start, [0, 1], 0)
    assert result.assignment == start and result.change.atoms_moved == ()


def test_paint_that_empties_a_grid_removes_it(ctx: EditContext) -> None:
    result = paint(ctx, asg(QUADRANTS), [10, 11, 14, 15], 1)
    assert grid_of(result) == [0, 0, 1, 1,
                               0, 0, 1, 1,
                               2, 2, 1, 1,
                               2, 2, 1, 1]
    assert result.change.removed == (3,) and result.change.households_moved == 400


def test_paint_unassigned_atom(ctx: EditContext) -> None:
    loose = Assignment(np.array(QUADRANTS[:-1] + [UNASSIGNED]))
    result = paint(ctx, loose, [15], 3)
    assert grid_of(result) == QUADRANTS and result.change.grids_touched == (3,)


def test_paint_refuses_to_cut_the_grid_it_takes_from(ctx: EditContext) -> None:
    # Row grids; taking atom 5 out of row 1 leaves 4 alone, apart from 6-7.
    with pytest.raises(InputError, match="grid 1 in 2 pieces") as err:
        paint(ctx, asg(ROWS), [5], 0)
    assert err.value.field == "atom_ids"


def test_paint_refuses_atoms_away_from_the_grid(ctx: EditContext) -> None:
    with pytest.raises(InputError, match="grid 0 in 2 pieces"):
        paint(ctx, asg(QUADRANTS), [15], 0)


@pytest.mark.parametrize(("call", "needle", "field"), [
    (lambda c: paint(c, asg(QUADRANTS), [2], 9), "unknown grid label 9", "grid"),
    (lambda c: paint(c, asg(QUADRANTS), [2, 99], 0), "atom 99 is not in this community", "atom_ids"),
    (lambda c: paint(c, asg(QUADRANTS), [], 0), "no atoms selected", "atom_ids"),
    (lambda c: paint(c, asg(QUADRANTS), ["x"], 0), "'x'", "atom_ids"),
    (lambda c: paint(c, asg(QUADRANTS), [2], 0, locked=[1]), "grid 1 is locked", "locked"),
    (lambda c: paint(c, asg(QUADRANTS), [2], 0, locked=[0]), "grid 0 is locked", "locked"),
    (lambda c: paint(c, asg(QUADRANTS), [2], 0, locked=[7]), "locked names grid 7", "locked"),
    (lambda c: paint(c, asg(QUADRANTS), [2], -1), "-1", "grid"),
])
def test_paint_bad_input(ctx: EditContext, call, needle: str, field: str) -> None:
    with pytest.raises(InputError, match=needle) as err:
        call(ctx)
    assert err.value.field == field


# ---- new grid -----------------------------------------------------------------------------------


def test_new_grid_takes_atoms_from_their_grids(ctx: EditContext) -> None:
    result = new_grid(ctx, asg(QUADRANTS), [5, 6])
    assert grid_of(result) == [0, 0, 1, 1,
                               0, 4, 4, 1,
                               2, 2, 3, 3,
                               2, 2, 3, 3]
    assert result.change.created == (4,) and result.change.grids_touched == (0, 1, 4)
    labelled = new_grid(ctx, asg(QUADRANTS), [5, 6], label=10)
    assert grid_of(labelled)[5:7] == [10, 10]


def test_new_grid_bad_input(ctx: EditContext) -> None:
    with pytest.raises(InputError, match="grid label 2 is already used"):
        new_grid(ctx, asg(QUADRANTS), [5], label=2)
    with pytest.raises(InputError, match="grid 4 in 2 pieces"):
        new_grid(ctx, asg(QUADRANTS), [0, 15])
    with pytest.raises(InputError, match="grid 1 is locked"):
        new_grid(ctx, asg(QUADRANTS), [5, 6], locked=[1])
    with pytest.raises(InputError, match="atoms 16, 17 are not in this community"):
        new_grid(ctx, asg(QUADRANTS), [5, 16, 17])


# ---- merge and delete ---------------------------------------------------------------------------


def test_merge_neighbours(ctx: EditContext) -> None:
    result = merge(ctx, asg(QUADRANTS), 0, 1)
    assert grid_of(result) == [0, 0, 0, 0,
                               0, 0, 0, 0,
                               2, 2, 3, 3,
                               2, 2, 3, 3]
    assert result.change.removed == (1,) and result.change.households_moved == 400
    assert result.change.grids_touched == (0, 1)


def test_merge_bad_input(ctx: EditContext) -> None:
    # Quadrants 0 and 3 meet only at a corner point: not neighbours.
    with pytest.raises(InputError, match="grids 0 and 3 are not neighbours") as err:
        merge(ctx, asg(QUADRANTS), 0, 3)
    assert err.value.field == "b"
    with pytest.raises(InputError, match="unknown grid label 8"):
        merge(ctx, asg(QUADRANTS), 0, 8)
    with pytest.raises(InputError, match="itself"):
        merge(ctx, asg(QUADRANTS), 1, 1)
    with pytest.raises(InputError, match="grid 1 is locked"):
        merge(ctx, asg(QUADRANTS), 0, 1, locked={1})


def test_delete_grid_into_neighbour(ctx: EditContext) -> None:
    result = delete_grid(ctx, asg(QUADRANTS), 3, 1)
    assert grid_of(result) == [0, 0, 1, 1,
                               0, 0, 1, 1,
                               2, 2, 1, 1,
                               2, 2, 1, 1]
    assert result.change.removed == (3,) and result.change.atoms_moved == (10, 11, 14, 15)


def test_delete_grid_bad_input(ctx: EditContext) -> None:
    with pytest.raises(InputError, match="grid 0 is not a neighbour of grid 3; its neighbours are 1, 2") as err:
        delete_grid(ctx, asg(QUADRANTS), 3, 0)
    assert err.value.field == "into"
    with pytest.raises(InputError, match="unknown grid label 5"):
        delete_grid(ctx, asg(QUADRANTS), 5, 0)
    with pytest.raises(InputError, match="grid 3 is locked"):
        delete_grid(ctx, asg(QUADRANTS), 3, 1, locked=[3])


# ---- split by line ------------------------------------------------------------------------------


def test_split_one_grid_in_two_halves(ctx: EditContext) -> None:
    line = shapely.LineString([xy(-10, 200), xy(410, 200)])
    result = split_by_line(ctx, asg([0] * 16), 0, line)
    # Equal households: the side holding the first atom keeps the label.
    assert grid_of(result) == [0] * 8 + [1] * 8
    assert result.change.created == (1,) and result.change.attached == ()


def test_split_line_is_extended_past_its_ends(ctx: EditContext) -> None:
    # A short stroke inside the grid still cuts it: column 0 from columns 1-3.
    line = shapely.LineString([xy(100, 150), xy(100, 250)])
    result = split_by_line(ctx, asg([0] * 16), 0, line, new_label=7)
    assert grid_of(result) == [7, 0, 0, 0] * 4


def test_split_only_touches_the_grid(ctx: EditContext) -> None:
    line = shapely.LineString([xy(-10, 310), xy(410, 310)])
    result = split_by_line(ctx, asg(QUADRANTS), 1, line)
    assert grid_of(result) == [0, 0, 1, 1,
                               0, 0, 4, 4,
                               2, 2, 3, 3,
                               2, 2, 3, 3]


def test_split_attaches_a_detached_piece_to_the_other_side(ctx: EditContext) -> None:
    # Grid 0 is a U (open to the north) around grid 1; a line across both arms leaves two arm tops.
    u_shape = [0, 1, 1, 0,
               0, 1, 1, 0,
               0, 1, 1, 0,
               0, 0, 0, 0]
    line = shapely.LineString([xy(-10, 210), xy(410, 210)])
    result = split_by_line(ctx, asg(u_shape), 0, line)
    assert grid_of(result) == [2, 1, 1, 0,
                               2, 1, 1, 0,
                               0, 1, 1, 0,
                               0, 0, 0, 0]
    assert result.change.attached == (3, 7)
    assert "3, 7" in result.change.description


@pytest.mark.parametrize(("line", "needle"), [
    (shapely.LineString([xy(500, 0), xy(600, 400)]), "the line does not cross grid 0"),
    (shapely.LineString([xy(-10, 400), xy(410, 400)]), "all its 4 atoms lie on one side"),
    (shapely.LineString([xy(-10, 310), xy(250, 310), xy(150, 250), xy(150, 420)]), "crosses itself"),
    (shapely.Point(xy(1, 1)), "expected a LineString, got Point"),
    (shapely.LineString([xy(1, 1), xy(1, 1)]), "zero length"),
])
def test_split_bad_line(ctx: EditContext, line, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as err:
        split_by_line(ctx, asg(QUADRANTS), 0, line)
    assert err.value.field == "line"


def test_split_bad_grid(ctx: EditContext) -> None:
    line = shapely.LineString([xy(-10, 310), xy(410, 310)])
    with pytest.raises(InputError, match="unknown grid label 6"):
        split_by_line(ctx, asg(QUADRANTS), 6, line)
    with pytest.raises(InputError, match="grid 0 is locked"):
        split_by_line(ctx, asg(QUADRANTS), 0, line, locked=[0])
    with pytest.raises(InputError, match="grid label 3 is already used"):
        split_by_line(ctx, asg(QUADRANTS), 0, line, new_label=3)


# ---- move boundary ------------------------------------------------------------------------------


def test_move_boundary_by_swept_polygon(ctx: EditContext) -> None:
    # Drag the 0|1 boundary one column east: the swept area covers atoms 2 and 6.
    swept = shapely.box(*xy(200, 200), *xy(300, 400))
    result = move_boundary(ctx, asg(QUADRANTS), 0, 1, swept)
    assert grid_of(result) == [0, 0, 0, 1,
                               0, 0, 0, 1,
                               2, 2, 3, 3,
                               2, 2, 3, 3]
    assert result.change.atoms_moved == (2, 6) and result.change.grids_touched == (0, 1)


def test_move_boundary_swept_polygon_ignores_other_grids(ctx: EditContext) -> None:
    # Columns 0-1 (grid 0, but atom 9 is grid 5) and 2-3 (grid 1); the swept area covers column 1 of
    # rows 0-2: atoms 1 and 5 go to grid 1, atom 9 of grid 5 is left alone.
    start = [0, 0, 1, 1,
             0, 0, 1, 1,
             0, 5, 1, 1,
             0, 0, 1, 1]
    swept = shapely.box(*xy(110, 110), *xy(190, 390))  # atoms 1, 5, 9 (column 1, rows 0-2)
    result = move_boundary(ctx, asg(start), 0, 1, swept)
    assert grid_of(result) == [0, 1, 1, 1,
                               0, 1, 1, 1,
                               0, 5, 1, 1,
                               0, 0, 1, 1]


def test_move_boundary_by_new_line(ctx: EditContext) -> None:
    # The new 0|1 boundary is a slanted line: atoms 2 (row 0) go west of it, atom 5 stays.
    line = shapely.LineString([xy(290, 410), xy(190, 190)])
    result = move_boundary(ctx, asg(QUADRANTS), 0, 1, line)
    assert grid_of(result) == [0, 0, 0, 1,
                               0, 0, 1, 1,
                               2, 2, 3, 3,
                               2, 2, 3, 3]
    # Drawing the boundary where it already is changes nothing.
    same = move_boundary(ctx, asg(QUADRANTS), 0, 1, shapely.LineString([xy(200, 190), xy(200, 410)]))
    assert same.change.atoms_moved == ()


def test_move_boundary_bad_input(ctx: EditContext) -> None:
    swept = shapely.box(*xy(200, 200), *xy(300, 400))
    with pytest.raises(InputError, match="grids 0 and 3 are not neighbours"):
        move_boundary(ctx, asg(QUADRANTS), 0, 3, swept)
    with pytest.raises(InputError, match="holds no atom of grid 0 or 1") as err:
        move_boundary(ctx, asg(QUADRANTS), 0, 1, shapely.box(*xy(10, 10), *xy(90, 90)))
    assert err.value.field == "shape"
    with pytest.raises(InputError, match="leave grid 1 with no atoms"):
        move_boundary(ctx, asg(QUADRANTS), 0, 1, shapely.box(*xy(200, 200), *xy(400, 400)))
    with pytest.raises(InputError, match="grid 1 in 2 pieces"):
        move_boundary(ctx, asg(ROWS), 0, 1, shapely.box(*xy(110, 210), *xy(190, 290)))
    with pytest.raises(InputError, match="grid 1 is locked"):
        move_boundary(ctx, asg(QUADRANTS), 0, 1, swept, locked=[1])
    with pytest.raises(InputError, match="the line does not cross grids 0 and 1"):
        move_boundary(ctx, asg(QUADRANTS), 0, 1, shapely.LineString([xy(10, 10), xy(90, 90)]))
    with pytest.raises(InputError, match="unknown grid label 4"):
        move_boundary(ctx, asg(QUADRANTS), 0, 4, swept)
    with pytest.raises(InputError, match="got Point"):
        move_boundary(ctx, asg(QUADRANTS), 0, 1, shapely.Point(xy(1, 1)))


# ---- engine wrappers ----------------------------------------------------------------------------


def test_auto_divide_keeps_locked_grids(ctx: EditContext) -> None:
    result = auto_divide(ctx, asg(QUADRANTS), PartitionSettings(band=Band.urban(), seed=0), locked=[3])
    lab = np.array(grid_of(result))
    assert lab[[10, 11, 14, 15]].tolist() == [3] * 4
    assert (lab[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]] != 3).all()
    assert len(np.unique(lab)) == 4
    assert_contiguous(ctx, lab)


def test_auto_divide_restores_locked_labels_the_engine_renumbers(ctx: EditContext) -> None:
    start = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 17, 17, 2, 2, 17, 17]
    result = auto_divide(ctx, asg(start), PartitionSettings(band=Band.urban(), seed=0), locked=[17])
    lab = np.array(grid_of(result))
    assert lab[[10, 11, 14, 15]].tolist() == [17] * 4
    assert sorted(set(lab.tolist()) - {17}) == [0, 1, 2]
    assert all(f.code != "locked_relabelled" for f in result.change.findings)


def test_auto_divide_reports_exclusive_grids() -> None:
    atoms, edges = box_atoms(4, 4, 100, sites={0: "school"})
    ctx = EditContext.build(atoms, edges)
    result = auto_divide(ctx, asg(QUADRANTS))
    assert len(result.change.exclusive) == 1
    assert result.assignment.labels[0] == result.change.exclusive[0]


def test_rebalance_unlocked_respects_locks() -> None:
    atoms, edges = box_atoms(1, 8, 100)
    ctx = EditContext.build(atoms, edges)
    band = Band(150, 250, 200)
    start = asg([0, 0, 0, 1, 2, 2, 2, 2])  # 300, 100, 400 households
    free = rebalance_unlocked(ctx, start, band)
    assert free.change.op == "rebalance" and free.change.atoms_moved
    h = np.bincount(free.assignment.labels, weights=ctx.households)
    assert all(band.contains(int(x)) for x in h[h > 0])
    assert_contiguous(ctx, free.assignment.labels)
    locked = rebalance_unlocked(ctx, start, band, locked=[1])
    assert grid_of(locked)[3] == 1
    assert (np.array(grid_of(locked))[[0, 1, 2, 4, 5, 6, 7]] != 1).all()
    assert_contiguous(ctx, locked.assignment.labels)
    loose = Assignment(np.array([0, 0, 0, 1, 1, 2, 2, UNASSIGNED]))
    with pytest.raises(InputError, match="atoms 7 have no grid"):
        rebalance_unlocked(ctx, loose, band)


def test_rebalance_leaves_exclusive_grids_alone() -> None:
    atoms, edges = box_atoms(1, 6, 100)
    ctx = EditContext.build(atoms, edges)
    start = asg([0, 0, 0, 0, 1, 2])
    result = rebalance_unlocked(ctx, start, Band(150, 250, 200), exclusive=[2])
    assert result.assignment.labels[5] == 2 and (result.assignment.labels[:5] != 2).all()
    assert not any(f.grid == 2 for f in result.change.findings)


# ---- property: random edit sequences keep a clean division -------------------------------------


def assert_contiguous(ctx: EditContext, lab: np.ndarray) -> None:
    graph = nx.Graph()
    graph.add_nodes_from(range(ctx.n))
    graph.add_edges_from((a, b) for a, b in zip(ctx.edge_a.tolist(), ctx.edge_b.tolist(), strict=True)
                         if lab[a] == lab[b])
    for g in np.unique(lab):
        members = np.flatnonzero(lab == g).tolist()
        assert nx.is_connected(graph.subgraph(members)), f"grid {g} is not contiguous: {lab.tolist()}"


@st.composite
def edit_sessions(draw: st.DrawFn) -> dict:
    nrows = draw(st.integers(2, 6))
    ncols = draw(st.integers(2, 6))
    n = nrows * ncols
    households = draw(st.lists(st.integers(0, 200), min_size=n, max_size=n))
    stripes = draw(st.integers(1, ncols))
    ops = draw(st.lists(st.tuples(st.sampled_from(["paint", "new", "split", "merge", "delete", "sweep", "drag"]),
                                  st.lists(st.integers(0, n - 1), min_size=1, max_size=4),
                                  st.integers(0, 12), st.integers(0, 12),
                                  st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
                        min_size=1, max_size=10))
    locked = draw(st.sets(st.integers(0, stripes - 1), max_size=1))
    return {"nrows": nrows, "ncols": ncols, "households": households, "stripes": stripes, "ops": ops,
            "locked": locked}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edit_sessions())
def test_random_edit_sequences_keep_every_atom_once_and_every_grid_contiguous(session: dict) -> None:
    nrows, ncols = session["nrows"], session["ncols"]
    atoms, edges = box_atoms(nrows, ncols, session["households"], cell=100.0)
    ctx = EditContext.build(atoms, edges)
    cols = np.arange(nrows * ncols) % ncols
    state = Assignment((cols * session["stripes"]) // ncols)
    locked = session["locked"]
    locked_atoms = {g: set(np.flatnonzero(state.labels == g).tolist()) for g in locked}
    for op, atom_ids, g1, g2, f1, f2, f3, f4 in session["ops"]:
        grids = state.grids.tolist()
        a = grids[g1 % len(grids)]
        # Mostly a neighbour of a (edits between neighbours can succeed), sometimes any grid.
        nbrs = _neighbours(ctx, state.labels, a)
        b = nbrs[g2 % len(nbrs)] if nbrs and g2 < 10 else grids[g2 % len(grids)]
        # Lines and swept boxes are drawn within the bounding box of grid a (and b).
        box = ctx.bounds[(state.labels == a) | (state.labels == (b if op == "sweep" else a))]
        x_min, y_min = box[:, 0].min() - X0, box[:, 1].min() - Y0
        w, h = box[:, 2].max() - X0 - x_min, box[:, 3].max() - Y0 - y_min
        before = state.labels.copy()
        try:
            if op == "paint":
                result = paint(ctx, state, atom_ids, a, locked=locked)
            elif op == "new":
                result = new_grid(ctx, state, atom_ids, locked=locked)
            elif op == "split":
                line = shapely.LineString([xy(x_min + f1 * w, y_min + f2 * h),
                                           xy(x_min + f3 * w + 1.0, y_min + f4 * h + 1.0)])
                result = split_by_line(ctx, state, a, line, locked=locked)
            elif op == "merge":
                result = merge(ctx, state, a, b, locked=locked)
            elif op == "delete":
                result = delete_grid(ctx, state, a, b, locked=locked)
            elif op == "sweep":
                x0, y0 = x_min + f1 * w, y_min + f2 * h
                x1, y1 = x0 + 60.0 + 0.5 * f3 * w, y0 + 60.0 + 0.5 * f4 * h
                swept = shapely.box(*xy(x0, y0), *xy(x1 + 1.0, y1 + 1.0))
                result = move_boundary(ctx, state, a, b, swept, locked=locked)
            else:
                line = shapely.LineString([xy(x_min + f1 * w, y_min + f2 * h),
                                           xy(x_min + f3 * w + 1.0, y_min + f4 * h + 1.0)])
                result = move_boundary(ctx, state, a, b, line, locked=locked)
        except InputError:
            event(f"{op} rejected")
            assert np.array_equal(state.labels, before)
            continue
        event(f"{op} applied")
        assert np.array_equal(state.labels, before), "the input assignment was modified"
        new = result.assignment.labels
        assert len(new) == ctx.n and (new >= 0).all()  # every atom in exactly one grid
        assert_contiguous(ctx, new)
        moved = set(np.flatnonzero(new != before).tolist())
        assert set(result.change.atoms_moved) == {int(ctx.atom_ids[p]) for p in moved}
        for g, members in locked_atoms.items():
            assert set(np.flatnonzero(new == g).tolist()) == members, f"locked grid {g} changed"
        state = result.assignment
