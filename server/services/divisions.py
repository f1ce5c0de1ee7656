"""Divisions in PostGIS: the engine's inputs read from the base data, its results stored as drafts.

A division is an assignment of atoms to grids. Dividing a community here means: read its outline,
barriers, buildings and sites; build a fresh, immutable atom layer (atoms, their adjacency and the
building parcels micro-grids are made of); run :func:`gis.pipeline.divide_community`; and store the
atom layer and a new **draft** version with its grids, grid↔atom assignment, micro-grids and report
— all in one transaction, so a failure leaves nothing behind.

Codes: a grid that is essentially the same as one of the previous version (the effective approved
one, else the latest) keeps its code. Grids are matched by the buildings they hold, weighted by
households, because atoms are rebuilt whenever the base data changes. Codes are written to the
``grid_code`` registry only when a division is approved (filing), so drafts never use up numbers.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date

import geopandas as gpd
import shapely
from sqlalchemy import Connection, Engine

from gis.crs import metric_crs_for_frame
from gis.errors import GisError, InputError
from gis.partition import Band
from gis.pipeline import BANDS, divide_community
from gis.units import previous_members
from server.errors import NotFound
from server.store import divisions as divisions_store
from server.store import features as store
from server.store import models as m
from server.store.features import SRID

log = logging.getLogger(__name__)


#: The columns the API checks grid attributes and area codes against (one definition: the model's).
GRID_NAME, GRID_SUBTYPE, AREA_CODE, GRID_TYPES = m.Grid.name, m.Grid.subtype, m.AdminArea.code, m.GRID_TYPES


@dataclass(frozen=True)
class CommunityInputs:
    """What the engine needs for one community, in a metric CRS."""

    code: str
    name: str
    kind: str
    crs: object  # pyproj CRS the frames below are in
    boundary: shapely.Geometry
    barriers: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame  # index = building.id
    sites: gpd.GeoDataFrame


@dataclass(frozen=True)
class DivideOutcome:
    """What dividing one community stored (or why it could not)."""

    community_code: str
    division_id: int | None
    version: int | None
    summary: dict
    warnings: list[str]
    seconds: float
    error: str | None = None
    skipped: bool = False  # the inputs had not changed since the newest version: nothing was stored


def communities_to_divide(conn: Connection, code: str) -> list[str]:
    """The community codes under ``code`` (a county, township or community), in code order.

    Raises
    ------
    InputError
        ``code`` is not a known administrative area, or it holds no community.
    """
    level = divisions_store.area_level(conn, code)
    if level is None:
        raise InputError(f"no administrative area with code {code!r}; import areas first (wangge import areas ...)",
                         field="code")
    if level == "community":
        return [code]
    codes = divisions_store.communities_below(conn, code)
    if not codes:
        raise InputError(f"{level} {code} has no community below it", field="code")
    return list(codes)


def read_community(conn: Connection, code: str) -> CommunityInputs:
    """Outline, barriers, buildings and sites of one community, projected to a metric CRS.

    Raises
    ------
    InputError
        Unknown code, an area that is not a community, or a community with no households.
    """
    row = divisions_store.community_header(conn, code)
    if row is None:
        raise InputError(f"no community with code {code!r}", field="code")
    name, level, kind, wkb = row
    if level != "community":
        raise InputError(f"{code} is a {level}, not a community (use --county for a whole area)", field="code")
    kind = kind or "urban"
    if kind not in BANDS:
        raise InputError(f"community {code} has kind {kind!r}; expected urban or rural", field="kind")
    outline = gpd.GeoSeries([shapely.from_wkb(bytes(wkb))], crs=SRID)
    crs = metric_crs_for_frame(outline)
    boundary = shapely.make_valid(outline.to_crs(crs).iloc[0])
    buildings, barriers, sites = divisions_store.community_base_data(conn, code)
    if int(buildings["households"].sum()) == 0:
        raise InputError(f"community {code} has no households: import its buildings first", field="households")
    buildings = buildings.assign(population=buildings["population"].fillna(0).astype(int),
                                 households=buildings["households"].astype(int))
    return CommunityInputs(code, name, kind, crs, boundary, barriers.to_crs(crs), buildings.to_crs(crs),
                           sites.to_crs(crs))


def divisions_in_force(conn: Connection, on: date | None = None, *, approved_only: bool = False,
                       communities: list[str] | None = None) -> dict[str, int]:
    """``community code -> division id`` in force on ``on`` (today).

    In force means approved with ``effective_from <= on < effective_to`` (open-ended when
    ``effective_to`` is null). A community that has no approved division in force falls back to its
    latest version (a draft), unless ``approved_only`` — the public only ever sees approved ones.
    This is the one definition the lookup, the maps and re-division use.
    """
    return divisions_store.in_force(conn, on or date.today(), approved_only=approved_only, communities=communities)


def reference_division(conn: Connection, code: str, on: date | None = None) -> int | None:
    """The division codes carry over from: the one in force ``on`` (see :func:`divisions_in_force`)."""
    return divisions_in_force(conn, on, communities=[code]).get(code)


def previous_grids(conn: Connection, division_id: int | None) -> gpd.GeoDataFrame:
    """Coded grids of a stored division (``code``, geometry in EPSG:4490); empty for None."""
    return divisions_store.coded_grids(conn, division_id)


def retired_codes(conn: Connection, community_code: str) -> frozenset[str]:
    """Codes of the community that were retired: never given again."""
    return frozenset(divisions_store.retired_codes(conn, community_code))


def _fingerprint(conn: Connection, code: str, band: Band | None, micro_band: Band | None, seed: int) -> str:
    """The base data's digest and the engine's options: equal fingerprints give the same division."""
    options = f"{band}|{micro_band}|{seed}"
    return hashlib.sha256(f"{divisions_store.inputs_fingerprint(conn, code)}|{options}".encode()).hexdigest()


def divide_and_store(engine: Engine, code: str, *, band: Band | None = None, micro_band: Band | None = None,
                     seed: int = 0, author_id: int | None = None, skip_unchanged: bool = False) -> DivideOutcome:
    """Divide one community from the base data in PostGIS and store the result as a new draft.

    Reading happens in one short transaction, the engine runs outside any, and the writes happen in
    another, so a long division does not hold locks. Bad or missing base data gives an outcome with
    ``error`` set and nothing written. The inputs' fingerprint is kept in the draft's settings; with
    ``skip_unchanged`` a community whose newest version has the same fingerprint is not stored again
    (checked again under the community's lock when writing, so two runs never store it twice).
    """
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            inputs = read_community(conn, code)
            fingerprint = _fingerprint(conn, code, band, micro_band, seed)
            if skip_unchanged and divisions_store.latest_fingerprint(conn, code) == fingerprint:
                return DivideOutcome(code, None, None, {}, [], time.perf_counter() - started, skipped=True)
            reference = reference_division(conn, code)
            before = previous_grids(conn, reference).to_crs(inputs.crs)
            retired = retired_codes(conn, code)
        # Which buildings (and units of split towers) each previous grid held: codes follow them.
        used_band = band or BANDS[inputs.kind]()
        previous = previous_members(inputs.buildings, before, used_band.max) if len(before) else {}
        result = divide_community(inputs.boundary, inputs.barriers, inputs.buildings, inputs.sites,
                                  community_code=code, kind=inputs.kind, band=band, micro_band=micro_band, seed=seed,
                                  previous_codes=previous, retired_codes=retired)
        settings = {"band": {"min": used_band.min, "max": used_band.max, "target": used_band.target},
                    "micro_band": None if micro_band is None else
                    {"min": micro_band.min, "max": micro_band.max, "target": micro_band.target},
                    "seed": seed, "kind": inputs.kind, "crs": inputs.crs.to_string(), "engine": "wangge",
                    "inputs": fingerprint}
        with engine.begin() as conn:
            divisions_store.lock_community(conn, code)
            if skip_unchanged and divisions_store.latest_fingerprint(conn, code) == fingerprint:
                return DivideOutcome(code, None, None, {}, [], time.perf_counter() - started, skipped=True)
            division_id, version = divisions_store.insert_engine_division(conn, result, settings=settings,
                                                                          parent_id=reference, author_id=author_id)
    except GisError as exc:  # bad base data or an impossible request: say why, store nothing
        return DivideOutcome(code, None, None, {}, [], time.perf_counter() - started, error=str(exc))
    except Exception as exc:  # a bug must not stop a county run: this community is reported, others go on
        log.exception("dividing %s failed", code)
        return DivideOutcome(code, None, None, {}, [], time.perf_counter() - started,
                             error=f"internal error ({type(exc).__name__}); the log has the details")
    warnings = [(f"{result.grid_codes[f.grid]}: " if f.grid in result.grid_codes.index else "") + f.message
                for f in result.findings if f.severity != "info"]
    return DivideOutcome(code, division_id, version, result.summary, warnings, time.perf_counter() - started)


# -- reading divisions for maps and lists -----------------------------------------------------------

def division_access(conn: Connection, division_id: int) -> tuple[str, str]:
    """``(community code, status)`` of a division, what a permission check needs; 404 when there is none."""
    row = divisions_store.load_division(conn, division_id)
    if row is None:
        raise NotFound(f"没有编号为 {division_id} 的划分 / no division with id {division_id}")
    return row["community_code"], row["status"]


def _area(conn: Connection, code: str) -> None:
    if not store.area_exists(conn, code):
        raise NotFound(f"没有代码为 {code} 的行政区 / no administrative area with code {code!r}")


def division_versions(conn: Connection, community_code: str, *, drafts: bool = True) -> list[dict]:
    """Every version of a community's division, newest first, with its grid count and households.

    Without ``drafts`` only approved versions are listed (what the public may see).
    """
    _area(conn, community_code)
    rows = divisions_store.versions(conn, community_code)
    return [{**row, "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
             "effective_from": row["effective_from"] and row["effective_from"].isoformat(),
             "effective_to": row["effective_to"] and row["effective_to"].isoformat()}
            for row in rows if drafts or row["status"] == "approved"]


def grids_geojson(conn: Connection, division_id: int) -> dict:
    """The grids of a division as GeoJSON (label, code, name, type, households, locked, quality)."""
    return divisions_store.grids_geojson(conn, division_id)


def atoms_geojson(conn: Connection, division_id: int) -> dict:
    """The atoms of a division's layer with the grid label each is in (what the editor paints)."""
    return divisions_store.atoms_geojson(conn, division_id)


def micro_grids_geojson(conn: Connection, division_id: int) -> dict:
    """Micro-grids of a division (grids whose atoms changed since have none until rebuilt)."""
    return divisions_store.micro_grids_geojson(conn, division_id)


def county_overview_geojson(conn: Connection, area_code: str) -> dict:
    """Communities below an area with the status of their latest division version (none when undivided)."""
    _area(conn, area_code)
    return divisions_store.overview_geojson(conn, area_code)
