"""From base data to a coded division of one community: atoms → grids → micro-grids → codes → quality.

This is the one place that strings the engine's steps together; ``wangge divide-file`` and the
database-backed ``wangge divide`` both call :func:`divide_community`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from geopandas.array import from_shapely

from gis.atoms import AtomLayer, build_atoms
from gis.codes import assign_codes, micro_codes, order_grids
from gis.crs import metric_crs_for_frame
from gis.errors import InputError
from gis.io import write_layers
from gis.microgrids import divide_micro
from gis.partition import Band, Division, Finding, PartitionSettings, divide
from gis.quality import division_quality, grid_quality
from gis.tessellation import dissolve_faces
from gis.units import UnitSplit, previous_by_piece, split_by_units

log = logging.getLogger(__name__)

BANDS = {"urban": Band.urban, "rural": Band.rural}


@dataclass(frozen=True)
class CommunityDivision:
    """Everything the engine made for one community (all frames in the metric CRS used)."""

    community_code: str
    kind: str
    band: Band
    atoms: AtomLayer
    division: Division
    grid_codes: pd.Series  # grid label -> 15-digit code
    micro_labels: pd.Series  # parcel_id -> micro label
    micro_grids: gpd.GeoDataFrame  # one row per micro-grid: label, code, grid_code, households, geometry
    quality: pd.DataFrame  # per grid
    summary: dict
    findings: list[Finding]
    units: UnitSplit | None = None  # buildings as tessellated: towers over the band maximum cut into units
    crs: pyproj.CRS | None = None  # the metric CRS the frames are in (each community has its own zone)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage: atoms, partition, micro, ...


def divide_community(boundary: shapely.Geometry, barriers: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                     sites: gpd.GeoDataFrame | None = None, *, community_code: str, kind: str = "urban",
                     band: Band | None = None, micro_band: Band | None = None, seed: int = 0,
                     previous_codes: dict | None = None, retired_codes: frozenset = frozenset()
                     ) -> CommunityDivision:
    """Divide one community (all inputs in one projected metric CRS).

    Parameters
    ----------
    boundary
        The community polygon (metres).
    barriers, buildings, sites
        See :func:`gis.atoms.build_atoms`; ``buildings`` may also carry ``units`` (单元 count): a
        building over the band maximum is cut into its units first (:func:`gis.units.split_by_units`),
        so ``atoms.building_atom`` is keyed by the index of ``units.pieces``, whose ``building``
        column names the building of each piece.
    community_code
        12-digit statistical code; grid codes extend it.
    kind
        ``'urban'`` or ``'rural'``: picks the default band (300-500 or 200-400 aiming at 300).
    band, micro_band
        Household bands; defaults by ``kind`` and :meth:`Band.micro`.
    seed
        Seed of the engine: same input and seed give the same division.
    previous_codes, retired_codes
        Codes of the previous version (``code -> ids of its buildings``, ids being the index of
        ``buildings``, or ``(id, unit)`` pairs for units of a split building) and retired codes, so
        an essentially unchanged grid keeps its code and a retired code is never given again.
        Grids are matched by buildings weighted by households, not by atoms, because atoms are
        rebuilt whenever the base data changes; units of a split building listed whole are left
        out of the matching (:func:`gis.units.previous_by_piece`).
    """
    if kind not in BANDS:
        raise InputError(f"community kind must be urban or rural, got {kind!r}", field="kind")
    band = band or BANDS[kind]()
    clock = _Stopwatch()
    # The one place a building may be split: over the band maximum, along its units (单元).
    units = split_by_units(buildings, band.max)
    pieces = units.pieces
    layer = build_atoms(boundary, barriers, pieces, sites, max_atom_households=band.max)
    clock.lap("atoms")
    division = divide(layer.atoms, layer.edges, PartitionSettings(band=band, seed=seed))
    clock.lap("partition")
    # Codes are matched by pieces: a previous building stands for all its units (see previous_by_piece).
    previous, match_households = previous_by_piece(previous_codes, pieces)
    codes = assign_codes(division.grids, community_code, labels=layer.building_atom.map(division.labels),
                         households=match_households, previous=previous, retired=retired_codes)

    parcel_grid = layer.parcels["atom_id"].map(division.labels)
    micro = divide_micro(layer.parcels, layer.parcel_edges, parcel_grid, band=micro_band, seed=seed)
    micro_grids = _micro_grid_frame(layer.parcels, micro, codes)
    clock.lap("micro")

    exclusive = set(division.grids.loc[division.grids["kind"] == "exclusive", "label"])
    quality = grid_quality(layer.atoms, layer.edges, division.labels, band, exclusive=exclusive)
    summary = division_quality(layer.atoms, layer.edges, division.labels, band, exclusive=exclusive)
    findings = list(units.findings) + list(division.findings) + list(micro.attrs.get("findings", []))
    clock.lap("quality")
    return CommunityDivision(community_code, kind, band, layer, division, codes, micro, micro_grids, quality,
                             summary, findings, units, seconds=clock.laps)


class _Stopwatch:
    """Wall time of consecutive stages, in seconds (for the benchmark and ``--verbose`` logs)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + now - self._last
        self._last = now
        log.debug("stage %s: %.3f s", stage, self.laps[stage])


