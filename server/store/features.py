"""The storage layer: every read and write of base data goes through here.

GeoDataFrames from :mod:`gis` become rows here (``from_shape``), and rows leave as GeoJSON built by
PostGIS itself (``ST_AsGeoJSON``), which is faster than shapely round trips for map layers. SQL is
written with SQLAlchemy expressions or bound parameters only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from gis.errors import InputError
from server.store import models as m

log = logging.getLogger(__name__)

SRID = m.SRID


def to_multi(geom: shapely.Geometry) -> shapely.Geometry:
    """Polygon → MultiPolygon and LineString → MultiLineString, as the columns are typed."""
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    if isinstance(geom, shapely.LineString):
        return shapely.MultiLineString([geom])
    return geom


def geom_value(geom: shapely.Geometry, multi: bool = True):
    """A geometry as a GeoAlchemy2 element in EPSG:4490."""
    return from_shape(to_multi(geom) if multi else geom, srid=SRID)


def geometry_key(geom: shapely.Geometry, *parts: object) -> str:
    """A stable id for a feature without one: its geometry at 1e-7° (~1 cm) and key attributes.

    Re-importing the same file then updates the same rows instead of adding copies.
    """
    rounded = shapely.set_precision(geom, 1e-7)
    digest = hashlib.sha1(shapely.to_wkb(rounded, hex=True).encode() + repr(parts).encode())
    return "g:" + digest.hexdigest()[:20]


def _clean(value: object) -> object:
    """Turn pandas missing values → None, numpy scalars → Python scalars."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):
        return value.item()
    return value


def _opt(row: pd.Series, name: str) -> object:
    return _clean(row[name]) if name in row.index else None


def _source_id(row: pd.Series, *fallback_parts: object) -> str:
    given = _opt(row, "id")
    return str(given) if given is not None else geometry_key(row.geometry, *fallback_parts)


