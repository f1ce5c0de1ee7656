"""The storage layer: every read and write of base data goes through here.

GeoDataFrames from :mod:`gis` become rows here (``from_shape``), and rows leave as GeoJSON built by
PostGIS itself (``ST_AsGeoJSON``), which is faster than shapely round trips for map layers. SQL is
written with SQLAlchemy expressions or bound parameters only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape
from psycopg import sql as psql
from sqlalchemy import Column, Connection, MetaData, Table, delete, func, select, text, update
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


@dataclass
class ImportReport:
    """What an import did: rows written (new or updated), geometries repaired, the text encoding read."""

    kind: str
    source: str
    inserted: int = 0
    updated: int = 0
    repairs: list = field(default_factory=list)
    #: The encoding the file's text was read in (``UTF-8``, ``GB18030``, ...), and why when it was guessed.
    encoding: str | None = None
    encoding_note: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        text_ = f"{self.kind}: {self.inserted} new, {self.updated} updated from {self.source}"
        if self.repairs:
            text_ += f"; {len(self.repairs)} geometries repaired"
        if self.encoding_note:
            text_ += f"; {self.encoding_note}"
        return text_

    def as_dict(self) -> dict:
        """The report as plain data (``wangge import --json``)."""
        return {"kind": self.kind, "source": self.source, "inserted": self.inserted, "updated": self.updated,
                "encoding": self.encoding, "encoding_note": self.encoding_note, "seconds": round(self.seconds, 3),
                "repairs": [{"row": r.row, "reason": r.reason, "action": r.action} for r in self.repairs]}


LEVEL_ORDER = {level: i for i, level in enumerate(m.ADMIN_LEVELS)}

#: Rows per COPY batch: big enough for COPY's speed, small enough for a progress bar to move and for a
#: time budget to be checked often. One batch is one round trip of a few megabytes.
COPY_BATCH = 20_000

#: ``progress(rows_written, rows_in_all)``, called after every batch; it may raise to stop the import
#: (a time budget), which rolls the whole transaction back.
Progress = Callable[[int, int], None]


def _column(frame: pd.DataFrame, name: str) -> list:
    """A column as plain Python values (missing → None), or all None when the frame lacks it."""
    if name not in frame.columns:
        return [None] * len(frame)
    series = frame[name]
    return series.astype(object).where(series.notna(), None).tolist()


def _ewkb(geoms: gpd.GeoSeries, multi: bool = True) -> list[str]:
    """Geometries as hex EWKB with SRID 4490, the text form PostGIS reads in COPY."""
    values = [to_multi(g) for g in geoms] if multi else list(geoms)
    return shapely.to_wkb(shapely.set_srid(np.asarray(values, dtype=object), SRID), hex=True,
                          include_srid=True).tolist()


def _staging_table(table, names: list[str]) -> Table:
    """A temporary table with ``names`` of ``table``'s columns, dropped at commit, without a spatial index."""
    columns = []
    for name in names:
        kind = table.c[name].type
        if isinstance(kind, Geometry):
            kind = Geometry(kind.geometry_type, srid=SRID, spatial_index=False)
        columns.append(Column(name, kind))
    return Table(f"import_{table.name}", MetaData(), *columns, prefixes=["TEMPORARY"],
                 postgresql_on_commit="DROP")


def _copy_rows(conn: Connection, staging: Table, names: list[str], rows: list[tuple]) -> None:
    """COPY ``rows`` into ``staging`` on the connection's own transaction."""
    statement = psql.SQL("COPY {} ({}) FROM STDIN").format(
        psql.Identifier(staging.name), psql.SQL(", ").join(psql.Identifier(n) for n in names))
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _upsert(conn: Connection, table, columns: dict[str, list], key: str,
            progress: Progress | None = None) -> tuple[int, int]:
    """Insert or update rows (given column-wise) on ``key``; returns (inserted, updated).

    Rows go in batches of :data:`COPY_BATCH` through COPY into a temporary table and from there into
    ``table`` with one ``INSERT … ON CONFLICT DO UPDATE`` per batch, all on the caller's transaction.
    A statement never carries more than a handful of bound parameters, whatever the row count (a
    134,520-row file once hit PostgreSQL's limit of 65,535 parameters per statement).
    """
    names = list(columns)
    total = len(columns[key])
    if total == 0:
        return 0, 0
    staging = _staging_table(table, names)
    staging.create(conn)
    upsert = insert(table).from_select(names, select(*(staging.c[n] for n in names)))
    upsert = upsert.on_conflict_do_update(index_elements=[key],
                                          set_={n: upsert.excluded[n] for n in names if n != key})
    existing = (select(func.count()).select_from(staging)
                .where(select(table.c[key]).where(table.c[key] == staging.c[key]).exists()))
    rows = list(zip(*(columns[n] for n in names), strict=True))
    updated = 0
    for start in range(0, total, COPY_BATCH):
        _copy_rows(conn, staging, names, rows[start:start + COPY_BATCH])
        updated += conn.execute(existing).scalar_one()
        conn.execute(upsert)
        conn.execute(delete(staging))
        if progress is not None:
            progress(min(start + COPY_BATCH, total), total)
    staging.drop(conn)
    return total - updated, updated


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