def _micro_grid_frame(parcels: gpd.GeoDataFrame, micro: pd.Series, grid_codes: pd.Series) -> gpd.GeoDataFrame:
    grid_of_micro = micro.attrs["grid"]
    frame = parcels.assign(micro=parcels["parcel_id"].map(micro))
    sums = frame.groupby("micro")[["households", "population"]].sum()
    labels = sums.index.to_numpy()
    geometry = _union_by_label(frame)
    grid_code = np.array([grid_codes[grid_of_micro[m]] for m in labels], dtype=object)
    # Frames built column by column: geopandas' keyword ``geometry=`` costs a millisecond a frame,
    # and slicing one frame by rows is cheaper than grouping it (a frame per grid, half this step).
    shapes = gpd.GeoDataFrame(pd.DataFrame({"label": labels, "geometry": from_shapely(geometry, crs=parcels.crs)}),
                              geometry="geometry")
    codes = {}
    by_grid = np.argsort(grid_code, kind="stable")  # grid codes ascending, as groupby gave them
    starts = np.flatnonzero(np.r_[True, grid_code[by_grid][1:] != grid_code[by_grid][:-1]])
    for rows in np.split(by_grid, starts[1:]):
        codes.update(micro_codes(grid_code[rows[0]], order_grids(shapes.iloc[rows])).to_dict())
    columns = pd.DataFrame({"label": labels, "code": [codes[m] for m in labels], "grid_code": list(grid_code),
                            "households": sums["households"].to_numpy(),
                            "population": sums["population"].to_numpy(), "geometry": shapes["geometry"].array})
    return gpd.GeoDataFrame(columns, geometry="geometry")


