"""Administrative areas as the pages need them: the first county, an area's header, a community's division."""

from __future__ import annotations

from sqlalchemy import Engine

from server.errors import NotFound
from server.store import areas
from server.store import features as base_data
from server.store.db import database_status


def first_county(engine: Engine) -> str:
    """The code of the first county imported (the one a county office works on).

    Raises
    ------
    NotFound
        Nothing has been imported yet.
    """
    with engine.connect() as conn:
        code = areas.first_county_code(conn)
    if code is None:
        raise NotFound("尚未导入任何区县 / no county imported yet: run wangge demo load or wangge import areas")
    return code


def area(engine: Engine, code: str) -> dict:
    """``{code, name, level, parent_code}`` of an administrative area, or NotFound naming the code."""
    with engine.connect() as conn:
        header = areas.area_header(conn, code)
    if header is None:
        raise NotFound(f"没有编码为 {code} 的行政区划 / no administrative area with code {code!r}")
    return header


def community_division(engine: Engine, code: str, wanted: int | None = None) -> tuple[dict, int]:
    """The community's header and the division to open: ``wanted`` if it is one of its versions, else the latest.

    Raises
    ------
    NotFound
        ``code`` is not a community, or the community has no division yet.
    """
    with engine.connect() as conn:
        community = areas.area_header(conn, code)
        if community is None or community["level"] != "community":
            raise NotFound(f"没有编码为 {code} 的社区/村 / no community with code {code!r}")
        division_id = areas.community_division_id(conn, code, wanted)
    if division_id is None:
        raise NotFound(f"社区 {code} 尚无网格划分，请先运行 wangge divide {code} / community {code} has no division "
                       f"yet: run the engine first (wangge divide {code})")
    return community, division_id


# -- base data for the map pages and scripts (GeoJSON built by PostGIS) -----------------------------------

def area_exists(conn, code: str) -> bool:
    """Whether an administrative area with ``code`` was imported."""
    return base_data.area_exists(conn, code)


def areas_geojson(conn, *, level: str | None, parent: str | None) -> dict:
    """Administrative areas as GeoJSON, by level and parent."""
    return base_data.areas_geojson(conn, level=level, parent=parent)


def _capped(collection: dict, limit: int) -> dict:
    # The store was asked for one feature more than the limit: if it came, the list was cut, and says so.
    features = collection["features"]
    collection["capped"] = len(features) > limit
    collection["limit"] = limit
    collection["features"] = features[:limit]
    collection["numberReturned"] = len(collection["features"])
    return collection


def buildings_geojson(conn, *, community: str | None, bbox, limit: int) -> dict:
    """Buildings as GeoJSON, at most ``limit``; ``capped`` says whether there were more."""
    return _capped(base_data.buildings_geojson(conn, community=community, bbox=bbox, limit=limit + 1), limit)


def barriers_geojson(conn, *, bbox, limit: int) -> dict:
    """Roads, rivers and walls as GeoJSON, at most ``limit``; ``capped`` says whether there were more."""
    return _capped(base_data.barriers_geojson(conn, bbox=bbox, limit=limit + 1), limit)


def sites_geojson(conn, *, bbox, limit: int) -> dict:
    """Compounds and exclusive sites as GeoJSON, at most ``limit``; ``capped`` says whether there were more."""
    return _capped(base_data.sites_geojson(conn, bbox=bbox, limit=limit + 1), limit)


def summary(conn) -> dict:
    """Row counts of the base data and its extent (CRS84)."""
    return {"counts": base_data.counts(conn), "extent": base_data.extent(conn)}


def health(engine: Engine) -> dict:
    """PostgreSQL and PostGIS versions and the schema revision, or why the database cannot be reached."""
    return database_status(engine)
