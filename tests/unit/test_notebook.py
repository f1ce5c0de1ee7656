"""The analyst notebook (notebooks/divide_a_community.ipynb) runs top to bottom, draws its maps, and the division
it reports keeps the engine's guarantees: contiguous grids, no gaps or overlaps, households preserved."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "divide_a_community.ipynb"
DEMO = ROOT / "data" / "boundaries" / "demo" / "demo_county.gpkg"
MARKER = "WANGGE_SUMMARY "


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> nbformat.NotebookNode:
    """The notebook executed from notebooks/, as Jupyter would run it there."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # A kernel spec for this very interpreter: "python3" may name another Python (a user-level spec, a system
    # install) without wangge's dependencies; the venv running pytest has them.
    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / "wangge-venv")
    km = KernelManager(kernel_name="wangge-venv", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    try:
        client.execute()
    finally:
        # A kernel manager we pass in is ours to shut down; nbclient only cleans up the ones it creates.
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def _summary(nb: nbformat.NotebookNode) -> dict:
    lines = [line for out in _outputs(nb) if out.output_type == "stream" and out.name == "stdout"
             for line in out.text.splitlines() if line.startswith(MARKER)]
    assert len(lines) == 1, f"expected one {MARKER.strip()} line, got {len(lines)}"
    return json.loads(lines[0][len(MARKER):])


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"strip outputs before committing (cells {dirty})"


def test_every_cell_runs(executed):
    errors = [f"{out.ename}: {out.evalue}" for out in _outputs(executed) if out.output_type == "error"]
    assert not errors
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells)


def test_maps_render_offline(executed):
    maps = [out.data["text/html"] for out in _outputs(executed)
            if out.output_type in ("display_data", "execute_result") and "folium-map" in out.data.get("text/html", "")]
    assert len(maps) >= 3  # atoms, grids, micro-grids
    for html in maps:
        assert "leaflet" in html.lower()
        # No basemap tiles: they would need the internet.
        assert "tile.openstreetmap" not in html and "L.tileLayer" not in html


def test_division_keeps_its_guarantees(executed):
    import geopandas as gpd

    summary = _summary(executed)
    buildings = gpd.read_file(DEMO, layer="buildings", columns=["community_code", "households"], ignore_geometry=True)
    households = int(buildings.loc[buildings["community_code"] == summary["community_code"], "households"].sum())

    assert summary["n_grids"] > summary["n_exclusive"] > 0
    assert summary["n_micro_grids"] > summary["n_grids"]
    assert summary["households"] == summary["grid_households"] == summary["micro_households"] == households
    assert summary["contiguous_share"] == 1.0
    assert summary["gap_area_m2"] == 0.0 and summary["overlap_area_m2"] == 0.0
    # The demo community has two 792-household towers with unit data: split along their units, and said so.
    assert "building_split_by_units" in summary["finding_codes"]
    assert summary["share_in_band"] >= 0.95  # the target where the atoms make the band feasible
    assert summary["unexplained_out_of_band"] == []
    assert summary["rebalanced_contiguous_share"] == 1.0
    # A grid pushed over the maximum is brought back by moving atoms, keeping every grid contiguous.
    assert summary["rebalanced_households_moved"] > 0
    assert summary["rebalanced_out_of_band"] == []
