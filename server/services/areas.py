"""Administrative areas as the pages need them: the first county, an area's header, a community's division."""

from __future__ import annotations

from sqlalchemy import Engine

from server.errors import NotFound
from server.store import areas


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