def _source_ids(frame: gpd.GeoDataFrame, *key_columns: str) -> list[str]:
    """Each feature's ``id``, else a key from its geometry and ``key_columns`` (see :func:`geometry_key`)."""
    given = _column(frame, "id")
    parts = [_column(frame, c) for c in key_columns]
    return [str(g) if g is not None else geometry_key(geom, *(p[i] for p in parts))
            for i, (g, geom) in enumerate(zip(given, frame.geometry, strict=True))]


def write_areas(conn: Connection, frame: gpd.GeoDataFrame, source: str,
                progress: Progress | None = None) -> tuple[int, int]:
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
    codes = [str(c) for c in frame["code"]]
    _reject_duplicates(frame, codes, source, "code")
    columns = {"code": codes, "name": _column(frame, "name"), "level": _column(frame, "level"),
               "parent_code": _column(frame, "parent_code"), "kind": _column(frame, "kind"),
               "geom": _ewkb(frame.geometry)}
    return _upsert(conn, m.AdminArea.__table__, columns, "code", progress)


def write_barriers(conn: Connection, frame: gpd.GeoDataFrame, source: str,
                   progress: Progress | None = None) -> tuple[int, int]:
    """Upsert barrier lines."""
    ids = _source_ids(frame, "kind")
    _reject_duplicates(frame, ids, source, "geometry")
    columns = {"source_id": ids, "kind": _column(frame, "kind"), "class": _column(frame, "class"),
               "name": _column(frame, "name"), "geom": _ewkb(frame.geometry)}
    return _upsert(conn, m.Barrier.__table__, columns, "source_id", progress)


def write_sites(conn: Connection, frame: gpd.GeoDataFrame, source: str,
                progress: Progress | None = None) -> tuple[int, int]:
    """Upsert compounds and exclusive-grid sites."""
    _check_codes(frame, "community_code", _known_codes(conn, "community"), source, "community")
    ids = _source_ids(frame, "kind", "name")
    _reject_duplicates(frame, ids, source, "geometry")
    columns = {"source_id": ids, "name": _column(frame, "name"), "kind": _column(frame, "kind"),
               "community_code": _column(frame, "community_code"), "geom": _ewkb(frame.geometry)}
    counts = _upsert(conn, m.Site.__table__, columns, "source_id", progress)
    _fill_community(conn, m.Site)
    return counts


BUILDING_FIELDS = ("name", "road", "number", "storeys", "units", "population", "compound", "site")


def write_buildings(conn: Connection, frame: gpd.GeoDataFrame, source: str,
                    progress: Progress | None = None) -> tuple[int, int]:
    """Upsert buildings; a building without ``community_code`` gets the community it lies in."""
    _check_codes(frame, "community_code", _known_codes(conn, "community"), source, "community")
    ids = _source_ids(frame)
    _reject_duplicates(frame, ids, source, "geometry")
    columns = {"source_id": ids, "community_code": _column(frame, "community_code"),
               "households": [int(h) for h in frame["households"]]}
    columns.update({name: _column(frame, name) for name in BUILDING_FIELDS})
    columns["population"] = [p or 0 for p in columns["population"]]
    columns["geom"] = _ewkb(frame.geometry)
    counts = _upsert(conn, m.Building.__table__, columns, "source_id", progress)
    _fill_community(conn, m.Building)
    return counts


ADDRESS_FIELDS = ("city", "district", "road", "number", "building", "unit", "households")


def write_addresses(conn: Connection, frame: gpd.GeoDataFrame, source: str,
                    progress: Progress | None = None) -> tuple[int, int]:
    """Upsert standard addresses (keyed by ``id``, else by the address text itself)."""
    addresses = [str(a) for a in frame["address"]]
    ids = [str(g) if g is not None else "a:" + a for g, a in zip(_column(frame, "id"), addresses, strict=True)]
    _reject_duplicates(frame, ids, source, "address")
    columns = {"source_id": ids, "address": addresses, "building_source_id": _column(frame, "building_id")}
    columns.update({name: _column(frame, name) for name in ADDRESS_FIELDS})
    for name in ("building", "unit"):
        columns[name] = [None if v is None else str(v) for v in columns[name]]
    columns["geom"] = _ewkb(frame.geometry, multi=False)
    counts = _upsert(conn, m.Address.__table__, columns, "source_id", progress)
    _fill_community(conn, m.Address)
    return counts


def limit_statement_time(conn: Connection, seconds: float) -> None:
    """Make every statement of the current transaction stop after ``seconds`` (a time budget's backstop)."""
    milliseconds = max(1, int(seconds * 1000))
    conn.execute(select(func.set_config("statement_timeout", str(milliseconds), True)))


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

#: One GeoJSON Feature per row ``t`` (every column but ``geom`` a property). The record form of
#: ``ST_AsGeoJSON`` takes no options and names the SRID (EPSG:4490) inside every geometry; RFC 7946
#: has no such member, so it is cut in the database.
RECORD_FEATURE = "(ST_AsGeoJSON(t.*, 'geom', 7)::jsonb #- '{geometry,crs}')::json"


def feature_collection(conn: Connection, inner_sql: str, params: dict) -> dict:
    """Run ``inner_sql`` (which selects a ``geom`` column) and return a GeoJSON FeatureCollection.

    Geometries carry no ``crs`` member (RFC 7946 has none): see :data:`RECORD_FEATURE`.
    """
    return conn.execute(text(f"""
        SELECT json_build_object('type', 'FeatureCollection',
                                 'features', coalesce(json_agg({RECORD_FEATURE}), '[]'::json))
        FROM ({inner_sql}) AS t"""), params).scalar_one()


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

