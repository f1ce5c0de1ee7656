"""Reshaping a grid by its outline: which neighbour gives or takes, and which area is swept.

The editor lets a county officer drag the vertices of a grid's outline. Only the boundary between
two grids can move (so no gap or overlap can arise), so a new outline is read as "move the boundary
with one neighbour": the neighbour is the grid the new outline takes most households from, or, when
the grid only shrinks, the one sharing the longest boundary with what it gives up. Atoms follow by
their representative points, as in every other edit of :mod:`gis.edits`.

Pure: arrays and shapely in, decisions out; no database, no web.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError


@dataclass(frozen=True)
class Reshape:
    """The boundary move a new outline asks for: ``grid`` and ``neighbour`` trade ``swept``."""

    grid: int
    neighbour: int
    swept: shapely.Geometry
    gained: int  # atoms the grid takes in
    lost: int  # atoms the grid gives up


def valid_outline(outline: object, field: str = "shape") -> shapely.Geometry:
    """A drawn outline a GEOS overlay can use, or an :class:`InputError` naming what is wrong.

    A bow-tie (a ring crossing itself) is refused rather than repaired: repairing it silently would
    move atoms the user did not mean to move.
    """
    if not isinstance(outline, shapely.Polygon | shapely.MultiPolygon):
        kind = getattr(outline, "geom_type", type(outline).__name__)
        raise InputError(f"须为网格的新轮廓（多边形），收到 {kind} / must be the grid's new outline (a Polygon); "
                         f"got {kind}", field=field)
    if outline.is_empty or not np.isfinite(shapely.get_coordinates(outline)).all():
        raise InputError("轮廓为空或含无效坐标 / the outline is empty or has coordinates that are not numbers",
                         field=field)
    if not outline.is_valid:
        reason = shapely.is_valid_reason(outline)
        raise InputError(f"轮廓自相交或不闭合（{reason}），请重新拖动顶点 / the outline is not a valid polygon "
                         f"({reason}): it crosses itself; drag the vertices again", field=field)
    return outline


def plan_reshape(grid: int, outline: shapely.Geometry, labels: np.ndarray, rep_x: np.ndarray, rep_y: np.ndarray,
                 households: np.ndarray, geometry: np.ndarray, edge_a: np.ndarray, edge_b: np.ndarray,
                 edge_length: np.ndarray) -> Reshape:
    """Read a new outline of ``grid`` as a boundary move with one neighbour.

    Parameters
    ----------
    grid
        The label of the grid whose outline was dragged.
    outline
        Its new outline, in the atoms' CRS (check it with :func:`valid_outline` first).
    labels
        Grid label of each atom (position order).
    rep_x, rep_y, households, geometry
        Each atom's representative point, households and polygon.
    edge_a, edge_b, edge_length
        Atom adjacency: positions of both atoms and the shared boundary length.

    Raises
    ------
    InputError
        The outline takes in and gives up no atom, or gives up atoms that touch no other grid.
    """
    inside = shapely.contains_xy(outline, rep_x, rep_y)
    gained, lost = inside & (labels != grid), ~inside & (labels == grid)
    if gained.any():
        weights = pd.Series(households[gained] + 1, index=labels[gained]).groupby(level=0).sum()
        neighbour = int(weights.idxmax())
    elif lost.any():
        ends = np.concatenate([edge_b[lost[edge_a]], edge_a[lost[edge_b]]])
        lengths = np.concatenate([edge_length[lost[edge_a]], edge_length[lost[edge_b]]])
        other = labels[ends] != grid
        if not other.any():
            raise InputError("新轮廓让出的单元不与其他网格相邻 / the new outline gives up atoms that touch no other "
                             "grid", field="shape")
        neighbour = int(pd.Series(lengths[other], index=labels[ends][other]).groupby(level=0).sum().idxmax())
    else:
        raise InputError("新轮廓没有划入或让出任何单元：请把边界拖过单元的中部 / the new outline takes in or gives up "
                         "no atom: drag the boundary further, past the middle of an atom", field="shape")
    old = shapely.union_all(geometry[labels == grid])
    swept = shapely.symmetric_difference(old, outline)
    return Reshape(grid, neighbour, swept, int(gained.sum()), int(lost.sum()))