@dataclass
class ImportReport:
    """What an import did: rows written (new or updated) and geometries repaired."""

    kind: str
    source: str
    inserted: int = 0
    updated: int = 0
    repairs: list = field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI."""
        text_ = f"{self.kind}: {self.inserted} new, {self.updated} updated from {self.source}"
        if self.repairs:
            text_ += f"; {len(self.repairs)} geometries repaired"
        return text_


LEVEL_ORDER = {level: i for i, level in enumerate(m.ADMIN_LEVELS)}


def _upsert(conn: Connection, table, rows: list[dict], key: str) -> tuple[int, int]:
    """Insert or update ``rows`` on ``key``; returns (inserted, updated)."""
    if not rows:
        return 0, 0
    existing = set(conn.execute(select(table.c[key]).where(table.c[key].in_([r[key] for r in rows]))).scalars())
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=[key],
                                      set_={c: stmt.excluded[c] for c in rows[0] if c != key})
    for start in range(0, len(rows), 2000):
        conn.execute(stmt, rows[start:start + 2000])
    updated = sum(1 for r in rows if r[key] in existing)
    return len(rows) - updated, updated


def _reject_duplicates(frame: gpd.GeoDataFrame, keys: list[str], source: str, derived: str) -> None:
    """Refuse a file in which two features get the same key: the upsert would silently keep one.

    ``derived`` names what the key comes from when a feature has no ``id`` (``code``, ``geometry``,
    ``address``).
    """
    given = frame["id"] if derived != "code" and "id" in frame.columns else [None] * len(frame)
    first_row: dict[str, int] = {}
    for key, row_no, given_id in zip(keys, frame["source_row"], given, strict=True):
        first = first_row.setdefault(key, int(row_no))
        if first != int(row_no):
            if derived == "code" or _clean(given_id) is not None:
                field_ = "code" if derived == "code" else "id"
                raise InputError(f"duplicate {field_} {key!r} (feature {first} has it too)", source=source,
                                 row=int(row_no), field=field_)
            raise InputError(f"same {derived} as feature {first} (features without id are told apart by "
                             f"their {derived})", source=source, row=int(row_no), field=derived)


def _known_codes(conn: Connection, level: str | None = None) -> set[str]:
    query = select(m.AdminArea.code)
    if level:
        query = query.where(m.AdminArea.level == level)
    return set(conn.execute(query).scalars())


def _check_codes(frame: gpd.GeoDataFrame, column: str, known: set[str], source: str, what: str) -> None:
    if column not in frame.columns:
        return
    for row_no, value in zip(frame["source_row"], frame[column], strict=True):
        value = _clean(value)
        if value is not None and str(value) not in known:
            raise InputError(f"unknown {what} code {value!r}: import the areas first", source=source,
                             row=int(row_no), field=column)


def write_areas(conn: Connection, frame: gpd.GeoDataFrame, source: str) -> tuple[int, int]:
    """Upsert administrative areas (parents before children)."""
    frame = frame.assign(_rank=frame["level"].map(LEVEL_ORDER)).sort_values(["_rank", "code"], kind="stable")
    known = _known_codes(conn) | set(frame["code"].astype(str))
    _check_codes(frame, "parent_code", known, source, "parent area")
    # A parent must be a level above its child (county > township > community): anything else is a
    # mistake in the file, and would otherwise surface as a foreign-key error from the database.
    levels = dict(conn.execute(select(m.AdminArea.code, m.AdminArea.level)).all())
    levels.update(zip(frame["code"].astype(str), frame["level"], strict=True))
    for row_no, level, parent in zip(frame["source_row"], frame["level"], frame["parent_code"], strict=True):
        parent = _clean(parent)
        if parent is not None and LEVEL_ORDER[levels[str(parent)]] >= LEVEL_ORDER[level]:
            raise InputError(f"parent area {parent} is a {levels[str(parent)]}, which cannot hold a {level}",
                             source=source, row=int(row_no), field="parent_code")
    rows = [{"code": str(r.code), "name": r["name"], "level": r["level"], "parent_code": _opt(r, "parent_code"),
             "kind": _opt(r, "kind"), "geom": geom_value(r.geometry)} for _, r in frame.iterrows()]
    _reject_duplicates(frame, [r["code"] for r in rows], source, "code")
    return _upsert(conn, m.AdminArea.__table__, rows, "code")


def write_barriers(conn: Connection, frame: gpd.GeoDataFrame, source: str) -> tuple[int, int]:
    """Upsert barrier lines."""
    rows = [{"source_id": _source_id(r, r["kind"]), "kind": r["kind"], "class": _opt(r, "class"),
             "name": _opt(r, "name"), "geom": geom_value(r.geometry)} for _, r in frame.iterrows()]
    _reject_duplicates(frame, [r["source_id"] for r in rows], source, "geometry")
    return _upsert(conn, m.Barrier.__table__, rows, "source_id")


def write_sites(conn: Connection, frame: gpd.GeoDataFrame, source: str) -> tuple[int, int]:
    """Upsert compounds and exclusive-grid sites."""
    _check_codes(frame, "community_code", _known_codes(conn, "community"), source, "community")
    rows = [{"source_id": _source_id(r, r["kind"], r["name"]), "name": r["name"], "kind": r["kind"],
             "community_code": _opt(r, "community_code"), "geom": geom_value(r.geometry)}
            for _, r in frame.iterrows()]
    _reject_duplicates(frame, [r["source_id"] for r in rows], source, "geometry")
    counts = _upsert(conn, m.Site.__table__, rows, "source_id")
    _fill_community(conn, m.Site)
    return counts


BUILDING_FIELDS = ("name", "road", "number", "storeys", "units", "population", "compound", "site")


def write_buildings(conn: Connection, frame: gpd.GeoDataFrame, source: str) -> tuple[int, int]:
    """Upsert buildings; a building without ``community_code`` gets the community it lies in."""
    _check_codes(frame, "community_code", _known_codes(conn, "community"), source, "community")
    rows = []
    for _, r in frame.iterrows():
        row = {"source_id": _source_id(r), "community_code": _opt(r, "community_code"),
               "households": int(r["households"]), "geom": geom_value(r.geometry)}
        row.update({name: _opt(r, name) for name in BUILDING_FIELDS})
        row["population"] = row["population"] or 0
        rows.append(row)
    _reject_duplicates(frame, [r["source_id"] for r in rows], source, "geometry")
    counts = _upsert(conn, m.Building.__table__, rows, "source_id")
    _fill_community(conn, m.Building)
    return counts


ADDRESS_FIELDS = ("city", "district", "road", "number", "building", "unit", "households")


def write_addresses(conn: Connection, frame: gpd.GeoDataFrame, source: str) -> tuple[int, int]:
    """Upsert standard addresses (keyed by ``id``, else by the address text itself)."""
    rows = []
    for _, r in frame.iterrows():
        given = _opt(r, "id")
        row = {"source_id": str(given) if given is not None else "a:" + str(r["address"]),
               "address": str(r["address"]), "building_source_id": _opt(r, "building_id"),
               "geom": geom_value(r.geometry, multi=False)}
        row.update({name: _opt(r, name) for name in ADDRESS_FIELDS})
        for name in ("building", "unit"):
            row[name] = None if row[name] is None else str(row[name])
        rows.append(row)
    _reject_duplicates(frame, [r["source_id"] for r in rows], source, "address")
    counts = _upsert(conn, m.Address.__table__, rows, "source_id")
    _fill_community(conn, m.Address)
    return counts


def _fill_community(conn: Connection, model: type[m.Base]) -> None:
    """Give rows without a community the community whose polygon holds their point on surface."""
    table, area = model.__table__, m.AdminArea.__table__
    holder = (select(area.c.code)
              .where(area.c.level == "community",
                     func.ST_Contains(area.c.geom, func.ST_PointOnSurface(table.c.geom)))
              .limit(1).scalar_subquery())
    conn.execute(update(table).where(table.c.community_code.is_(None)).values(community_code=holder))


WRITERS = {
    "areas": write_areas,
    "barriers": write_barriers,
    "sites": write_sites,
    "buildings": write_buildings,
    "addresses": write_addresses,
}


# -- reading for maps -------------------------------------------------------------------------------

def feature_collection(conn: Connection, inner_sql: str, params: dict) -> dict:
    """Run ``inner_sql`` (which selects a ``geom`` column) and return a GeoJSON FeatureCollection."""
    row = conn.execute(text(f"""
        SELECT json_build_object('type', 'FeatureCollection',
                                 'features', coalesce(json_agg(ST_AsGeoJSON(t.*, 'geom', 7)::json), '[]'::json))
        FROM ({inner_sql}) AS t"""), params).scalar_one()
    return row


def areas_geojson(conn: Connection, *, level: str | None = None, parent: str | None = None) -> dict:
    """Administrative areas with household and building counts."""
    return feature_collection(conn, """
        SELECT a.code, a.name, a.level, a.parent_code, a.kind, a.geom,
               coalesce(b.households, 0) AS households, coalesce(b.buildings, 0) AS buildings
        FROM admin_area a
        LEFT JOIN LATERAL (
            SELECT sum(households)::int AS households, count(*)::int AS buildings FROM building
            WHERE community_code = a.code OR community_code LIKE
                  (CASE a.level WHEN 'county' THEN left(a.code, 6) WHEN 'township' THEN left(a.code, 9)
                   ELSE NULL END) || '%') b ON TRUE
        WHERE (CAST(:level AS text) IS NULL OR a.level = :level)
          AND (CAST(:parent AS text) IS NULL OR a.parent_code = :parent)
        ORDER BY a.code""", {"level": level, "parent": parent})


_IN_BBOX = ("(CAST(:west AS float8) IS NULL "
            "OR geom && ST_MakeEnvelope(:west, :south, :east, :north, 4490))")


def _bbox_params(bbox: Sequence[float] | None) -> dict:
    west, south, east, north = bbox if bbox is not None else (None, None, None, None)
    return {"west": west, "south": south, "east": east, "north": north}


def buildings_geojson(conn: Connection, *, community: str | None, bbox: Sequence[float] | None,
                      limit: int) -> dict:
    """Buildings of a community and/or a bounding box, at most ``limit``."""
    params = _bbox_params(bbox)
    return feature_collection(conn, """
        SELECT source_id AS id, community_code, name, road, number, storeys, units, households, population,
               compound, site, geom
        FROM building
        WHERE """ + _IN_BBOX + """ AND (CAST(:community AS text) IS NULL OR community_code = :community)
        ORDER BY id LIMIT :limit""", {**params, "community": community, "limit": limit})


def barriers_geojson(conn: Connection, *, bbox: Sequence[float] | None, limit: int) -> dict:
    """Roads, rivers, railways and walls."""
    params = _bbox_params(bbox)
    return feature_collection(conn, """
        SELECT source_id AS id, kind, class, name, geom FROM barrier WHERE """ + _IN_BBOX + """
        ORDER BY id LIMIT :limit""", {**params, "limit": limit})


def sites_geojson(conn: Connection, *, bbox: Sequence[float] | None, limit: int) -> dict:
    """Compounds and exclusive-grid sites."""
    params = _bbox_params(bbox)
    return feature_collection(conn, """
        SELECT source_id AS id, name, kind, community_code, geom FROM site WHERE """ + _IN_BBOX + """
        ORDER BY id LIMIT :limit""", {**params, "limit": limit})


def area_exists(conn: Connection, code: str) -> bool:
    """Whether an administrative area with this code exists."""
    return conn.execute(select(m.AdminArea.code).where(m.AdminArea.code == code)).first() is not None


def extent(conn: Connection) -> list[float] | None:
    """[west, south, east, north] of all areas, or None when nothing is loaded."""
    row = conn.execute(text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                            "FROM (SELECT ST_Extent(geom) AS e FROM admin_area) s")).one()
    return None if row[0] is None else [float(v) for v in row]


def counts(conn: Connection) -> dict[str, int]:
    """Row counts of the base-data tables (for status pages and tests)."""
    tables: Iterable = (m.AdminArea, m.Barrier, m.Site, m.Building, m.Address)
    return {t.__tablename__: conn.execute(select(text("count(*)")).select_from(t)).scalar_one() for t in tables}

