"""Benchmark cases: communities turned into atoms exactly as the engine's pipeline does it.

Two sources:

* the 12 communities of the demo county (``data/boundaries/demo/demo_county.gpkg``): 6 urban
  communities (band 300-500) and 6 rural villages (band 200-400, target 300);
* Prague Bubeneč from momepy's bundled data (``momepy/datasets/bubenec.gpkg``), with households
  estimated from footprints (see :data:`BUBENEC_STOREYS` and :data:`M2_PER_HOUSEHOLD`), urban band.

Every case is an :class:`Case`: the community boundary, the clipped inputs and the
:class:`gis.atoms.AtomLayer` that all methods share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gis.atoms import AtomLayer, build_atoms
from gis.crs import metric_crs_for_frame
from gis.partition import Band
from gis.pipeline import BANDS
from gis.units import split_by_units

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "boundaries" / "demo" / "demo_county.gpkg"
#: The demo county's urban street (城关街道): its 6 communities as one case, for scale.
STREET_CODE = "320499001000"

#: Floor area (m²) per household when estimating households from footprints (Bubeneč).
M2_PER_HOUSEHOLD = 80.0
#: Storeys assumed for every Bubeneč building: the dataset has no height column, and the district is
#: mostly 4-6 storey perimeter blocks (činžovní domy) around 1900-1930, so 4 is a conservative guess.
BUBENEC_STOREYS = 4
#: Bubeneč boundary: the convex hull of the buildings, buffered by this much (m) so the outermost
#: buildings get some land and the streets around them fall inside (see :func:`bubenec_case`).
BUBENEC_BUFFER_M = 20.0


@dataclass(frozen=True)
class Case:
    """One community ready for every method.

    Attributes
    ----------
    name
        Short label used in the results table.
    code
        12-digit community code of a demo case; "000000000000" for Bubeneč, which has none.
    kind
        ``'urban'`` or ``'rural'``.
    band
        Household band of comprehensive grids.
    boundary
        Community polygon in ``crs``.
    buildings
        Buildings inside the community (``households`` column), in ``crs``.
    layer
        Atoms, edges and parcels from :func:`gis.atoms.build_atoms`.
    scale
        A scale test (bigger than a real community): reported apart, left out of the aggregate.
    """

    name: str
    code: str
    kind: str
    band: Band
    boundary: shapely.Geometry
    buildings: gpd.GeoDataFrame
    layer: AtomLayer
    scale: bool = False

    @property
    def atoms(self) -> gpd.GeoDataFrame:
        return self.layer.atoms

    @property
    def edges(self):
        return self.layer.edges


def read_demo(path: Path = DEMO_PATH) -> dict[str, gpd.GeoDataFrame]:
    layers = {name: gpd.read_file(path, layer=name, engine="pyogrio")
              for name in ("areas", "barriers", "buildings", "sites")}
    communities = layers["areas"][layers["areas"]["level"] == "community"]
    metric = metric_crs_for_frame(communities)
    return {name: frame.to_crs(metric) for name, frame in layers.items()}


def demo_codes(path: Path = DEMO_PATH) -> list[str]:
    """Codes of the demo county's communities (urban first, then rural, each by code)."""
    areas = gpd.read_file(path, layer="areas", engine="pyogrio", columns=["code", "level", "kind"])
    areas = areas[areas["level"] == "community"]
    return [str(c) for c in areas.sort_values(["kind", "code"], key=lambda col: col != "urban" if col.name == "kind"
                                              else col)["code"]]


def demo_cases(codes: list[str] | None = None, path: Path = DEMO_PATH) -> list[Case]:
    """Cases for communities of the demo county (all when ``codes`` is None).

    Mirrors :func:`gis.pipeline.divide_file`: the metric CRS is chosen once for the county, a
    building belongs to the community holding its representative point, barriers are those
    touching the boundary, and atoms are built with ``max_atom_households = band.max``. Sites (which
    ``divide_file`` has no layer for) are the site polygons intersecting the community, clipped to it,
    so schools and compounds become their own atoms as they would in the database-backed path.
    """
    data = read_demo(path)
    return [_demo_case(data, code) for code in (codes if codes is not None else demo_codes(path))]


def street_case(code: str = STREET_CODE, path: Path = DEMO_PATH) -> Case:
    """The whole urban street (街道) of the demo county as one urban case: a scale test, not a real task.

    Same recipe as :func:`demo_cases` on the township polygon (the union of its 6 urban communities).
    """
    return _demo_case(read_demo(path), code, kind="urban", scale=True)


