"""wangge (网格): divide communities into grids, from Python, with no database.

>>> import wangge
>>> result = wangge.divide(buildings, barriers, area, band=(300, 500))
>>> result.grids.plot(column="households")

``divide`` is the same engine as ``wangge divide-file`` and the server (:mod:`gis.pipeline`): frames in
any CRS in, frames in the same CRS out, each community computed in its own metric zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import geopandas as gpd
import pandas as pd

from gis.errors import InputError
from gis.partition import Band

try:
    __version__ = version("wangge")  # one place: pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Band", "InputError", "Result", "__version__", "divide"]


@dataclass(frozen=True)
class Result:
    """The division of every community of the input, in the input's CRS.

    Attributes
    ----------
    grids
        One row per grid: ``code`` (15 digits), ``community_code``, ``kind``, ``households``, ``population``,
        ``in_band``, ``contiguous``, ``polsby_popper``, ``barrier_share`` (share of the boundary on roads
        and rivers), ``area_m2``.
    micro_grids
        One row per micro-grid (微网格): ``code`` (17 digits), ``grid_code``, ``households``.
    atoms
        The indivisible pieces grids are made of (street blocks, compounds, sites), with their ``grid_code``.
    report
        Findings (``severity``, ``code``, ``grid_code``, ``message``) and one ``summary`` row per community.
    """

    grids: gpd.GeoDataFrame
    micro_grids: gpd.GeoDataFrame
    atoms: gpd.GeoDataFrame
    report: pd.DataFrame


def _band(value: tuple[int, int] | tuple[int, int, int] | Band | None) -> Band | None:
    if value is None or isinstance(value, Band):
        return value
    values = tuple(value)
    if len(values) == 2:
        low, high = values
        return Band(low, high, (low + high) // 2)
    if len(values) == 3:
        return Band(*values)
    raise InputError(f"band must be (min, max) or (min, max, target) households; got {value!r}", field="band")


def _frame(value: object, name: str) -> gpd.GeoDataFrame:
    if not isinstance(value, gpd.GeoDataFrame):
        raise InputError(f"{name} must be a GeoDataFrame; got {type(value).__name__}", source=name)
    if value.crs is None:
        raise InputError(f"{name} declares no CRS; set one with .set_crs()", source=name, field="crs")
    return value


def divide(buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame, area: gpd.GeoDataFrame, *,
           band: tuple[int, int] | Band | None = (300, 500), sites: gpd.GeoDataFrame | None = None,
           micro_band: tuple[int, int] | Band | None = None, seed: int = 0) -> Result:
    """Divide each community of ``area`` into grids of ``band`` households.

    Parameters
    ----------
    buildings
        Footprints with ``households`` (whole numbers ≥ 0); optional ``population``, ``units`` (单元, so a
        tower over the band maximum can be split along them), ``site``, ``compound``.
    barriers
        Roads, rivers and walls (lines; optional ``kind``): grid boundaries follow them where they can.
    area
        Community polygons; optional ``code`` (12-digit statistical code, which grid codes extend) and
        ``kind`` (``urban`` or ``rural``).
    band
        ``(min, max)`` or ``(min, max, target)`` households per grid, or None for the default of each
        community's kind (urban 300-500, rural 200-400).
    sites
        Optional compound and exclusive-site outlines (``kind``, ``id``).
    micro_band
        Households per micro-grid (default 30-100).
    seed
        Same input and seed, same division.

    Returns
    -------
    Result
        Grids, micro-grids, atoms and the report, in ``area``'s CRS.

    Raises
    ------
    InputError
        Naming the frame, row and field of bad input, before any work is done.
    """
    from gis.pipeline import check_households, divide_frames, output_layers

    area, barriers = _frame(area, "area"), _frame(barriers, "barriers")
    buildings = check_households(_frame(buildings, "buildings"), "buildings")
    sites = None if sites is None else _frame(sites, "sites")
    results = divide_frames(area, buildings, barriers, sites, band=_band(band), micro_band=_band(micro_band),
                            seed=seed, source="area")
    layers = output_layers(results, area.crs)
    return Result(layers["grids"], layers["micro_grids"], layers["atoms"], pd.DataFrame(layers["report"]
                                                                                        .drop(columns="geometry")))