def _union_by_label(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Union of the parcels of each ``micro`` label, labels ascending (as ``groupby`` orders them).

    Parcels tile the community exactly, so a coverage union gives a dissolve's shapes in a tenth of its
    time; a label whose union is invalid or loses area (parcels that do not quite match) gets the robust
    union instead.
    """
    frame = frame[frame["micro"].notna()]
    _, inverse = np.unique(frame["micro"].to_numpy(), return_inverse=True)
    inverse = inverse.reshape(-1)
    n = int(inverse.max()) + 1 if len(inverse) else 0
    parts = frame.geometry.to_numpy()
    merged = dissolve_faces(parts, inverse, n)
    expected = np.bincount(inverse, weights=shapely.area(parts), minlength=n)
    bad = ~shapely.is_valid(merged) | (np.abs(shapely.area(merged) - expected) > 1e-6 * np.maximum(expected, 1.0))
    for label in np.flatnonzero(bad):
        merged[label] = shapely.union_all(parts[inverse == label])
    return merged


# -- file mode --------------------------------------------------------------------------------------

FILE_LAYERS = {"area": "polygon", "buildings": "polygon", "barriers": "line"}


def _input_layers(path: Path) -> list[str]:
    """The layer names of ``path``, listed once: listing opens the file, as much as a small layer's read."""
    try:
        return [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL says why it cannot open the file
        raise InputError(f"cannot open: {exc}", source=path.name) from None


def _read_input_layer(path: Path, layer: str, available: list[str]) -> gpd.GeoDataFrame:
    source = path.name
    if layer not in available:
        raise InputError(f"missing layer '{layer}' (layers present: {', '.join(available) or 'none'})",
                         source=source)
    frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    if frame.crs is None:
        raise InputError(f"layer '{layer}' declares no CRS", source=f"{source}:{layer}")
    return frame


def check_households(buildings: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    """``buildings`` with whole ``households`` (≥ 0) and ``population``, or an InputError naming the row."""
    if "households" not in buildings.columns:
        raise InputError(f"missing required column 'households' (columns present: "
                         f"{', '.join(c for c in buildings.columns if c != 'geometry')})",
                         source=source, field="households")
    values = pd.to_numeric(buildings["households"], errors="coerce")
    for row, (raw, number) in enumerate(zip(buildings["households"], values, strict=True), start=1):
        if pd.isna(number) or number != int(number) or number < 0:
            raise InputError(f"households must be a whole number >= 0, got {raw!r}", source=source, row=row,
                             field="households")
    buildings = buildings.assign(households=values.astype(int))
    if "population" in buildings.columns:
        buildings["population"] = pd.to_numeric(buildings["population"], errors="coerce").fillna(0).astype(int)
    return buildings


def divide_file(in_path: str | Path, out_path: str | Path, *, band: Band | None = None, seed: int = 0,
                micro_band: Band | None = None, seconds: dict | None = None,
                progress: Callable[[int, int], None] | None = None, failures: list[tuple[str, str]] | None = None,
                run: Runner | None = None) -> list[CommunityDivision]:
    """Divide every community of a GeoPackage and write grids, micro-grids, atoms and a report.

    ``in_path`` has layers ``area`` (community polygons, optional ``code`` and ``kind``),
    ``buildings`` (``households``, optional ``population``, ``units``, ``site``, ``compound``),
    ``barriers`` (lines, optional ``kind``) and optionally ``sites`` (polygons with ``kind`` and
    ``id``: compounds and exclusive sites), in any CRS declared in the file. ``out_path`` (GeoPackage) gets
    ``grids``, ``micro_grids``, ``atoms`` and ``report`` in the input CRS. Any bad input raises
    :class:`InputError` before anything is written; the output appears whole or not at all.
    ``seconds``, when given, receives the wall time of reading (``read``) and writing (``write``);
    each result's ``seconds`` holds its own stages. ``progress(done, total)`` is called once before
    the first community and after each one (for a progress bar). ``failures`` and ``run`` are
    :func:`divide_frames`'s: with ``failures`` a community that fails is listed there and the others
    are written (nothing when none is left).
    """
    clock = _Stopwatch()
    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.exists():
        raise InputError("file not found", source=str(in_path))
    available = _input_layers(in_path)
    layers = {name: _read_input_layer(in_path, name, available) for name in FILE_LAYERS}
    # Optional: compound and exclusive-site outlines (kind, id), as in the database's site layer.
    sites = None
    if "sites" in available:
        sites = _read_input_layer(in_path, "sites", available)
        if "kind" not in sites.columns:
            raise InputError("layer 'sites' needs a 'kind' column (school, hospital, residential_compound, ...)",
                             source=f"{in_path.name}:sites", field="kind")
        if "id" not in sites.columns:
            sites = sites.assign(id=[f"site{i}" for i in range(1, len(sites) + 1)])
    buildings = check_households(layers["buildings"], f"{in_path.name}:buildings")
    clock.lap("read")
    results = divide_frames(layers["area"], buildings, layers["barriers"], sites, band=band, micro_band=micro_band,
                            seed=seed, source=in_path.name, progress=progress, failures=failures, run=run)
    clock.lap("divide")
    if results:
        write_layers(out_path, output_layers(results, layers["area"].crs))
    clock.lap("write")
    if seconds is not None:
        seconds.update(read=clock.laps["read"], write=clock.laps["write"])
    return results


def divide_frames(area: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame,
                  sites: gpd.GeoDataFrame | None = None, *, band: Band | None = None, micro_band: Band | None = None,
                  seed: int = 0, source: str = "input", progress: Callable[[int, int], None] | None = None,
                  failures: list[tuple[str, str]] | None = None, run: Runner | None = None
                  ) -> list[CommunityDivision]:
    """Divide every community of ``area`` (optional columns ``code``, ``kind``), each in its own metric zone.

    A province spans several 3-degree Gauss-Krüger zones, so each community is projected to the zone
    of its own centre (:func:`gis.crs.metric_crs_for_frame`) rather than one zone for the whole input;
    :func:`output_layers` brings the results back to one CRS. Frames may be in any CRS (each declares one).

    ``run`` decides where :func:`divide_one` runs for each community (default: here, one after the
    other; ``wangge divide-file --workers`` passes a Dask runner). Results come back in the order of
    ``area`` whatever order they finish in. A community that raises stops everything (nothing is
    returned) unless ``failures`` is given: then ``(code, reason)`` is appended to it and the other
    communities are still returned.
    """
    items = community_inputs(area, buildings, barriers, sites, source=source)
    options = {"band": band, "micro_band": micro_band, "seed": seed}
    done: dict[int, CommunityDivision] = {}
    if progress is not None:  # a bar can show 0 of N while the first community (or a cluster) starts
        progress(0, len(items))
    for finished, (index, outcome) in enumerate((run or run_here)(items, options), start=1):
        if isinstance(outcome, BaseException):
            if failures is None:
                raise outcome
            failures.append((items[index].code, failure_reason(outcome)))
        else:
            done[index] = outcome
        if progress is not None:
            progress(finished, len(items))
    return [done[index] for index in sorted(done)]


@dataclass(frozen=True)
class CommunityInput:
    """One community's share of the input, all in the area's CRS: only its own rows, so it travels light."""

    code: str
    kind: str
    outline: gpd.GeoDataFrame  # one row
    buildings: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame | None


#: Where the communities are divided: ``run(items, options)`` yields ``(index in items, result or the
#: exception it raised)`` for every item, in any order, having called ``attempt(item, options)``.
Runner = Callable[[list[CommunityInput], dict], Iterator[tuple[int, "CommunityDivision | BaseException"]]]


def community_inputs(area: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame,
                     sites: gpd.GeoDataFrame | None = None, *, source: str = "input") -> list[CommunityInput]:
    """Check ``area`` and cut the layers into one :class:`CommunityInput` per community, in file order."""
    if area.empty:
        raise InputError("layer 'area' has no community polygon", source=f"{source}:area")
    for row, geom in enumerate(area.geometry, start=1):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"expected a non-empty polygon, got {getattr(geom, 'geom_type', None)}",
                             source=f"{source}:area", row=row, field="geometry")
    barriers = barriers if "kind" in barriers.columns else barriers.assign(kind="road")
    # Membership is decided in one CRS (the area's) before each community is projected to its zone.
    buildings = buildings.to_crs(area.crs)
    barriers = barriers.to_crs(area.crs)
    sites = None if sites is None else sites.to_crs(area.crs)
    points = buildings.representative_point()
    site_points = None if sites is None else sites.representative_point()
    items = []
    for row, community in enumerate(area.itertuples(), start=1):
        shape = shapely.make_valid(community.geometry)
        items.append(CommunityInput(
            code=str(getattr(community, "code", None) or f"{row:012d}"),
            kind=str(getattr(community, "kind", None) or "urban"),
            outline=gpd.GeoDataFrame(geometry=[shape], crs=area.crs),
            buildings=buildings[points.within(shape)], barriers=barriers[barriers.intersects(shape)],
            sites=None if sites is None else sites[site_points.within(shape)]))
    return items


def divide_one(item: CommunityInput, *, band: Band | None = None, micro_band: Band | None = None,
               seed: int = 0) -> CommunityDivision:
    """Divide one community in the Gauss-Krüger zone of its centre (the unit of work of every runner)."""
    metric = metric_crs_for_frame(item.outline)
    log.info("dividing community %s (%d buildings) in %s", item.code, len(item.buildings), metric.name)
    result = divide_community(item.outline.to_crs(metric).geometry.iloc[0], item.barriers.to_crs(metric),
                              item.buildings.to_crs(metric),
                              None if item.sites is None else item.sites.to_crs(metric),
                              community_code=item.code, kind=item.kind, micro_band=micro_band, band=band, seed=seed)
    return replace(result, crs=metric)


def attempt(item: CommunityInput, options: dict) -> CommunityDivision | Exception:
    """:func:`divide_one`, its error returned rather than raised: what every runner runs per community.

    Returned, the error reaches :func:`divide_frames` (which raises or reports it) the same way from
    this process and from a Dask worker, where a raised one would also be logged as a failed task.
    """
    try:
        return divide_one(item, **options)
    except Exception as exc:
        log.debug("community %s failed", item.code, exc_info=True)
        return exc


def run_here(items: list[CommunityInput], options: dict) -> Iterator[tuple[int, CommunityDivision | BaseException]]:
    """The default runner: each community in this process, one after the other."""
    for index, item in enumerate(items):
        yield index, attempt(item, options)


def failure_reason(exc: BaseException) -> str:
    """Why a community failed, in one line: an input error as it reads, anything else with its kind."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return first if isinstance(exc, InputError) else f"{type(exc).__name__}: {first}".rstrip(": ")


def output_layers(results: list[CommunityDivision], crs) -> dict[str, gpd.GeoDataFrame]:
    """Grids, micro-grids, atoms (each community's brought from its zone to ``crs``) and the report."""
    grids, micro, atoms, report = [], [], [], []

    def to_output(frame: pd.DataFrame, r: CommunityDivision) -> gpd.GeoDataFrame:
        frame = gpd.GeoDataFrame(frame, geometry="geometry")
        return (frame.set_crs(r.crs, allow_override=True) if r.crs is not None else frame).to_crs(crs)

    for r in results:
        g = r.division.grids.assign(code=r.division.grids["label"].map(r.grid_codes), community_code=r.community_code)
        q = r.quality.set_index("label") if "label" in r.quality.columns else r.quality
        g = g.join(q[["in_band", "contiguous", "polsby_popper", "barrier_share", "area_m2"]], on="label")
        grids.append(to_output(g[["code", "community_code", "kind", "subtype", "households", "population", "n_atoms",
                                  "in_band", "contiguous", "polsby_popper", "barrier_share", "area_m2", "geometry"]],
                               r))
        micro.append(to_output(r.micro_grids.drop(columns="label").assign(community_code=r.community_code), r))
        atoms.append(to_output(r.atoms.atoms.assign(grid_code=r.atoms.atoms["atom_id"].map(r.division.labels)
                                                    .map(r.grid_codes), community_code=r.community_code)
                               [["community_code", "atom_id", "kind", "households", "population", "grid_code",
                                 "geometry"]], r))
        for f in r.findings:
            report.append({"community_code": r.community_code, "severity": f.severity, "code": f.code,
                           "grid_code": r.grid_codes.get(f.grid) if f.grid is not None else None,
                           "message": f.message})
        summary = {k: v for k, v in r.summary.items() if isinstance(v, int | float | str | bool)}
        report.append({"community_code": r.community_code, "severity": "info", "code": "summary",
                       "grid_code": None, "message": ", ".join(f"{k}={v}" for k, v in summary.items())})

    def joined(frames: list) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)

    report_frame = gpd.GeoDataFrame(pd.DataFrame(report), geometry=[None] * len(report), crs=crs)
    return {"grids": joined(grids), "micro_grids": joined(micro), "atoms": joined(atoms), "report": report_frame}