def _demo_case(data: dict[str, gpd.GeoDataFrame], code: str, kind: str | None = None, scale: bool = False) -> Case:
    areas = data["areas"].set_index("code")
    row = areas.loc[code]
    kind = kind or str(row["kind"])
    band = BANDS[kind]()
    boundary = shapely.make_valid(row.geometry)
    barriers = data["barriers"]
    if "kind" not in barriers.columns:
        barriers = barriers.assign(kind="road")
    buildings = data["buildings"]
    inside = buildings[buildings.representative_point().within(boundary)]
    lines = barriers[barriers.intersects(boundary)]
    sites = data["sites"][data["sites"].intersects(boundary)].copy()
    sites["geometry"] = sites.geometry.intersection(boundary)
    sites = sites[~sites.geometry.is_empty & (sites.geometry.area > 1.0)]
    # As gis.pipeline.divide_community does: towers over the band maximum are cut into their units
    # (单元) first, and every method then gets the same atoms.
    inside = split_by_units(inside, band.max).pieces
    layer = build_atoms(boundary, lines, inside, sites, max_atom_households=band.max)
    log.info("demo %s (%s): %d buildings, %d atoms, %d households", code, kind, len(inside),
             len(layer.atoms), int(layer.atoms["households"].sum()))
    name = f"{code} {'street (scale)' if scale else kind}"
    return Case(name, code, kind, band, boundary, inside, layer, scale)


def bubenec_path() -> Path:
    """Path of momepy's bundled Bubeneč GeoPackage."""
    import momepy

    return Path(momepy.__file__).parent / "datasets" / "bubenec.gpkg"


def bubenec_households(buildings: gpd.GeoDataFrame, storeys: int = BUBENEC_STOREYS,
                       m2_per_household: float = M2_PER_HOUSEHOLD) -> np.ndarray:
    """Households per building: ``round(footprint m² × storeys / m2_per_household)`` (metric CRS)."""
    if "storeys" in buildings.columns:
        floors = buildings["storeys"].fillna(storeys).to_numpy(dtype=float)
    else:
        floors = np.full(len(buildings), float(storeys))
    return np.round(buildings.geometry.area.to_numpy() * floors / m2_per_household).astype(int)


def bubenec_case(path: Path | None = None) -> Case:
    """Prague Bubeneč (momepy sample data) as an urban case.

    The GeoPackage (EPSG:3857) has layers ``buildings`` (144, no height), ``streets`` (35 centre
    lines), ``plots`` (cadastral parcels) and ``tessellation``. Everything is projected to the UTM
    zone :func:`gis.crs.metric_crs_for_frame` picks (Web Mercator areas are ~2.4× too big at 50°N).
    Boundary: the convex hull of all 144 buildings buffered by :data:`BUBENEC_BUFFER_M` (the plots
    layer leaves the streets out and reaches far past the buildings into empty land, so its union is
    no usable community outline). Barriers: the streets.
    """
    path = path or bubenec_path()
    raw = {name: gpd.read_file(path, layer=name, engine="pyogrio") for name in ("buildings", "streets")}
    metric = metric_crs_for_frame(raw["buildings"])
    buildings = raw["buildings"].to_crs(metric)
    streets = raw["streets"].to_crs(metric).assign(kind="road")
    buildings["geometry"] = buildings.geometry.make_valid()
    hull = shapely.union_all(buildings.geometry.to_numpy()).convex_hull
    boundary = shapely.make_valid(hull.buffer(BUBENEC_BUFFER_M))
    buildings["households"] = bubenec_households(buildings)
    buildings["id"] = buildings["uID"].astype(str)
    inside = buildings[buildings.representative_point().within(boundary)].reset_index(drop=True)
    lines = streets[streets.intersects(boundary)]
    band = Band.urban()
    layer = build_atoms(boundary, lines, inside[["id", "households", "geometry"]], None,
                        max_atom_households=band.max)
    log.info("bubenec: %d buildings, %d atoms, %d households", len(inside), len(layer.atoms),
             int(layer.atoms["households"].sum()))
    return Case("Bubeneč (Prague)", "000000000000", "urban", band, boundary, inside, layer)


def old_town_case(path: Path) -> Case:
    """The generated old town (``data/boundaries/generate.py --old-town``) as one urban case.

    Read as :func:`gis.pipeline.divide_file` reads it: layers ``area``, ``buildings`` and
    ``barriers``, projected with :func:`gis.crs.metric_crs_for_frame`; no sites.
    """
    layers = {name: gpd.read_file(path, layer=name, engine="pyogrio") for name in ("area", "buildings", "barriers")}
    metric = metric_crs_for_frame(layers["area"])
    area, buildings, barriers = (layers[name].to_crs(metric) for name in ("area", "buildings", "barriers"))
    boundary = shapely.make_valid(area.geometry.iloc[0])
    band = BANDS["urban"]()
    pieces = split_by_units(buildings, band.max).pieces
    layer = build_atoms(boundary, barriers, pieces, None, max_atom_households=band.max)
    return Case("old town (generated)", str(area["code"].iloc[0]), "urban", band, boundary, pieces, layer)
