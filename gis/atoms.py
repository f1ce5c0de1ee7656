"""Tessellate a community into atoms (基础单元): the smallest pieces a grid boundary may follow.

A division of a community is an assignment of atoms to grids (see ``DESIGN.md``), so everything
downstream — gap-free editing, household sums, contiguity, diffs — rests on the guarantees made
here:

* the atoms (and, one level finer, the parcels) form an **exact coverage** of the community: their
  union is the boundary, they do not overlap, neighbours share edges vertex for vertex, and every
  piece is one valid Polygon of at least ``min_parcel_area`` m² (unless it holds a building);
* **no building is split**: each building belongs to exactly one parcel and one atom (the one
  holding most of its area), so household and population totals are preserved exactly;
* **no residential compound (小区) is cut** unless it is too big to be one atom, and no exclusive
  site (school, hospital, ...) is ever cut;
* the result is deterministic: the same input gives identical output.

How (see :mod:`gis.tessellation` for the machinery):

1. **Blocks**: the boundary is polygonised with the barrier lines (roads, rivers, walls, ...), each
   line first extended by ``2 × snap_tolerance`` at both ends so lines that stop short still close
   their block; dangles and lines outside drop out. Blocks under ``min_parcel_area`` m², or
   thinner than ``snap_tolerance`` on average (a road drawn twice, or along the boundary), join
   the neighbour sharing the longest edge. Block ids run north to south, then west to east.
2. **Domains**: exclusive sites, then residential-compound sites (smaller first, so a kindergarten
   drawn inside an enterprise keeps its own outline), snapped to the block edges within
   ``snap_tolerance`` and carved out of the whole community; the rest of each block is a domain
   too. Domains are read off one snap-rounded arrangement (so they already match the final
   faces) and slivers among them are merged before each building goes to the domain holding
   most of its area.
3. **Cells**: within a domain, each building gets the Voronoi cell of points sampled along its
   (slightly shrunk) outline — a morphological tessellation like momepy's; empty land thus joins
   the nearest building, and the building's own footprint (its part in the domain) is always
   wholly in its cell. A domain holding one building is that building's single cell. Buildings
   overlapping by more than a tenth of the smaller, or crossing so that one cuts the other in
   two (duplicates, building parts, bad digitising), share one cell.
4. **Faces**: the block edges, site outlines, footprints and Voronoi ridges are noded once with
   snap rounding on a 0.01 mm grid (:data:`gis.tessellation.GRID_SIZE`) and polygonised; each face
   is labelled with its cell. Pieces that came out disconnected keep their main part (the one
   holding the building, else the largest); the other parts, and empty slivers (under
   ``min_parcel_area`` m² or under ``snap_tolerance`` m wide on average) join the neighbour
   sharing the longest edge, preferring the same domain.
5. **Parcels and atoms**: a parcel is the union of a cell's faces. An atom is a connected group of
   parcels of one kind: a site; a compound when its households ≤ ``max_atom_households``; the rest
   of a block when its households ≤ ``max_atom_households``; otherwise every parcel is an atom of
   kind ``'parcel'`` (keeping the compound id, so the partition engine can prefer to keep them
   together). Atom ids are ordered by block, then north to south, then west to east
   (representative points); parcel ids by atom, then the same.
6. **Adjacency** is read off the face segments, so shared lengths are exact sums, point contacts
   and contacts ≤ 1 cm are not adjacency, and no pairwise geometry test is needed.

Buildings that overlap another footprint slightly (under the share in 3) are the one case where
"the atom holding most of its area" is ill-defined: each keeps its own cell, and the shared area
goes to the building listed first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import from_shapely

from gis.errors import GisError, InputError
from gis.tessellation import (
    GRID_SIZE,
    MIN_SHARED_LENGTH,
    Segments,
    connected_labels,
    dissolve_faces,
    extend_line_ends,
    face_segments,
    grouped_voronoi_ridges,
    label_components,
    merge_slivers,
    on_line_lengths,
    outer_lengths,
    planar_faces,
    run_starts,
    shared_lengths,
)

logger = logging.getLogger(__name__)

#: Site kinds. All but ``residential_compound`` are exclusive (专属网格): schools, hospitals, ...
RESIDENTIAL_COMPOUND = "residential_compound"
EXCLUSIVE_SITE_KINDS = frozenset({
    "school", "hospital", "government", "industrial_park", "market", "park", "enterprise", "business",
})
SITE_KINDS = EXCLUSIVE_SITE_KINDS | {RESIDENTIAL_COMPOUND}

#: Building outlines are shrunk by this much (metres) before sampling, so that two buildings
#: sharing a wall get distinct generator points and the cell boundary runs along the wall.
_SHRINK = 0.4
#: Spacing of generator points along a building outline (metres): finer gives smoother cell
#: edges between close buildings at the cost of more Voronoi ridges. (Coarser spacing where
#: buildings stand apart moves cell edges by under 5 cm, but that is enough to change the
#: partition of some communities, for better or worse, so the spacing is uniform.)
_SEGMENT = 1.0
#: A footprint given as a point (address data without outlines) becomes a square this wide (m).
_POINT_FOOTPRINT = 1.0
#: Buildings overlapping by more than this share of the smaller footprint share one cell.
_OVERLAP_SHARE = 0.1

_ATOM_COLUMNS = ["atom_id", "kind", "households", "population", "n_buildings", "site", "site_id",
                 "compound", "block", "geometry"]
_PARCEL_COLUMNS = ["parcel_id", "atom_id", "households", "population", "n_buildings", "compound",
                   "geometry"]
_EDGE_COLUMNS = ["a", "b", "length", "barrier_length"]


@dataclass(frozen=True)
class AtomLayer:
    """The atoms of one community, their adjacency, and the finer parcel layer.

    Attributes
    ----------
    atoms
        Index 0..n-1 equal to ``atom_id``. Columns: ``atom_id`` (int), ``kind`` ('block' | 'compound'
        | 'site' | 'parcel'), ``households``, ``population``, ``n_buildings`` (int), ``site`` (the
        exclusive kind of a site atom, else None), ``site_id`` (the site's ``id``, else None),
        ``compound`` (compound id, else None), ``block`` (id of the street block holding most of
        the atom), ``geometry`` (Polygon, in the input CRS).
    edges
        One row per adjacent pair a < b: ``a``, ``b`` (atom ids), ``length`` (metres of shared
        boundary, > 0.01) and ``barrier_length`` (metres of it within ``snap_tolerance`` of a
        barrier line).
    parcels
        One cell per building (buildings overlapping by more than a tenth share one), plus one
        per building-less domain, nested in atoms: each parcel lies in one atom and the parcels of
        an atom tile it exactly. Index 0..m-1 equal to ``parcel_id``; columns ``parcel_id``,
        ``atom_id``, ``households``, ``population``, ``n_buildings``, ``compound``, ``geometry``.
    parcel_edges
        As ``edges``, over ``parcel_id``.
    building_atom
        Index = the buildings frame's index, value = atom_id.
    building_parcel
        Index = the buildings frame's index, value = parcel_id.
    outer_length
        Per atom_id: metres of its boundary on the community boundary (outer ring and holes).
    """

    atoms: gpd.GeoDataFrame
    edges: pd.DataFrame
    parcels: gpd.GeoDataFrame
    parcel_edges: pd.DataFrame
    building_atom: pd.Series
    building_parcel: pd.Series
    outer_length: pd.Series


def build_atoms(boundary: shapely.Polygon | shapely.MultiPolygon, barriers: gpd.GeoDataFrame,
                buildings: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None = None, *,
                max_atom_households: int = 500, snap_tolerance: float = 0.5,
                min_parcel_area: float = 1.0) -> AtomLayer:
    """Tessellate a community into atoms and parcels forming an exact coverage.

    Parameters
    ----------
    boundary
        The community (社区/行政村) outline, in the CRS of the frames (metres).
    barriers
        Lines grid boundaries should follow: roads, rivers, railways, walls (LineString or
        MultiLineString; polygons contribute their outline). Lines outside the boundary are ignored.
    buildings
        Footprints (Polygon/MultiPolygon; a Point becomes a 1 m square) with ``households``
        (int ≥ 0), optional ``population`` (int ≥ 0; 0 when the column is absent — population is
        not estimated here), optional ``compound`` (id of the residential compound a building
        belongs to) and optional ``site`` (exclusive kind of a building with no site polygon: each
        such building, or each group sharing a ``compound`` value, becomes a site atom).
    sites
        Optional polygons with ``kind`` (one of :data:`SITE_KINDS`) and ``id``. Exclusive sites
        become site atoms; residential compounds become compound atoms (or parcels when too big).
    max_atom_households
        A block remainder or compound with more households than this is split into one parcel
        atom per building.
    snap_tolerance
        Metres. Barrier lines are extended by ``2 × snap_tolerance`` at each end; site outlines
        snap to block edges within it; shared boundary within it of a barrier counts as on the
        barrier; empty pieces narrower than it on average are slivers.
    min_parcel_area
        Square metres; building-less pieces smaller than this are merged into a neighbour.

    Returns
    -------
    AtomLayer

    Raises
    ------
    InputError
        Geographic, non-metric or mismatched CRS; missing or invalid columns; buildings outside the
        boundary; bad geometry types.
    """
    t0 = time.perf_counter()
    crs = _check_crs(buildings, barriers, sites)
    if max_atom_households < 1:
        raise InputError(f"max_atom_households must be at least 1, got {max_atom_households}")
    if snap_tolerance < 0 or min_parcel_area < 0:
        raise InputError(f"snap_tolerance and min_parcel_area must be ≥ 0, got {snap_tolerance}, "
                         f"{min_parcel_area}")
    area_boundary = _check_boundary(boundary)
    bld = _check_buildings(buildings, area_boundary)
    site_tab = _check_sites(sites)
    lines = _barrier_lines(barriers)

    blocks = street_blocks(area_boundary, lines, snap_tolerance=snap_tolerance,
                           min_area=min_parcel_area)
    t_blocks = time.perf_counter()
    domains = _domains(area_boundary, blocks, site_tab, snap_tolerance, min_parcel_area)
    bld["domain"] = _building_domains(bld.geometry.values, domains.geometry.values)
    bld["cell"] = _cell_groups(bld)
    generators = _generator_points(bld, domains)
    ridges = _cell_ridges(generators, domains, bld["domain"].to_numpy())
    t_cells = time.perf_counter()

    faces, face_points, segments = _faces(area_boundary, domains, generators, ridges)
    t_faces = time.perf_counter()

    face_domain, face_block = _face_places(face_points, domains, blocks)
    labels, label_tab = _label_faces(face_points, face_domain, bld, domains, generators)
    labels = _settle_labels(faces, segments, labels, label_tab, generators.anchors)
    layer = _assemble(faces, segments, labels, label_tab, face_block, bld, domains, lines, crs,
                      buildings.index, max_atom_households, snap_tolerance)
    t_end = time.perf_counter()
    logger.info("atoms: %d buildings -> %d blocks, %d faces, %d parcels, %d atoms in %.2f s "
                "(blocks %.2f, cells %.2f, faces %.2f, labels+assembly %.2f)",
                len(bld), len(blocks), len(faces), len(layer.parcels), len(layer.atoms), t_end - t0,
                t_blocks - t0, t_cells - t_blocks, t_faces - t_cells, t_end - t_faces)
    return layer


def _faces(area_boundary: shapely.Geometry, domains: pd.DataFrame, generators, ridges: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, Segments]:
    """Faces of the linework inside the community, a point on each, and their boundary segments."""
    # Footprints are part of the linework so that a building's part in its domain lies wholly in
    # its own cell, whatever the Voronoi approximation does near close neighbours.
    footprints = shapely.boundary(generators.cores[~shapely.is_empty(generators.cores)])
    domain_edges = shapely.boundary(np.asarray(domains.geometry.to_numpy(), dtype=object))
    faces = planar_faces(np.concatenate([domain_edges, ridges, footprints]))
    face_points = shapely.point_on_surface(faces)
    inside = _inside_faces(faces, face_points, area_boundary)
    faces, face_points = faces[inside], face_points[inside]
    return faces, face_points, face_segments(faces)


# --------------------------------------------------------------------------- input checks


def _check_crs(buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame,
               sites: gpd.GeoDataFrame | None):
    """The one projected metric CRS of all frames; InputError naming it otherwise."""
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError(f"buildings must be a GeoDataFrame, got {type(buildings).__name__}",
                         source="buildings")
    crs = buildings.crs
    if crs is None:
        raise InputError("buildings have no CRS; set the projected metric CRS they are in",
                         source="buildings")
    if crs.is_geographic or not crs.is_projected:
        raise InputError(f"CRS {crs.to_string()} ({crs.name}) is not projected: lengths and areas "
                         "need metres. Reproject to a projected metric CRS, e.g. a CGCS2000 "
                         "3-degree Gauss-Krüger zone (EPSG:4534-4554)", source="buildings")
    units = {axis.unit_name for axis in crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise InputError(f"CRS {crs.to_string()} ({crs.name}) has units {sorted(units)}, not metres",
                         source="buildings")
    for name, frame in (("barriers", barriers), ("sites", sites)):
        if frame is None:
            continue
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(f"{name} must be a GeoDataFrame, got {type(frame).__name__}", source=name)
        if frame.crs is None:
            if len(frame):
                raise InputError(f"{name} have no CRS; expected {crs.to_string()}", source=name)
        elif frame.crs != crs:
            raise InputError(f"{name} are in CRS {frame.crs.to_string()} but buildings are in "
                             f"{crs.to_string()}; reproject them to one CRS", source=name)
    return crs


def _check_boundary(boundary) -> shapely.Polygon | shapely.MultiPolygon:
    """Valid polygonal boundary (repaired with a warning when invalid)."""
    if not isinstance(boundary, shapely.Polygon | shapely.MultiPolygon):
        raise InputError(f"boundary must be a Polygon or MultiPolygon, got "
                         f"{getattr(boundary, 'geom_type', type(boundary).__name__)}", source="boundary")
    if boundary.is_empty or boundary.area <= 0:
        raise InputError("boundary is empty", source="boundary")
    if not boundary.is_valid:
        logger.warning("community boundary is invalid (%s); repaired with make_valid",
                       shapely.is_valid_reason(boundary))
        boundary = _polygonal(shapely.make_valid(boundary))
    return boundary


def _polygonal(geom):
    """The polygonal part of a geometry (as Polygon or MultiPolygon, possibly empty)."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]


def _check_count_column(frame: pd.DataFrame, column: str, source: str, *, required: bool) -> np.ndarray:
    """Non-negative integer column as int64 (0 when absent and optional)."""
    if column not in frame.columns:
        if required:
            raise InputError(f"column '{column}' is missing", source=source, field=column)
        return np.zeros(len(frame), dtype=np.int64)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values != np.round(values)))
    if len(bad):
        i = int(bad[0])
        raise InputError(f"{column} must be a whole number ≥ 0, got {frame[column].iloc[i]!r} "
                         f"({len(bad)} bad rows)", source=source, row=i + 1, field=column)
    return values.astype(np.int64)


