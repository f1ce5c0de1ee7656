"""gis.reshape on a row of unit boxes: which neighbour a new outline trades with, and refusals."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.errors import InputError
from gis.reshape import plan_reshape, valid_outline

# Four unit boxes in a row: atoms 0,1 in grid 0, atoms 2,3 in grid 1.
BOXES = np.array([shapely.box(i, 0, i + 1, 1) for i in range(4)])
LABELS = np.array([0, 0, 1, 1])
REP = np.array([[i + 0.5, 0.5] for i in range(4)])
HH = np.array([10, 10, 10, 10])
EDGES = (np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([1.0, 1.0, 1.0]))


def plan(grid, outline):
    return plan_reshape(grid, outline, LABELS, REP[:, 0], REP[:, 1], HH, BOXES, *EDGES)


def test_growing_takes_from_the_neighbour_it_covers():
    result = plan(0, shapely.box(0, 0, 2.7, 1))
    assert (result.neighbour, result.gained, result.lost) == (1, 1, 0)
    assert result.swept.equals(shapely.box(2, 0, 2.7, 1))


def test_shrinking_gives_to_the_grid_sharing_the_longest_boundary():
    result = plan(1, shapely.box(3, 0, 4, 1))
    assert (result.neighbour, result.gained, result.lost) == (0, 0, 1)


def test_an_outline_that_moves_no_atom_is_refused():
    with pytest.raises(InputError, match="没有划入或让出"):
        plan(0, shapely.box(0, 0, 2.2, 1))


def test_a_bow_tie_is_refused_before_geos_sees_it():
    bow_tie = shapely.Polygon([(0, 0), (2, 1), (2, 0), (0, 1), (0, 0)])
    with pytest.raises(InputError, match="自相交") as caught:
        valid_outline(bow_tie)
    assert caught.value.field == "shape"
    with pytest.raises(InputError, match="多边形"):
        valid_outline(shapely.LineString([(0, 0), (1, 1)]))
