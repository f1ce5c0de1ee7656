"""Run a notebook top to bottom with this very interpreter, as Jupyter would from notebooks/."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

MARKER = "WANGGE_SUMMARY "


def execute(notebook: Path, kernels: Path, timeout: int = 300) -> nbformat.NotebookNode:
    """The executed notebook. The kernel is this venv's Python: "python3" may name another install."""
    nb = nbformat.read(notebook, as_version=4)
    write_kernel_spec(kernels / "wangge-venv")
    km = KernelManager(kernel_name="wangge-venv", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=timeout, resources={"metadata": {"path": str(notebook.parent)}})
    try:
        client.execute()
    finally:
        # A kernel manager we pass in is ours to shut down; nbclient only cleans up the ones it creates.
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    """Every output of every code cell."""
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def summary(nb: nbformat.NotebookNode) -> dict:
    """The one ``WANGGE_SUMMARY {json}`` line the notebook prints for its test."""
    lines = [line for out in outputs(nb) if out.output_type == "stream" and out.name == "stdout"
             for line in out.text.splitlines() if line.startswith(MARKER)]
    assert len(lines) == 1, f"expected one {MARKER.strip()} line, got {len(lines)}"
    return json.loads(lines[0][len(MARKER):])


def errors(nb: nbformat.NotebookNode) -> list[str]:
    """Errors raised by any cell."""
    return [f"{out.ename}: {out.evalue}" for out in outputs(nb) if out.output_type == "error"]


def stored_without_outputs(notebook: Path) -> list[int]:
    """Code cells committed with outputs or execution counts (there should be none)."""
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
