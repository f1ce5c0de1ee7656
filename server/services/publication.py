"""What the standard interfaces publish (OGC API - Features, vector tiles), and how it is asked for.

One rule decides which divisions the public sees: approved ones in force (with ``approved_only``
false, which the demo uses, the latest draft of communities with no approved division too). A date
selects the divisions in force that day; an interval every approved version in force at some time in
it, whose features then carry ``code@v<version>`` ids so that no id repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection

from gis.errors import InputError
from server.services.divisions import divisions_in_force
from server.store import features, tiles
from server.store import ogc as store
from server.store.ogc import PROPERTIES, Property, Query

__all__ = ["PROPERTIES", "Property", "Query", "Selection", "published", "page", "feature", "extents",
           "parse_cql2", "grid_tile", "base_extent"]


@dataclass(frozen=True)
class Selection:
    """Which divisions a request reads: one day (None: today), or an interval (either end may be open)."""

    on: date | None = None
    interval: tuple[date | None, date | None] | None = None


def published(conn: Connection, selection: Selection, *, approved_only: bool) -> list[int]:
    """Ids of the divisions whose features ``selection`` publishes."""
    if selection.interval is not None:
        return store.approved_in_interval(conn, *selection.interval)
    return sorted(divisions_in_force(conn, selection.on, approved_only=approved_only).values())


def page(conn: Connection, collection: str, selection: Selection, query: Query, *,
         approved_only: bool) -> tuple[int, list[dict]]:
    """``(number matched, features)`` of one page of ``collection``."""
    divisions = published(conn, selection, approved_only=approved_only)
    return store.page_of_features(conn, collection, Query(
        divisions, query.bbox, query.conditions, query.limit, query.offset, query.lat_lon,
        versioned=selection.interval is not None and collection != "communities"))


_VERSIONED_ID = re.compile(r"(?P<code>[0-9]{12,17})@v(?P<version>[0-9]{1,9})")


def feature(conn: Connection, collection: str, fid: str, selection: Selection, *, approved_only: bool,
            lat_lon: bool = False) -> dict | None:
    """One feature by id: a code, or ``code@v<version>`` for an approved version of its division."""
    versioned = _VERSIONED_ID.fullmatch(fid)
    if versioned and collection != "communities":
        division = store.division_version(conn, versioned["code"][:12], int(versioned["version"]))
        divisions = [] if division is None else [division]
        return store.one_feature(conn, collection, fid, divisions, lat_lon, versioned=True)
    divisions = published(conn, selection, approved_only=approved_only)
    return store.one_feature(conn, collection, fid, divisions, lat_lon)


def extents(conn: Connection, collection: str, *, approved_only: bool) -> tuple[list[float] | None, tuple]:
    """The spatial extent (CRS84 box, None when empty) and the temporal extent of ``collection``."""
    divisions = published(conn, Selection(), approved_only=approved_only)
    return store.spatial_extent(conn, collection, divisions), store.temporal_extent(conn)


def grid_tile(conn: Connection, z: int, x: int, y: int, divisions: list[int], *, extent: int,
              buffer: int) -> bytes:
    """A Mapbox vector tile of the grids of ``divisions`` and the communities (empty bytes when none)."""
    return tiles.grid_tile(conn, z, x, y, divisions, extent=extent, buffer=buffer)


def building_tile(conn: Connection, z: int, x: int, y: int, *, extent: int, buffer: int) -> bytes:
    """A Mapbox vector tile of the buildings (base data, public like ``/api/v1/buildings``); empty bytes when none."""
    return tiles.building_tile(conn, z, x, y, extent=extent, buffer=buffer)


def base_extent(conn: Connection) -> list[float] | None:
    """The extent of the imported areas (CRS84), or None before any import."""
    return features.extent(conn)


# -- CQL2 text, the simple comparisons ------------------------------------------------------------------

_TOKEN = re.compile(r"""\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?[0-9]+(?:\.[0-9]+)?)|(?P<op><>|<=|>=|=|<|>)
                        |(?P<word>[A-Za-z_][A-Za-z0-9_]*))""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match:
            raise InputError(f"无法解析的 CQL2 表达式（位置 {position}）/ cannot parse the CQL2 text at position "
                             f"{position}: {text[position:position + 20]!r}", field="filter")
        kind = match.lastgroup
        tokens.append((kind, match[kind]))
        position = match.end()
    return tokens


def parse_cql2(text: str, collection: str) -> list[tuple[str, str, object]]:
    """``prop op literal [AND prop op literal …]`` (op: = <> < <= > >=, LIKE, IS NULL) → conditions.

    The properties are the collection's queryables, and a literal's type must match the property's.
    OR, NOT, functions and spatial predicates are not supported (the conformance document says so).
    """
    properties = {p.name: p for p in PROPERTIES[collection]}
    tokens, conditions = _tokens(text), []
    i = 0
    while i < len(tokens):
        if len(tokens) - i < 3:
            raise _cql_error(text)
        (kind, name), (op_kind, op), (value_kind, value) = tokens[i:i + 3]
        if kind != "word" or name not in properties:
            raise InputError(f"没有可查询属性 {name!r} / {name!r} is not a queryable of {collection}; "
                             f"queryables: {', '.join(properties)}", field="filter")
        prop = properties[name]
        if op_kind == "word" and op.upper() == "IS" and value.upper() == "NULL" and value_kind == "word":
            conditions.append((name, "is null", None))
        elif op_kind == "word" and op.upper() == "LIKE" and value_kind == "string":
            conditions.append((name, "like", value[1:-1].replace("''", "'")))
        elif op_kind == "op" and value_kind in ("string", "number"):
            literal = value[1:-1].replace("''", "'") if value_kind == "string" else float(value)
            if (prop.type == "integer") != (value_kind == "number"):
                raise InputError(f"属性 {name} 的值类型不符 / {name} is a {prop.type}; got {value}", field="filter")
            conditions.append((name, op, int(literal) if prop.type == "integer" else literal))
        else:
            raise _cql_error(text)
        i += 3
        if i < len(tokens):
            if tokens[i][0] != "word" or tokens[i][1].upper() != "AND":
                raise _cql_error(text)
            i += 1
    return conditions


def _cql_error(text: str) -> InputError:
    return InputError("仅支持以 AND 连接的简单比较 / only simple comparisons joined by AND are supported "
                      f"(property op literal): {text!r}", field="filter")