def _optional_text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Text column as object array of str/None (None when absent or missing)."""
    if column not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    col = frame[column]
    return np.array([None if pd.isna(v) or str(v) == "" else str(v) for v in col], dtype=object)


def _check_buildings(buildings: gpd.GeoDataFrame, boundary) -> gpd.GeoDataFrame:
    """Positional working copy of the buildings: footprint, households, population, compound, site."""
    if not buildings.index.is_unique:
        dup = buildings.index[buildings.index.duplicated()][0]
        raise InputError(f"the buildings index must be unique (it keys building_atom); {dup!r} "
                         "repeats", source="buildings")
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    missing = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(missing):
        raise InputError("building has no geometry", source="buildings", row=int(missing[0]) + 1,
                         field="geometry")
    kind = shapely.get_type_id(geoms)
    points = np.isin(kind, (0, 4))
    if points.any():
        geoms = geoms.copy()
        geoms[points] = shapely.buffer(geoms[points], _POINT_FOOTPRINT / 2, cap_style="square")
    bad = np.flatnonzero(~np.isin(shapely.get_type_id(geoms), (3, 6)))
    if len(bad):
        raise InputError(f"building footprint must be a Polygon, MultiPolygon or Point, got "
                         f"{shapely.get_type(geoms[bad[0]])}", source="buildings", row=int(bad[0]) + 1,
                         field="geometry")
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid):
        logger.warning("%d building footprints are invalid (first: row %d); repaired with make_valid",
                       len(invalid), invalid[0] + 1)
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
    households = _check_count_column(buildings, "households", "buildings", required=True)
    population = _check_count_column(buildings, "population", "buildings", required=False)
    site = _optional_text(buildings, "site")
    bad_site = [i for i, v in enumerate(site) if v is not None and v not in EXCLUSIVE_SITE_KINDS]
    if bad_site:
        i = bad_site[0]
        raise InputError(f"site must be one of {sorted(EXCLUSIVE_SITE_KINDS)} or empty, got "
                         f"{site[i]!r}", source="buildings", row=i + 1, field="site")
    outside = _outside(geoms, boundary)
    if len(outside):
        raise InputError(f"{len(outside)} buildings lie outside the community boundary (is the "
                         "boundary in the same CRS as the buildings?)", source="buildings",
                         row=int(outside[0]) + 1, field="geometry")
    return gpd.GeoDataFrame({
        "households": households, "population": population,
        "compound": _text_series(_optional_text(buildings, "compound")), "site": _text_series(site),
    }, geometry=gpd.GeoSeries(geoms), crs=None)


def _outside(footprints: np.ndarray, boundary) -> np.ndarray:
    """Positions of footprints with no area inside the boundary.

    A footprint the (prepared) boundary contains is inside without an overlay; only the others,
    a few along the edge, are intersected. (Preparing caches an index on the boundary object; it
    changes nothing else about it.)
    """
    shapely.prepare(boundary)
    edge = np.flatnonzero(~shapely.contains(boundary, footprints))
    return edge[shapely.area(shapely.intersection(footprints[edge], boundary)) <= 0]


def _text_series(values) -> pd.Series:
    """Object column keeping None (pandas 3 would otherwise infer ``str`` and turn None into NaN)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _check_sites(sites: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Site polygons with kind and id (checked, repaired), in input order."""
    columns = ["kind", "id", "geometry"]
    if sites is None or len(sites) == 0:
        return pd.DataFrame(columns=columns)
    for col in ("kind", "id"):
        if col not in sites.columns:
            raise InputError(f"column '{col}' is missing", source="sites", field=col)
    kinds = _optional_text(sites, "kind")
    for i, k in enumerate(kinds):
        if k not in SITE_KINDS:
            raise InputError(f"kind must be one of {sorted(SITE_KINDS)}, got {k!r}", source="sites",
                             row=i + 1, field="kind")
    ids = _optional_text(sites, "id")
    for i, v in enumerate(ids):
        if v is None:
            raise InputError("site has no id", source="sites", row=i + 1, field="id")
    geoms = np.asarray(sites.geometry.values, dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"site outline must be a Polygon or MultiPolygon, got "
                             f"{getattr(g, 'geom_type', None)}", source="sites", row=i + 1,
                             field="geometry")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        logger.warning("%d site outlines are invalid; repaired with make_valid", int(invalid.sum()))
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
    return pd.DataFrame({"kind": _text_series(kinds), "id": _text_series(ids), "geometry": geoms})[columns]


def _barrier_lines(barriers: gpd.GeoDataFrame) -> np.ndarray:
    """Barrier geometries as an array of LineStrings (polygon barriers give their outline)."""
    if barriers is None or len(barriers) == 0:
        return np.empty(0, dtype=object)
    geoms = np.asarray(barriers.geometry.values, dtype=object)
    lines = []
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        if g.geom_type in ("Polygon", "MultiPolygon"):
            g = g.boundary
        if g.geom_type not in ("LineString", "MultiLineString", "LinearRing"):
            raise InputError(f"barrier must be a line (or polygon), got {g.geom_type}", source="barriers",
                             row=i + 1, field="geometry")
        lines.extend(shapely.get_parts(g))
    out = np.empty(len(lines), dtype=object)
    out[:] = [shapely.LineString(g.coords) for g in lines]
    return out


# --------------------------------------------------------------------------- blocks and domains


def street_blocks(boundary, lines: np.ndarray, *, snap_tolerance: float = 0.5,
                  min_area: float = 1.0) -> np.ndarray:
    """Polygonise the community with its barrier lines into street blocks.

    Parameters
    ----------
    boundary
        Community outline (metres).
    lines
        Barrier LineStrings (metres). Each is extended by ``2 × snap_tolerance`` at both ends, so
        a line stopping that short of the boundary or of another line still closes its block;
        dangles and the parts outside the boundary drop out.
    snap_tolerance
        Metres.
    min_area
        Blocks smaller than this (m²), or narrower than ``snap_tolerance`` on average (twice the
        area over the perimeter), join the neighbour sharing the longest edge.

    Returns
    -------
    numpy.ndarray
        Block polygons, an exact coverage of the boundary, ordered north to south then west to
        east by representative point (so the position is the block id).
    """
    rings = shapely.boundary(boundary)
    extended = extend_line_ends(lines, 2 * snap_tolerance)
    if len(extended):
        # Parts far outside cannot close a block; dropping them keeps noding small.
        extended = shapely.intersection(extended, shapely.buffer(boundary, 4 * snap_tolerance + 1.0))
    faces = planar_faces(np.concatenate([[rings], extended]))
    faces = faces[_inside_faces(faces, shapely.point_on_surface(faces), boundary)]
    segments = face_segments(faces)
    labels = merge_slivers(segments, shapely.area(faces), np.arange(len(faces)), min_area=min_area,
                           min_width=snap_tolerance)
    _, labels = np.unique(labels, return_inverse=True)
    blocks = dissolve_faces(faces, labels, labels.max() + 1)
    return blocks[_north_west_order(blocks)]


def _inside_faces(faces: np.ndarray, points: np.ndarray, boundary) -> np.ndarray:
    """Which faces of an arrangement lie inside the community.

    A face well inside is judged by its representative point; a face touching the outline by
    whether most of its area is inside, because a line running a grid step outside the outline
    can join a sliver outside to a face inside through a gap the width of the grid.
    """
    # The outline cut into its straight pieces, in a tree: only faces whose box meets a piece's
    # are measured (one whole-outline distance per face cost more than everything else here).
    coords, ring = shapely.get_coordinates(shapely.get_parts(shapely.boundary(boundary)), return_index=True)
    same = np.flatnonzero(ring[:-1] == ring[1:])
    pieces = shapely.linestrings(np.stack([coords[same], coords[same + 1]], axis=1))
    near = np.zeros(len(faces), dtype=bool)
    near[shapely.STRtree(pieces).query(faces, predicate="dwithin", distance=10 * GRID_SIZE)[0]] = True
    inside = shapely.contains(boundary, points)
    if near.any():
        share = shapely.area(shapely.intersection(faces[near], boundary))
        inside[near] = share > 0.5 * shapely.area(faces[near])
    return inside


def _north_west_order(geoms: np.ndarray, first_key: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted by (first_key,) representative point y descending, then x ascending."""
    pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
    keys = [np.round(pts[:, 0], 3), -np.round(pts[:, 1], 3)]
    if first_key is not None:
        keys.append(first_key)
    return np.lexsort(keys)


def _domains(boundary, blocks: np.ndarray, site_tab: pd.DataFrame, snap_tolerance: float,
             min_area: float) -> pd.DataFrame:
    """Connected pieces that are tessellated on their own: site parts and block remainders.

    Sites are carved in order (exclusive before compounds, then smaller first, so a site drawn
    inside another keeps its own outline), after snapping to the block edges within
    ``snap_tolerance``. The pieces are then read off one snap-rounded arrangement of block edges
    and site outlines — not from overlay results — so they are an exact coverage on the same grid
    as the final faces: a neck narrower than the grid separates two domains here exactly as it
    will separate their faces later. Slivers (under ``min_area`` m², or thinner than
    ``snap_tolerance`` on average) are merged now, before buildings are assigned, so that "the
    domain holding most of a building" is judged on the final shapes.

    Returns
    -------
    pandas.DataFrame
        Columns kind ('site' | 'compound' | 'rest'), site (kind), site_id, compound, block (the
        block holding most of the piece), geometry (Polygon).
    """
    taken = shapely.Polygon()
    order = pd.DataFrame({
        "residential": site_tab["kind"].to_numpy() == RESIDENTIAL_COMPOUND,
        "area": shapely.area(shapely.intersection(site_tab["geometry"].to_numpy(), boundary))
        if len(site_tab) else np.empty(0),
        "id": site_tab["id"].to_numpy(), "row": np.arange(len(site_tab)),
    }).sort_values(["residential", "area", "id", "row"], kind="stable")
    carved, carved_sites = [], []
    ordered = site_tab.iloc[order.index]
    # Snapping to the block edges removes thin strips between a site and its road.
    snapped = ordered["geometry"].to_numpy()
    if snap_tolerance > 0 and len(ordered):
        snapped = _snap_to_edges(snapped, shapely.union_all(shapely.boundary(blocks)), snap_tolerance)
    for site, geom in zip(ordered.itertuples(index=False), snapped, strict=True):
        geom = _polygonal(shapely.make_valid(geom))
        geom = _polygonal(shapely.difference(shapely.intersection(geom, boundary), taken))
        if geom.is_empty or geom.area < min_area:
            logger.warning("site %s (%s) has no area inside the community after carving; ignored",
                           site.id, site.kind)
            continue
        taken = shapely.union(taken, geom)
        carved.append(geom)
        carved_sites.append(site)
    carved = np.asarray(carved, dtype=object) if carved else np.empty(0, dtype=object)

    faces = planar_faces(np.concatenate([shapely.boundary(blocks), shapely.boundary(carved)]))
    pts = shapely.point_on_surface(faces)
    inside = _inside_faces(faces, pts, boundary)
    faces, pts = faces[inside], pts[inside]
    n_sites = len(carved)
    face_block = _containing(pts, blocks)
    face_site = _containing(pts, carved, nearest=False)
    key = np.where(face_site >= 0, face_site, n_sites + face_block)
    segments = face_segments(faces)
    pa, pb, plen = shared_lengths(segments, np.arange(len(faces)))
    piece = label_components(len(faces), pa, pb, plen, key, min_length=0.0)
    area = shapely.area(faces)
    piece = merge_slivers(segments, area, piece, min_area=min_area, min_width=snap_tolerance)
    present, piece = np.unique(piece, return_inverse=True)
    geoms = dissolve_faces(faces, piece, len(present))
    # A piece is the site (or block rest) holding most of its area (slivers merged into it keep
    # their own key), and its block the block holding most of it.
    main_key, main_block = _majority(piece, key, area), _majority(piece, face_block, area)
    rows = []
    for p, k in enumerate(main_key):
        if k < n_sites:
            site = carved_sites[k]
            compound = site.kind == RESIDENTIAL_COMPOUND
            rows.append({"kind": "compound" if compound else "site",
                         "site": None if compound else site.kind,
                         "site_id": None if compound else site.id,
                         "compound": site.id if compound else None})
        else:
            rows.append({"kind": "rest", "site": None, "site_id": None, "compound": None})
        rows[-1].update(block=int(main_block[p]), geometry=geoms[p])
    frame = pd.DataFrame(rows, columns=["kind", "site", "site_id", "compound", "block", "geometry"],
                         dtype=object)
    return frame.astype({"block": np.int64})


def _snap_to_edges(geoms: np.ndarray, edges, tolerance: float) -> np.ndarray:
    """``shapely.snap(g, edges, tolerance)`` for each of ``geoms``, each snapped only to the vertices near it.

    GEOS snaps to the distinct vertices of the target in the order it first meets them, testing
    every one against every vertex and segment of the source: with the whole community's block
    edges as target that was most of the domains' time. A target vertex farther than the
    tolerance from the source as it stands does nothing, and the source only ever moves onto
    target vertices, so it never leaves the box of its own outline and the target vertices
    within the tolerance of it (grown until no more join). Every vertex outside that box, plus
    a margin, is dropped and the rest keep their order, so each result is the same geometry.
    """
    coords = shapely.get_coordinates(edges)
    _, first = np.unique(coords, axis=0, return_index=True)
    pts = coords[np.sort(first)]  # distinct, in first-seen order (as GEOS lists them)
    margin = 2.0 * tolerance  # wider than needed: a vertex kept in excess changes nothing
    targets = np.empty(len(geoms), dtype=object)
    for i, box in enumerate(shapely.bounds(geoms)):
        while True:
            near = ((pts[:, 0] >= box[0] - margin) & (pts[:, 0] <= box[2] + margin)
                    & (pts[:, 1] >= box[1] - margin) & (pts[:, 1] <= box[3] + margin))
            grown = box.copy()
            if near.any():
                grown[:2] = np.minimum(box[:2], pts[near].min(axis=0))
                grown[2:] = np.maximum(box[2:], pts[near].max(axis=0))
            if np.array_equal(grown, box):
                break
            box = grown
        targets[i] = shapely.multipoints(pts[near]) if near.any() else shapely.MultiPoint()
    return shapely.snap(geoms, targets, tolerance)


def _majority(piece: np.ndarray, values: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Per piece 0..P-1, the value its faces hold most area with (ties: the smallest value)."""
    return _top_value(piece, values, area)[1]


def _top_value(owner: np.ndarray, values: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each owner present (ascending), the value with the largest summed weight (ties: the smallest value).

    Array sorts where a pandas groupby and sort cost a few milliseconds a call for a few hundred rows.
    """
    owner, values = np.asarray(owner, dtype=np.int64), np.asarray(values, dtype=np.int64)
    order = np.lexsort((values, owner))
    owner, values, weight = owner[order], values[order], np.asarray(weight, dtype=float)[order]
    new = np.ones(len(owner), dtype=bool)
    new[1:] = (owner[1:] != owner[:-1]) | (values[1:] != values[:-1])
    starts = np.flatnonzero(new)
    total = np.add.reduceat(weight, starts) if len(starts) else np.empty(0)
    owner, values = owner[starts], values[starts]
    best = np.lexsort((values, -total, owner))
    first = best[run_starts(owner[best])]
    return owner[first], values[first]


def _containing(points: np.ndarray, polygons: np.ndarray, *, nearest: bool = True) -> np.ndarray:
    """Position of the first polygon containing each point (-1, or the nearest, when none)."""
    result = np.full(len(points), -1, dtype=np.int64)
    if not len(polygons) or not len(points):
        return result
    tree = shapely.STRtree(polygons)
    pi, gi = tree.query(points, predicate="within")
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = run_starts(pi)
    result[pi[first]] = gi[first]
    missing = np.flatnonzero(result < 0)
    if nearest and len(missing):
        result[missing] = tree.query_nearest(points[missing], all_matches=False)[1]
    return result


def _building_domains(footprints: np.ndarray, domains: np.ndarray) -> np.ndarray:
    """Domain holding most of each building's area (ties: the earlier domain, i.e. sites first)."""
    tree = shapely.STRtree(domains)
    bi, di = tree.query(footprints, predicate="intersects")
    # A building meeting one domain only is that domain's whatever the area, so only buildings
    # meeting several are measured (an overlay each, most of this step's time otherwise).
    several = np.bincount(bi, minlength=len(footprints))[bi] > 1
    area = np.zeros(len(bi))
    area[several] = shapely.area(shapely.intersection(footprints[bi[several]], domains[di[several]]))
    order = np.lexsort((di, -area, bi))
    bi, di = bi[order], di[order]
    first = run_starts(bi)
    result = np.full(len(footprints), -1, dtype=np.int64)
    result[bi[first]] = di[first]
    lost = np.flatnonzero(result < 0)
    if len(lost):
        # Only in slivers too small to be domains: take the nearest domain.
        result[lost] = tree.query_nearest(footprints[lost], all_matches=False)[1]
    return result


def _cell_groups(bld: gpd.GeoDataFrame) -> np.ndarray:
    """Cell of each building: buildings overlapping by more than a tenth, or crossing, share one.

    Two footprints that overlap that much (duplicates, a building part over its podium, bad
    digitising) cannot each lie mostly in a cell of its own, so they share one rather than being
    cut. Returns, per building, the position of the first building of its group.
    """
    n = len(bld)
    fp = np.asarray(bld.geometry.values, dtype=object)
    dom = bld["domain"].to_numpy()
    i, j = shapely.STRtree(fp).query(fp, predicate="intersects")
    keep = (i < j) & (dom[i] == dom[j])
    i, j = i[keep], j[keep]
    if len(i):
        overlap = shapely.area(shapely.intersection(fp[i], fp[j]))
        some = overlap > 0
        i, j, overlap = i[some], j[some], overlap[some]
        smaller = np.minimum(shapely.area(fp[i]), shapely.area(fp[j]))
        # Crossing footprints (one cuts the other in two) are grouped however small the overlap:
        # a cell boundary between them would leave one building in two pieces.
        group = ((overlap > _OVERLAP_SHARE * smaller) | _cuts_in_two(fp[i], fp[j])
                 | _cuts_in_two(fp[j], fp[i]))
        i, j = i[group], j[group]
    comp = connected_labels(n, i, j)
    first = np.full(comp.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(n))
    grouped = int((first[comp] != np.arange(n)).sum())
    if grouped:
        logger.warning("%d buildings overlap another by more than %d%% and share its cell", grouped,
                       round(100 * _OVERLAP_SHARE))
    return first[comp]


def _cuts_in_two(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether removing ``b`` leaves ``a`` in two or more pieces of real size (> 1 % of ``a``)."""
    rest = shapely.difference(a, b)
    parts, owner = shapely.get_parts(rest, return_index=True)
    big = shapely.area(parts) > 0.01 * shapely.area(a)[owner]
    return np.bincount(owner[big], minlength=len(a)) >= 2


@dataclass(frozen=True)
class Generators:
    """Voronoi generators of the building cells.

    ``coords`` are distinct points (n, 2) in metres, ``cell`` and ``domain`` the cell (building
    position) and domain of each; per building, ``cores`` is the part of its footprint in its domain
    and ``anchors`` a point inside that part.
    """

    coords: np.ndarray
    cell: np.ndarray
    domain: np.ndarray
    anchors: np.ndarray
    cores: np.ndarray


def _generator_points(bld: gpd.GeoDataFrame, domains: pd.DataFrame) -> Generators:
    """Points sampled along each building's shrunk outline, clipped to its domain."""
    fp = np.asarray(bld.geometry.values, dtype=object)
    dom = np.asarray(domains.geometry.values, dtype=object)[bld["domain"].to_numpy()]
    shapely.prepare(dom)
    straddle = ~shapely.covers(dom, fp)
    whole = fp
    fp = fp.copy()
    fp[straddle] = shapely.intersection(fp[straddle], dom[straddle])
    shrunk = shapely.buffer(fp, -_SHRINK, join_style="mitre")
    # A footprint narrower than twice the shrink would collapse to nothing; a single point in its
    # place would lose the building's ends to its neighbours, so shrink less, or not at all.
    for distance in (_SHRINK / 4, 0.0):
        collapsed = shapely.is_empty(shrunk) | (shapely.area(shrunk) <= 0)
        if not collapsed.any():
            break
        shrunk[collapsed] = shapely.buffer(fp[collapsed], -distance, join_style="mitre") if distance \
            else fp[collapsed]
    still = shapely.is_empty(shrunk)
    if still.any():  # no area in its domain (only in a sliver): the domain point nearest to it
        shrunk[still] = shapely.get_point(shapely.shortest_line(dom[still], whole[still]), 0)
    outline = shapely.segmentize(shapely.boundary(shrunk), _SEGMENT)
    point_like = shapely.get_type_id(shrunk) == 0
    outline[point_like] = shrunk[point_like]
    coords, owner = shapely.get_coordinates(outline, return_index=True)
    anchors = shapely.point_on_surface(shrunk)
    cores = fp.copy()
    cores[~np.isin(shapely.get_type_id(cores), (3, 6))] = shapely.Polygon()
    cell = bld["cell"].to_numpy()[owner]
    point_domain = bld["domain"].to_numpy()[owner]
    # Identical points (touching or overlapping outlines) make Voronoi degenerate: keep the first.
    key = np.rint(coords / GRID_SIZE).astype(np.int64)
    first = np.flatnonzero(~pd.DataFrame({"d": point_domain, "x": key[:, 0], "y": key[:, 1]}).duplicated())
    return Generators(coords[first], cell[first], point_domain[first], anchors, cores)


def _cells_per_domain(cell: np.ndarray, point_domain: np.ndarray, n_domains: int) -> np.ndarray:
    """Number of distinct cells with generator points in each domain."""
    width = int(cell.max()) + 1 if len(cell) else 1
    pairs = np.unique(point_domain.astype(np.int64) * width + cell)
    return np.bincount(pairs // width, minlength=n_domains)


def _cell_ridges(generators: Generators, domains: pd.DataFrame, building_domain: np.ndarray) -> np.ndarray:
    """Voronoi ridges between the cells of each domain, clipped just beyond the domain.

    Ridges inside footprints are cut away (footprints are whole in their cell anyway): between
    buildings sharing a wall they zigzag across it and would only make slivers. Every domain is
    handled at once (one triangulation, array operations), not domain by domain.
    """
    coords, owner, point_domain = generators.coords, generators.cell, generators.domain
    bld_count = _cells_per_domain(owner, point_domain, len(domains))
    multi = np.flatnonzero(bld_count >= 2)
    if not len(multi):
        return np.empty(0, dtype=object)
    use = bld_count[point_domain] >= 2
    regions = np.asarray(domains.geometry.to_numpy(), dtype=object)[multi]
    ridges = grouped_voronoi_ridges(coords[use], owner[use], np.searchsorted(multi, point_domain[use]),
                                    shapely.bounds(regions))
    margin = max(10 * GRID_SIZE, 0.05)
    # Chains of collinear Voronoi edges carry no shape: a 5 cm simplification (ends kept, so
    # junctions stay joined) cuts the noding work several-fold.
    merged = shapely.simplify(shapely.line_merge(ridges), 0.05, preserve_topology=False)
    # Overshoot the domain and the footprints slightly so the ridges are noded with their
    # edges, not left a rounding error short of them (which would leave two cells as one face).
    clipped = shapely.intersection(merged, shapely.buffer(regions, margin))
    inner = shapely.buffer(_cores_by_domain(generators.cores, building_domain, multi), -margin)
    out = shapely.difference(clipped, inner)
    return out[~shapely.is_empty(out)]


def _cores_by_domain(cores: np.ndarray, building_domain: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Union of the building cores of each domain in ``wanted`` (sorted), as an array."""
    pos = np.searchsorted(wanted, building_domain)
    mine = (pos < len(wanted)) & (wanted[np.minimum(pos, len(wanted) - 1)] == building_domain)
    mine &= ~shapely.is_empty(cores)
    # Cores of one domain may overlap (slightly overlapping buildings): a real union, not a coverage one.
    return dissolve_faces(cores, np.where(mine, pos, -1), len(wanted), union=shapely.union_all)


# --------------------------------------------------------------------------- faces and labels


def _face_places(pts: np.ndarray, domains: pd.DataFrame, blocks: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Domain (-1 when none) and block of each face, from its representative point ``pts``."""
    face_domain = _containing(pts, np.asarray(domains.geometry.to_numpy(), dtype=object), nearest=False)
    return face_domain, _containing(pts, blocks)


def _label_faces(face_points: np.ndarray, face_domain: np.ndarray, bld: gpd.GeoDataFrame,
                 domains: pd.DataFrame, generators: Generators) -> tuple[np.ndarray, pd.DataFrame]:
    """Label each face with its cell: the cell's first building, or one label per empty domain.

    Returns labels per face (-1: in no domain) and the label table (domain, building or -1),
    whose row number is the label.
    """
    n_bld = len(bld)
    bld_domain = bld["domain"].to_numpy()
    coords, owner, point_domain = generators.coords, generators.cell, generators.domain
    bld_count = _cells_per_domain(owner, point_domain, len(domains))
    empty_domains = np.flatnonzero(bld_count == 0)
    empty_label = np.full(len(domains), -1, dtype=np.int64)
    empty_label[empty_domains] = n_bld + np.arange(len(empty_domains))
    label_tab = pd.DataFrame({
        "domain": np.r_[bld_domain, empty_domains].astype(np.int64),
        "building": np.r_[np.arange(n_bld), np.full(len(empty_domains), -1)].astype(np.int64),
    })
    labels = np.full(len(face_points), -1, dtype=np.int64)
    has = face_domain >= 0
    labels[has] = empty_label[face_domain[has]]
    single = has & (bld_count[np.maximum(face_domain, 0)] == 1)
    only = np.full(len(domains), -1, dtype=np.int64)
    only[point_domain] = owner  # meaningful where the domain has exactly one cell
    labels[single] = only[face_domain[single]]
    multi = np.flatnonzero(has & (bld_count[np.maximum(face_domain, 0)] >= 2))
    if len(multi):
        labels[multi] = owner[_nearest_of_domain(shapely.get_coordinates(face_points[multi]), face_domain[multi],
                                                 coords, point_domain)]
        # A face inside a building's footprint (in the building's domain) is that building's,
        # whichever generator is nearest; where footprints of two cells overlap, the first wins.
        fi, bi = shapely.STRtree(generators.cores).query(face_points[multi], predicate="within")
        ok = face_domain[multi[fi]] == bld_domain[bi]
        fi, bi = fi[ok], bi[ok]
        order = np.lexsort((bi, fi))
        fi, bi = fi[order], bi[order]
        first = run_starts(fi)
        labels[multi[fi[first]]] = bld["cell"].to_numpy()[bi[first]]
    return labels, label_tab


def _nearest_of_domain(points: np.ndarray, point_domain: np.ndarray, generators: np.ndarray,
                       generator_domain: np.ndarray) -> np.ndarray:
    """Position of the nearest generator of the same domain, for each point: one small tree per domain.

    (One tree over every domain, moved apart, costs twice as much: building a Point per generator
    dominates, and a domain's tree only needs its own.)
    """
    out = np.full(len(points), -1, dtype=np.int64)
    order = np.argsort(generator_domain, kind="stable")
    start = np.searchsorted(generator_domain[order], np.arange(int(generator_domain.max(initial=-1)) + 2))
    for d in np.unique(point_domain):
        pick = order[start[d]:start[d + 1]]
        mine = np.flatnonzero(point_domain == d)
        tree = shapely.STRtree(shapely.points(generators[pick]))
        out[mine] = pick[tree.query_nearest(shapely.points(points[mine]), all_matches=False)[1]]
    return out


def _settle_labels(faces: np.ndarray, segments: Segments, labels: np.ndarray, label_tab: pd.DataFrame,
                   anchors: np.ndarray) -> np.ndarray:
    """Make every label one connected piece.

    A label's main piece is the one holding its building's anchor point (else its largest piece).
    Every other piece, and every face in no domain (rounding gaps between carved outlines), joins
    the neighbouring label sharing the longest edge, preferring one of the same domain. Slivers
    were already merged at the domain level (:func:`_domains`).
    """
    labels = labels.copy()
    n = len(faces)
    area = shapely.area(faces)
    pa, pb, plen = shared_lengths(segments, np.arange(n))
    label_domain = label_tab["domain"].to_numpy()
    # Anchor face: the face holding the building's representative point inside its domain.
    anchor = np.full(len(label_tab), -1, dtype=np.int64)
    if len(anchors):
        fi_b, fi_f = shapely.STRtree(faces).query(anchors, predicate="within")
        anchor[fi_b] = fi_f
    # Each round merges every bad piece that has a good neighbour into it (or, failing that, one
    # bad piece into a labelled neighbour), so the number of pieces falls and the loop ends.
    for _round in range(n + 1):
        # Any shared length (even under the 1 cm adjacency threshold) keeps a union in one piece.
        comp = label_components(n, pa, pb, plen, labels, min_length=0.0)
        n_comp = comp.max() + 1 if n else 0
        comp_label = np.full(n_comp, -1, dtype=np.int64)
        comp_label[comp] = labels
        comp_area = np.bincount(comp, weights=area, minlength=n_comp)
        # Main piece per label.
        main = np.full(len(label_tab), -1, dtype=np.int64)
        valid = comp_label >= 0
        cids = np.flatnonzero(valid)
        order = np.lexsort((cids, -comp_area[cids], comp_label[cids]))
        cids = cids[order]
        firsts = run_starts(comp_label[cids])
        main[comp_label[cids[firsts]]] = cids[firsts]
        anchored = anchor >= 0
        ok_anchor = anchored.copy()
        ok_anchor[anchored] = labels[anchor[anchored]] == np.flatnonzero(anchored)
        main[ok_anchor] = comp[anchor[ok_anchor]]
        is_main = np.zeros(n_comp, dtype=bool)
        is_main[main[main >= 0]] = True
        bad = ~valid | ~is_main
        logger.debug("settle round %d: %d pieces to move (%d in no domain)", _round, int(bad.sum()),
                     int((~valid).sum()))
        if not bad.any():
            break
        # Candidate targets: neighbouring good pieces.
        ca, cb = comp[pa], comp[pb]
        src = np.r_[ca, cb]
        dst = np.r_[cb, ca]
        length = np.r_[plen, plen]
        m = bad[src] & ~bad[dst] & (src != dst)
        if not m.any():
            # Only bad neighbours: move the one bad piece with the longest edge to a labelled
            # neighbour (moving all at once could swap two pieces forever).
            m = bad[src] & (comp_label[dst] >= 0) & (src != dst)
            if not m.any():
                # An island with no labelled neighbour (a part of a multi-part community smaller
                # than min_area): nothing to merge it into, it stays as it is.
                logger.warning("%d pieces have no neighbour to merge into", int(bad.sum()))
                break
            candidates = np.flatnonzero(m)
            m = np.zeros_like(m)
            m[candidates[np.argmax(length[candidates])]] = True
        src, dst, length = src[m], dst[m], length[m]
        target = comp_label[dst]
        same = (label_domain[target] == np.where(comp_label[src] >= 0,
                                                 label_domain[np.maximum(comp_label[src], 0)], -2))
        tab = pd.DataFrame({"src": src, "target": target, "same": same, "length": length})
        tab = tab.groupby(["src", "target"], sort=True).agg(same=("same", "first"),
                                                             length=("length", "sum")).reset_index()
        tab = tab.sort_values(["src", "same", "length", "target"], ascending=[True, False, False, True],
                              kind="stable").drop_duplicates("src")
        new_label = comp_label.copy()
        new_label[tab["src"].to_numpy()] = tab["target"].to_numpy()
        labels = new_label[comp]
    return _label_orphans(faces, labels)


def _label_orphans(faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Faces in no domain and with no labelled neighbour take the nearest label rather than none.

    Only possible in a detached part of the community that holds no domain.
    """
    orphans = np.flatnonzero(labels < 0)
    if len(orphans):
        owned = np.flatnonzero(labels >= 0)
        if not len(owned):
            raise GisError("no face of the community could be labelled; is the boundary degenerate?")
        nearest = shapely.STRtree(faces[owned]).query_nearest(faces[orphans], all_matches=False)[1]
        labels[orphans] = labels[owned[nearest]]
        logger.warning("%d faces in no domain took the nearest label", len(orphans))
    return labels


# --------------------------------------------------------------------------- assembly


def _assemble(faces, segments: Segments, labels: np.ndarray, label_tab: pd.DataFrame,
              face_block: np.ndarray, bld: gpd.GeoDataFrame, domains: pd.DataFrame,
              barrier_lines: np.ndarray, crs, building_index: pd.Index, max_households: int,
              snap_tolerance: float) -> AtomLayer:
    """Parcels from settled face labels, atoms from groups of parcels, and both adjacencies."""
    area = shapely.area(faces)
    # Parcels: the labels that kept faces, renumbered densely.
    present = np.unique(labels[labels >= 0])
    dense = np.full(len(label_tab), -1, dtype=np.int64)
    dense[present] = np.arange(len(present))
    face_parcel = dense[labels]
    n_parcels = len(present)
    building_parcel = _building_parcels(bld, dense, faces, face_parcel)
    p_hh, p_pop, p_nb = (np.bincount(building_parcel, weights=w, minlength=n_parcels).astype(np.int64)
                         for w in (bld["households"].to_numpy(), bld["population"].to_numpy(), None))
    groups = _parcel_groups(label_tab["domain"].to_numpy()[present], label_tab["building"].to_numpy()[present],
                            domains, bld)
    # Parcel adjacency; atoms are connected groups of same-group parcels.
    pa, pb, plen = shared_lengths(segments, face_parcel)
    strong = plen > MIN_SHARED_LENGTH
    piece = label_components(n_parcels, pa[strong], pb[strong], plen[strong], groups.group)
    parcel_atom_key, atom_kind, atom_compound, atom_site, atom_site_id = _atom_keys(groups, piece, p_hh,
                                                                                   max_households)
    n_atoms = len(atom_kind)
    face_atom_key = parcel_atom_key[face_parcel]
    atom_block = _atom_blocks(face_atom_key, face_block, area, n_atoms)

    # Geometry and deterministic numbering: block, then north to south, west to east.
    atom_geom = dissolve_faces(faces, face_atom_key, n_atoms)
    atom_order = _north_west_order(atom_geom, atom_block)
    atom_id = np.empty(n_atoms, dtype=np.int64)
    atom_id[atom_order] = np.arange(n_atoms)
    parcel_atom = atom_id[parcel_atom_key]
    parcel_geom = dissolve_faces(faces, face_parcel, n_parcels)
    parcel_order = _north_west_order(parcel_geom, parcel_atom)
    parcel_id = np.empty(n_parcels, dtype=np.int64)
    parcel_id[parcel_order] = np.arange(n_parcels)
    face_atom = atom_id[face_atom_key]
    face_parcel_id = parcel_id[face_parcel]

    a_hh, a_pop, a_nb = (np.bincount(parcel_atom, weights=w, minlength=n_atoms).astype(np.int64)
                         for w in (p_hh, p_pop, p_nb))
    inv = atom_order
    # Frames built from their columns, geometry included: geopandas' ``geometry=`` keyword and a
    # column selection afterwards cost more than the columns themselves.
    atoms = _frame(_ATOM_COLUMNS, [
        np.arange(n_atoms, dtype=np.int64), np.array(atom_kind, dtype=object)[inv], a_hh, a_pop, a_nb,
        _text_series(np.array(atom_site, dtype=object)[inv]), _text_series(np.array(atom_site_id, dtype=object)[inv]),
        _text_series(np.array(atom_compound, dtype=object)[inv]), atom_block[inv], atom_geom[inv]], crs)
    pinv = parcel_order
    parcels = _frame(_PARCEL_COLUMNS, [
        np.arange(n_parcels, dtype=np.int64), parcel_atom[pinv], p_hh[pinv], p_pop[pinv], p_nb[pinv],
        _text_series(np.array(groups.compounds, dtype=object)[pinv]), parcel_geom[pinv]], crs)

    # Adjacency, with the barrier share measured only where two parcels meet.
    la, lb = segments.relabel(face_parcel_id)
    between = (la >= 0) & (lb >= 0) & (la != lb)
    on_barrier = np.zeros(len(la))
    on_barrier[between] = on_line_lengths(segments.coords[between], barrier_lines, snap_tolerance)
    outer = pd.Series(outer_lengths(segments, face_atom, n_atoms), index=pd.RangeIndex(n_atoms),
                      name="outer_length")
    return AtomLayer(
        atoms=atoms, edges=_edge_frame(segments, face_atom, on_barrier), parcels=parcels,
        parcel_edges=_edge_frame(segments, face_parcel_id, on_barrier),
        building_atom=pd.Series(parcel_atom[building_parcel], index=building_index, name="atom_id",
                                dtype=np.int64),
        building_parcel=pd.Series(parcel_id[building_parcel], index=building_index, name="parcel_id",
                                  dtype=np.int64),
        outer_length=outer,
    )


def _frame(columns: list[str], values: list, crs) -> gpd.GeoDataFrame:
    """GeoDataFrame of ``columns`` (the last one ``geometry``, given as an array of shapes) in ``crs``."""
    data = dict(zip(columns, values, strict=True))
    data["geometry"] = from_shapely(data["geometry"], crs=crs)
    return gpd.GeoDataFrame(pd.DataFrame(data), geometry="geometry")


def _building_parcels(bld: gpd.GeoDataFrame, dense: np.ndarray, faces: np.ndarray, face_parcel: np.ndarray
                      ) -> np.ndarray:
    """Parcel of each building, through its cell.

    A cell that vanished (all its generator points shared with another cell) goes to the parcel
    holding its representative point.
    """
    if not len(bld):
        return np.empty(0, dtype=np.int64)
    building_parcel = dense[bld["cell"].to_numpy()]
    lost = np.flatnonzero(building_parcel < 0)
    if len(lost):
        logger.warning("%d buildings have no cell of their own; each joins the parcel under its "
                       "representative point", len(lost))
        pts = shapely.point_on_surface(np.asarray(bld.geometry.values, dtype=object)[lost])
        _, nearest = shapely.STRtree(faces).query_nearest(pts, all_matches=False)
        building_parcel[lost] = face_parcel[nearest]
    return building_parcel


@dataclass
class _ParcelGroups:
    """Per parcel: what kind of land it is and the group it may be merged with into one atom."""

    kinds: list
    compounds: list
    sites: list
    site_ids: list
    group: np.ndarray


def _parcel_groups(parcel_domain: np.ndarray, parcel_building: np.ndarray, domains: pd.DataFrame,
                   bld: gpd.GeoDataFrame) -> _ParcelGroups:
    """Kind, compound, site and merge group of every parcel, from its domain and its building."""
    dom_kind = domains["kind"].to_numpy()
    dom_site, dom_site_id = domains["site"].to_numpy(), domains["site_id"].to_numpy()
    dom_compound, dom_block = domains["compound"].to_numpy(), domains["block"].to_numpy()
    b_compound = bld["compound"].to_numpy()
    b_site = bld["site"].to_numpy()
    rows = []  # (kind, compound, site, site id, group key)
    for d, b in zip(parcel_domain.tolist(), parcel_building.tolist(), strict=True):
        dk = dom_kind[d]
        if dk == "site":
            rows.append(("site", None, dom_site[d], dom_site_id[d], ("site", dom_site_id[d])))
        elif dk == "compound":
            rows.append(("compound", dom_compound[d], None, None, ("compound", dom_compound[d])))
        elif b >= 0 and b_site[b] is not None:
            key = ("bsite", b_site[b], b_compound[b] if b_compound[b] is not None else b)
            rows.append(("site", None, b_site[b], None, key))
        elif b >= 0 and b_compound[b] is not None:
            rows.append(("compound", b_compound[b], None, None, ("compound", b_compound[b])))
        else:
            rows.append(("block", None, None, None, ("rest", int(dom_block[d]))))
    kinds, compounds, sites, site_ids, keys = (list(col) for col in zip(*rows, strict=True)) if rows else \
        ([], [], [], [], [])
    _, group = np.unique(np.array([repr(k) for k in keys]), return_inverse=True)
    return _ParcelGroups(kinds, compounds, sites, site_ids, np.asarray(group).reshape(-1))


def _atom_keys(groups: _ParcelGroups, piece: np.ndarray, p_hh: np.ndarray, max_households: int
               ) -> tuple[np.ndarray, list, list, list, list]:
    """Atom of each parcel: its whole piece of a group, or the parcel alone when the piece is too big.

    A compound stays whole (all its buildings, every block) when its total is within
    ``max_households``; other pieces when theirs is. Returns the atom number of each parcel and,
    per atom, its kind, compound, site and site id.
    """
    kinds, compounds = groups.kinds, groups.compounds
    compound_hh: dict[str, int] = {}
    for p, kind in enumerate(kinds):
        if kind == "compound":
            compound_hh[compounds[p]] = compound_hh.get(compounds[p], 0) + int(p_hh[p])
    piece_hh = np.bincount(piece, weights=p_hh).astype(np.int64)
    parcel_atom_key = np.empty(len(kinds), dtype=np.int64)
    atom_kind, atom_compound, atom_site, atom_site_id = [], [], [], []
    key_of: dict[tuple, int] = {}
    for p, k in enumerate(kinds):
        if k == "site":
            whole = True
        elif k == "compound":
            whole = compound_hh[compounds[p]] <= max_households
        else:
            whole = piece_hh[piece[p]] <= max_households
        key = ("piece", int(piece[p])) if whole else ("parcel", p)
        if key not in key_of:
            key_of[key] = len(key_of)
            atom_kind.append(k if whole else "parcel")
            atom_compound.append(compounds[p])
            atom_site.append(groups.sites[p] if whole else None)
            atom_site_id.append(groups.site_ids[p] if whole else None)
        parcel_atom_key[p] = key_of[key]
    return parcel_atom_key, atom_kind, atom_compound, atom_site, atom_site_id


def _atom_blocks(face_atom_key: np.ndarray, face_block: np.ndarray, area: np.ndarray, n_atoms: int) -> np.ndarray:
    """Block of each atom: the block holding most of its area."""
    atom_block = np.zeros(n_atoms, dtype=np.int64)
    atoms, blocks = _top_value(face_atom_key, face_block, area)
    atom_block[atoms] = blocks
    return atom_block


def _edge_frame(segments: Segments, face_labels: np.ndarray, on_barrier: np.ndarray) -> pd.DataFrame:
    """Adjacent pairs a < b with shared and on-barrier length (metres); contacts ≤ 1 cm dropped."""
    a, b, length = shared_lengths(segments, face_labels)
    _, _, barrier = shared_lengths(segments, face_labels, weights=on_barrier)
    keep = length > MIN_SHARED_LENGTH
    frame = pd.DataFrame({"a": a[keep].astype(np.int64), "b": b[keep].astype(np.int64),
                          "length": length[keep].astype(float),
                          "barrier_length": np.minimum(barrier[keep], length[keep]).astype(float)})
    return frame.reset_index(drop=True)[_EDGE_COLUMNS]
