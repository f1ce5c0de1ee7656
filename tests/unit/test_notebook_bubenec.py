"""The second analyst notebook: real footprints (momepy's Bubeneč) to grids through the Python API."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_runner import errors, execute, outputs, stored_without_outputs, summary

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "bubenec_from_footprints.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    return execute(NOTEBOOK, tmp_path_factory.mktemp("kernels"))


def test_stored_without_outputs():
    assert not stored_without_outputs(NOTEBOOK)


def test_runs_and_draws_the_report_beside_the_map(executed):
    assert not errors(executed)
    images = [out for out in outputs(executed) if "image/png" in out.get("data", {})]
    assert len(images) == 1


def test_division_of_real_footprints(executed):
    result = summary(executed)
    assert result["buildings"] == 144
    assert result["households"] == result["grid_households"] > 2000
    assert result["n_grids"] >= result["households"] // 500
    assert result["contiguous_share"] == 1.0 and result["crs_kept"]
    assert result["share_in_band"] >= 0.8  # 4 of 5 today: one block of 508 households cannot be split
    assert result["mean_barrier_share"] > 0.5
