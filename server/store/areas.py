"""Administrative areas (county, township, community) as the pages name them, and a community's divisions."""

from __future__ import annotations

from sqlalchemy import Connection, select

from server.store import models as m


def first_county_code(conn: Connection) -> str | None:
    """The code of the first county imported (the one a county office works on), None before any import."""
    return conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "county")
                        .order_by(m.AdminArea.code)).scalars().first()


def area_header(conn: Connection, code: str) -> dict | None:
    """``{code, name, level, parent_code}`` of an administrative area, None if there is none."""
    row = conn.execute(select(m.AdminArea.code, m.AdminArea.name, m.AdminArea.level, m.AdminArea.parent_code)
                       .where(m.AdminArea.code == code)).one_or_none()
    return row._asdict() if row is not None else None


def community_division_id(conn: Connection, community_code: str, wanted: int | None = None) -> int | None:
    """Division ``wanted`` of the community if it is one of its versions, else its latest version."""
    query = select(m.Division.id).where(m.Division.community_code == community_code)
    query = query.where(m.Division.id == wanted) if wanted else query.order_by(m.Division.version.desc())
    return conn.execute(query).scalars().first()
