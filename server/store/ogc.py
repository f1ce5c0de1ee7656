"""The SQL of the published feature collections (OGC API - Features and its queryables).

Each collection is a select with the columns ``fid``, ``geom`` and its properties, over the divisions
the caller publishes. Features are assembled as GeoJSON by PostGIS in one statement per page, with the
axis order the client asked for: EPSG:4490 is latitude first, CRS84 longitude first, and the stored
coordinates are longitude/latitude (CGCS2000).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    String,
    Text,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from server.store import models as m

SRID = m.SRID


@dataclass(frozen=True)
class Property:
    """One property of a collection: its name, JSON Schema type and title (for queryables and schema)."""

    name: str
    type: str  # JSON Schema: string, integer
    title: str
    format: str | None = None  # JSON Schema format (date)
    enum: tuple[str, ...] | None = None


_DIVISION_PROPERTIES = (
    Property("community_code", "string", "社区/村代码 Community code"),
    Property("division_version", "integer", "划分版本 Division version"),
    Property("division_status", "string", "划分状态 Division status"),
    Property("effective_from", "string", "生效日期 Effective from", "date"),
    Property("effective_to", "string", "失效日期 Effective to", "date"),
)

PROPERTIES: dict[str, tuple[Property, ...]] = {
    "grids": (
        Property("code", "string", "网格编码 Grid code"),
        Property("name", "string", "网格名称 Grid name"),
        Property("type", "string", "网格类型 Grid type", enum=("comprehensive", "exclusive")),
        Property("subtype", "string", "专属网格类别 Exclusive grid kind"),
        Property("households", "integer", "户数 Households"),
        Property("population", "integer", "人口 Population"),
        *_DIVISION_PROPERTIES,
    ),
    "micro_grids": (
        Property("code", "string", "微网格编码 Micro-grid code"),
        Property("name", "string", "微网格名称 Micro-grid name"),
        Property("households", "integer", "户数 Households"),
        Property("population", "integer", "人口 Population"),
        Property("grid_code", "string", "所属网格编码 Grid code"),
        *_DIVISION_PROPERTIES,
    ),
    "communities": (
        Property("code", "string", "社区/村代码 Community code"),
        Property("name", "string", "名称 Name"),
        Property("kind", "string", "类别 Kind", enum=("urban", "rural")),
        Property("township_code", "string", "乡镇（街道）代码 Township code"),
        Property("division_version", "integer", "划分版本 Division version"),
        Property("division_status", "string", "划分状态 Division status"),
    ),
}


def _division_columns(d) -> list:
    return [d.c.community_code, d.c.version.label("division_version"), d.c.status.label("division_status"),
            d.c.effective_from, d.c.effective_to]


def _fid(code, version, fallback, versioned: bool):
    """The feature id: the code; with ``versioned`` (several versions in one answer) ``code@v<version>``."""
    fid = func.coalesce(code, fallback)
    return fid + literal("@v", String) + cast(version, Text) if versioned else fid


def _grids(divisions: Sequence[int], versioned: bool = False):
    g, d = m.Grid.__table__, m.Division.__table__
    fid = _fid(g.c.code, d.c.version, literal("grid-", String) + cast(g.c.id, Text), versioned)
    return (select(fid.label("fid"), g.c.geom, g.c.code, g.c.name, g.c.type, g.c.subtype, g.c.households,
                   g.c.population, *_division_columns(d))
            .join_from(g, d, d.c.id == g.c.division_id)
            .where(g.c.division_id.in_(list(divisions)), g.c.geom.is_not(None)))


def _micro_grids(divisions: Sequence[int], versioned: bool = False):
    mg, g, d = m.MicroGrid.__table__, m.Grid.__table__, m.Division.__table__
    fid = _fid(mg.c.code, d.c.version, literal("micro-grid-", String) + cast(mg.c.id, Text), versioned)
    return (select(fid.label("fid"), mg.c.geom, mg.c.code, mg.c.name, mg.c.households, mg.c.population,
                   g.c.code.label("grid_code"), *_division_columns(d))
            .join_from(mg, g, g.c.id == mg.c.grid_id).join(d, d.c.id == g.c.division_id)
            .where(g.c.division_id.in_(list(divisions)), mg.c.geom.is_not(None)))


def _communities(divisions: Sequence[int], versioned: bool = False):
    # Outlines have no versions: one feature per community whatever the interval.
    a, d = m.AdminArea.__table__, m.Division.__table__
    return (select(a.c.code.label("fid"), a.c.geom, a.c.code, a.c.name, a.c.kind,
                   a.c.parent_code.label("township_code"), d.c.version.label("division_version"),
                   d.c.status.label("division_status"))
            .join_from(a, d, and_(d.c.community_code == a.c.code, d.c.id.in_(list(divisions))), isouter=True)
            .where(a.c.level == "community"))


SOURCES: dict[str, Callable[..., Any]] = {
    "grids": _grids, "micro_grids": _micro_grids, "communities": _communities}


@dataclass(frozen=True)
class Query:
    """What a page of items asks for. ``conditions`` are ``(property, operator, value)`` triples."""

    divisions: Sequence[int]
    bbox: tuple[float, float, float, float] | None = None  # CRS84 west, south, east, north
    conditions: Sequence[tuple[str, str, Any]] = ()
    limit: int = 10
    offset: int = 0
    lat_lon: bool = False  # answer latitude first (EPSG:4490's axis order)
    versioned: bool = False  # several versions of a division in one answer: ids carry the version


_OPERATORS = {"=": "__eq__", "<>": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def _where(source, query: Query) -> list:
    clauses = []
    if query.bbox is not None:
        west, south, east, north = query.bbox
        if west <= east:
            clauses.append(func.ST_Intersects(source.c.geom, func.ST_MakeEnvelope(west, south, east, north, SRID)))
        else:  # across the antimeridian: two boxes
            clauses.append(or_(func.ST_Intersects(source.c.geom, func.ST_MakeEnvelope(west, south, 180, north, SRID)),
                               func.ST_Intersects(source.c.geom, func.ST_MakeEnvelope(-180, south, east, north, SRID))))
    for name, operator, value in query.conditions:
        column = source.c[name]
        if operator == "like":
            clauses.append(column.like(value))
        elif operator == "is null":
            clauses.append(column.is_(None))
        else:
            clauses.append(getattr(column, _OPERATORS[operator])(value))
    return clauses


def _feature(row, collection: str, lat_lon: bool):
    geom = func.ST_FlipCoordinates(row.c.geom) if lat_lon else row.c.geom
    pairs = []
    for prop in PROPERTIES[collection]:
        pairs += [cast(literal(prop.name), Text), row.c[prop.name]]
    # Options 0: no "crs" member inside the geometry (RFC 7946 removed it; the header says the CRS).
    return func.json_build_object(
        cast(literal("type"), Text), cast(literal("Feature"), Text), cast(literal("id"), Text), row.c.fid,
        cast(literal("geometry"), Text), cast(func.ST_AsGeoJSON(geom, 7, 0), JSON),
        cast(literal("properties"), Text), func.json_build_object(*pairs))


def page_of_features(conn: Connection, collection: str, query: Query) -> tuple[int, list[dict]]:
    """``(number matched, features of the page)`` of ``collection``, ordered by feature id."""
    source = SOURCES[collection](query.divisions, query.versioned).subquery("s")
    hit = select(source).where(*_where(source, query)).cte("hit")
    page = select(hit).order_by(hit.c.fid).limit(query.limit).offset(query.offset).subquery("page")
    features = select(func.coalesce(func.json_agg(aggregate_order_by(_feature(page, collection, query.lat_lon),
                                                                     page.c.fid)),
                                    cast(literal("[]"), JSON)))
    matched = select(func.count()).select_from(hit)
    count, rows = conn.execute(select(matched.scalar_subquery(), features.scalar_subquery())).one()
    return int(count), rows


def one_feature(conn: Connection, collection: str, fid: str, divisions: Sequence[int],
                lat_lon: bool = False, versioned: bool = False) -> dict | None:
    """The feature ``fid`` of ``collection`` over ``divisions``, or None."""
    source = SOURCES[collection](divisions, versioned).subquery("s")
    return conn.execute(select(_feature(source, collection, lat_lon)).where(source.c.fid == fid)).scalar_one_or_none()


def spatial_extent(conn: Connection, collection: str, divisions: Sequence[int]) -> list[float] | None:
    """``[west, south, east, north]`` of the published features, or None when there are none."""
    source = SOURCES[collection](divisions).subquery("s")
    extent = select(func.ST_Extent(source.c.geom).label("e")).subquery("x")
    row = conn.execute(select(func.ST_XMin(extent.c.e), func.ST_YMin(extent.c.e), func.ST_XMax(extent.c.e),
                              func.ST_YMax(extent.c.e))).one()
    return None if row[0] is None else [float(v) for v in row]


def temporal_extent(conn: Connection) -> tuple[date | None, date | None, bool]:
    """First ``effective_from`` and last ``effective_to`` of approved divisions, and whether one is open-ended."""
    d = m.Division.__table__
    start, end, open_ended = conn.execute(
        select(func.min(d.c.effective_from), func.max(d.c.effective_to), func.bool_or(d.c.effective_to.is_(None)))
        .where(d.c.status == "approved", d.c.effective_from.is_not(None))).one()
    return start, end, bool(open_ended)


def division_version(conn: Connection, community_code: str, version: int) -> int | None:
    """The id of an approved version of a community's division (for a versioned feature id)."""
    d = m.Division.__table__
    return conn.execute(select(d.c.id).where(d.c.community_code == community_code, d.c.version == version,
                                             d.c.status == "approved")).scalar_one_or_none()


def approved_in_interval(conn: Connection, start: date | None, end: date | None) -> list[int]:
    """Ids of approved divisions in force at any time in ``[start, end]`` (None: open)."""
    d = m.Division.__table__
    clauses = [d.c.status == "approved", d.c.effective_from.is_not(None)]
    if end is not None:
        clauses.append(d.c.effective_from <= end)
    if start is not None:
        clauses.append(or_(d.c.effective_to.is_(None), d.c.effective_to > start))
    return list(conn.execute(select(d.c.id).where(*clauses).order_by(d.c.id)).scalars())
