"""Storage of grid events, their history and photos, the matter list and staff assignment: all their SQL.

Everything here is a SQLAlchemy expression; the services (:mod:`server.services.events` and its
siblings) hold the rules and never write SQL. Rows come back as SQLAlchemy rows (attribute access).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by

from server.store import models as m
from server.store.features import RECORD_FEATURE

#: Statuses that end the loop (mirrors gis.eventflow.FINAL; store imports models only).
_FINAL = ("closed", "cancelled")


# -- the matter list ------------------------------------------------------------------------------------

def matter_query():
    """Matters with their 大类's code and name (``parent_code``, ``parent_name``)."""
    mc = m.MatterCategory
    parent = mc.__table__.alias("parent")
    return select(mc.id, mc.code, mc.name, mc.parent_id, mc.time_limit, mc.time_unit, mc.responsible_unit,
                  mc.admitted_on, mc.exited_on, parent.c.code.label("parent_code"),
                  parent.c.name.label("parent_name")).outerjoin(parent, parent.c.id == mc.parent_id)


def matters(conn: Connection) -> list:
    """Every matter, by code."""
    return conn.execute(matter_query().order_by(m.MatterCategory.code)).all()


def matter(conn: Connection, matter_id: int):
    """One matter (with its parent's code and name), or None."""
    return conn.execute(matter_query().where(m.MatterCategory.id == matter_id)).one_or_none()


def matters_by_code(conn: Connection) -> dict[str, Any]:
    """Every matter row (all columns) by code."""
    return {r.code: r for r in conn.execute(select(m.MatterCategory))}


def matter_row(conn: Connection, *, matter_id: int | None = None, code: str | None = None, lock: bool = False):
    """The matter row with this id or code (all columns), or None; ``lock`` takes a row lock."""
    mc = m.MatterCategory
    query = select(mc).where(mc.id == matter_id if matter_id is not None else mc.code == code)
    return conn.execute(query.with_for_update() if lock else query).one_or_none()


def major_matter_id(conn: Connection, code: str) -> int | None:
    """The id of the 大类 with this code."""
    mc = m.MatterCategory
    return conn.execute(select(mc.id).where(mc.code == code, mc.parent_id.is_(None))).scalar_one_or_none()


def matter_code_taken(conn: Connection, code: str) -> bool:
    """Whether a matter has this code."""
    return conn.execute(select(m.MatterCategory.id).where(m.MatterCategory.code == code)).first() is not None


def insert_matter(conn: Connection, values: dict) -> int:
    """Add a matter; return its id."""
    return conn.execute(insert(m.MatterCategory).values(**values).returning(m.MatterCategory.id)).scalar_one()


def update_matter(conn: Connection, matter_id: int, values: dict) -> None:
    """Change a matter's columns."""
    conn.execute(update(m.MatterCategory).where(m.MatterCategory.id == matter_id).values(**values))


# -- staff ----------------------------------------------------------------------------------------------

def assigned_staff(conn: Connection, grid_code: str, roles: tuple[str, ...], on: date) -> int | None:
    """The staff member of ``grid_code`` active on ``on`` with the first of ``roles`` (in that order)."""
    a, s = m.StaffAssignment, m.Staff
    order = case({role: k for k, role in enumerate(roles)}, value=a.role)
    return conn.execute(select(s.id).join(a, a.staff_id == s.id)
                        .where(a.grid_code == grid_code, a.role.in_(roles), a.start_date <= on,
                               or_(a.end_date.is_(None), a.end_date >= on))
                        .order_by(order, a.id).limit(1)).scalar_one_or_none()


def grids_have_staff(conn: Connection, grid_codes: list[str]) -> bool:
    """Whether any of these grids has a staff assignment."""
    a = m.StaffAssignment
    return conn.execute(select(a.id).where(a.grid_code.in_(grid_codes)).limit(1)).first() is not None


def ensure_staff(conn: Connection, code: str, values: dict) -> int:
    """The id of the staff member with ``code``, created with ``values`` when missing."""
    sid = conn.execute(select(m.Staff.id).where(m.Staff.code == code)).scalar_one_or_none()
    if sid is None:
        sid = conn.execute(insert(m.Staff).values(code=code, **values).returning(m.Staff.id)).scalar_one()
    return sid


def assign_staff(conn: Connection, staff_id: int, grid_code: str, role: str, since: date) -> None:
    """Assign a staff member to a grid from ``since``."""
    conn.execute(insert(m.StaffAssignment).values(staff_id=staff_id, grid_code=grid_code, role=role,
                                                  start_date=since))


def user_ids(conn: Connection, usernames: Iterable[str]) -> dict[str, Any]:
    """User rows by username (the ones that exist)."""
    return {u.username: u for u in conn.execute(select(m.User).where(m.User.username.in_(list(usernames))))}


# -- events: writing --------------------------------------------------------------------------------------

def next_event_id(conn: Connection) -> int:
    """A fresh event id from the table's sequence (the event code contains it)."""
    return conn.execute(select(func.nextval(func.pg_get_serial_sequence("event", "id")))).scalar_one()


def point_value(lon: float, lat: float):
    """A point in EPSG:4490 as a column value."""
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), m.SRID)


def insert_event(conn: Connection, values: dict) -> None:
    """Add an event (``values`` includes its id)."""
    conn.execute(insert(m.Event).values(**values))


def insert_history(conn: Connection, event_id: int, at: datetime, user_id: int | None, action: str,
                   from_status: str | None, to_status: str | None, note: str | None) -> None:
    """Add one step to an event's history."""
    conn.execute(insert(m.EventHistory).values(event_id=event_id, at=at, user_id=user_id, action=action,
                                               from_status=from_status, to_status=to_status, note=note))


def lock_event(conn: Connection, event_id: int):
    """The event row, locked for the rest of the transaction, or None."""
    return conn.execute(select(m.Event).where(m.Event.id == event_id).with_for_update()).one_or_none()


def update_event(conn: Connection, event_id: int, values: dict) -> None:
    """Change an event's columns."""
    conn.execute(update(m.Event).where(m.Event.id == event_id).values(**values))


def insert_photo(conn: Connection, event_id: int, position: int, content_type: str, width: int, height: int,
                 data: bytes) -> None:
    """Store one photo of an event."""
    conn.execute(insert(m.EventPhoto).values(event_id=event_id, position=position, content_type=content_type,
                                             width=width, height=height, data=data))


# -- events: reading ----------------------------------------------------------------------------------------

def event_query():
    """Events with their matter, assigned staff, community name, point and photo count."""
    e, mc, s, a, p = m.Event, m.MatterCategory, m.Staff, m.AdminArea, m.EventPhoto
    photos = select(func.count(p.id)).where(p.event_id == e.id).scalar_subquery()
    return (select(e.id, e.code, e.title, e.description, e.status, e.source, e.address, e.grid_code,
                   e.community_code, e.reported_at, e.dispatched_at, e.deadline_at, e.handled_at, e.closed_at,
                   e.warned_at, e.escalated_at, e.handler_unit, e.category_id, e.assigned_staff_id,
                   e.handled_by_user_id, e.tracking_code,
                   mc.code.label("category_code"), mc.name.label("category_name"),
                   s.name.label("staff_name"), s.phone.label("staff_phone"), s.user_id.label("staff_user_id"),
                   a.name.label("community_name"), photos.label("photo_count"),
                   func.ST_X(e.geom).label("lon"), func.ST_Y(e.geom).label("lat"))
            .outerjoin(mc, mc.id == e.category_id).outerjoin(s, s.id == e.assigned_staff_id)
            .outerjoin(a, a.code == e.community_code))


def scope_filter(area_prefix: str | None, user_prefix: str | None, everything: bool) -> list:
    """Where-clauses: events under ``area_prefix``, and under ``user_prefix`` unless ``everything``.

    ``user_prefix`` None and not ``everything``: no event at all.
    """
    target = func.coalesce(m.Event.grid_code, m.Event.community_code)
    where = []
    if area_prefix is not None:
        where.append(target.like(area_prefix + "%"))
    if not everything:
        where.append(target.like(user_prefix + "%") if user_prefix else literal(False))
    return where


def events(conn: Connection, where: list, *, statuses: list[str] | None = None, open_only: bool = False,
           staff_user_id: int | None = None, overdue: bool = False, limit: int = 500) -> list:
    """Events matching ``where`` and the filters; open work first, most urgent deadline first, then newest."""
    e = m.Event
    query = event_query().where(*where)
    if statuses:
        query = query.where(e.status.in_(statuses))
    if open_only:
        query = query.where(e.status.not_in(_FINAL))
    if staff_user_id is not None:
        query = query.where(m.Staff.user_id == staff_user_id)
    if overdue:
        query = query.where(e.escalated_at.is_not(None), e.status.not_in(_FINAL))
    query = query.order_by(e.status.in_(_FINAL), e.deadline_at.asc().nulls_last(), e.reported_at.desc(),
                           e.id.desc()).limit(limit)
    return conn.execute(query).all()


def event(conn: Connection, *, event_id: int | None = None, tracking_code: str | None = None,
          where: Iterable = ()):
    """The event with this id or tracking code, within ``where`` (:func:`scope_filter`), or None."""
    e = m.Event
    key = e.id == event_id if event_id is not None else e.tracking_code == tracking_code
    return conn.execute(event_query().where(key, *where)).one_or_none()


def history(conn: Connection, event_id: int) -> list:
    """An event's history, oldest first, with the acting user's names."""
    h, u = m.EventHistory, m.User
    return conn.execute(select(h.at, h.action, h.from_status, h.to_status, h.note, u.username, u.display_name)
                        .outerjoin(u, u.id == h.user_id).where(h.event_id == event_id)
                        .order_by(h.at, h.id)).all()


def photos(conn: Connection, event_id: int) -> list:
    """The photos of an event without their bytes: position, type, size."""
    p = m.EventPhoto
    return conn.execute(select(p.position, p.content_type, p.width, p.height, func.length(p.data).label("bytes"))
                        .where(p.event_id == event_id).order_by(p.position)).all()


def photo(conn: Connection, event_id: int, position: int):
    """One photo with its bytes, or None."""
    p = m.EventPhoto
    return conn.execute(select(p.content_type, p.data).where(p.event_id == event_id,
                                                             p.position == position)).one_or_none()


def event_ids_with_code(conn: Connection, prefix: str) -> bool:
    """Whether an event code starts with ``prefix``."""
    return conn.execute(select(m.Event.id).where(m.Event.code.like(prefix + "%")).limit(1)).first() is not None


# -- timers -------------------------------------------------------------------------------------------------

def running_unswept(conn: Connection, running: Iterable[str]) -> list:
    """Events with the clock running and a timer still to fire, locked; rows others hold are skipped."""
    e = m.Event
    return conn.execute(select(e).where(e.status.in_(list(running)), e.deadline_at.is_not(None),
                                        or_(e.warned_at.is_(None), e.escalated_at.is_(None)))
                        .order_by(e.id).with_for_update(skip_locked=True)).all()


def township_of(conn: Connection, community_code: str | None):
    """The township/street (``code``, ``name``) above a community, or None."""
    c, t = m.AdminArea.__table__.alias("c"), m.AdminArea.__table__.alias("t")
    return conn.execute(select(t.c.code, t.c.name).join_from(c, t, t.c.code == c.c.parent_code)
                        .where(c.c.code == community_code)).first()


# -- grids and statistics -----------------------------------------------------------------------------------

def grid_points(conn: Connection, division_ids: list[int], home: str) -> list:
    """Grids of these divisions with a point inside each (``code``, ``community_code``, ``lon``, ``lat``).

    The ``home`` community's grids come first.
    """
    g, d = m.Grid, m.Division
    inside = func.ST_PointOnSurface(g.geom)
    return conn.execute(select(g.code, d.community_code, func.ST_X(inside).label("lon"),
                               func.ST_Y(inside).label("lat"))
                        .join(d, d.id == g.division_id)
                        .where(g.division_id.in_(division_ids), g.code.is_not(None), g.geom.is_not(None))
                        .order_by((d.community_code == home).desc(), g.code)).all()


def _grid_counts(division_ids: list[int], prefix: str, since: datetime | None, until: datetime | None):
    # Grids of the divisions in force, each with its event counts (events match grids by code, so they
    # stay with the grid across versions of a division).
    g, d, c, e = m.Grid, m.Division, m.AdminArea, m.Event
    period = [e.reported_at >= since] if since is not None else []
    period += [e.reported_at < until] if until is not None else []
    count = func.count(e.id)
    return (select(g.code, g.name, d.community_code, c.name.label("community_name"),
                   count.label("n_events"),
                   count.filter(e.status.not_in(("reported", "cancelled"))).label("n_registered"),
                   count.filter(e.status.not_in(_FINAL)).label("n_open"),
                   count.filter(e.status == "closed").label("n_closed"),
                   count.filter(e.status == "closed", e.deadline_at.is_not(None),
                                func.coalesce(e.handled_at, e.closed_at) <= e.deadline_at).label("n_on_time"),
                   count.filter(e.escalated_at.is_not(None), e.status.not_in(_FINAL)).label("n_overdue"),
                   g.geom)
            .join(d, d.id == g.division_id).join(c, c.code == d.community_code)
            .outerjoin(e, and_(e.grid_code == g.code, *period))
            .where(g.division_id.in_(division_ids), g.code.is_not(None), g.code.like(prefix + "%"))
            .group_by(g.id, g.code, g.name, d.community_code, c.name))


def grid_counts(conn: Connection, division_ids: list[int], prefix: str, since: datetime | None,
                until: datetime | None) -> list:
    """Per grid under ``prefix``: code, name, community, and counts of events reported in the period."""
    query = _grid_counts(division_ids, prefix, since, until)
    sub = query.subquery("s")
    return conn.execute(select(*[col for col in sub.c if col.name != "geom"])
                        .order_by(sub.c.n_events.desc(), sub.c.code)).all()


def grid_counts_geojson(conn: Connection, division_ids: list[int], prefix: str, since: datetime | None,
                        until: datetime | None) -> dict:
    """The same counts as a GeoJSON FeatureCollection of the grids (built by PostGIS, by grid code)."""
    sub = _grid_counts(division_ids, prefix, since, until).subquery("t")
    # ST_AsGeoJSON of the whole row: every column but geom becomes a property. Constant SQL, no values.
    feature = literal_column(RECORD_FEATURE)
    features = func.coalesce(func.json_agg(aggregate_order_by(feature, sub.c.code)), literal_column("'[]'::json"))
    return conn.execute(select(func.json_build_object("type", "FeatureCollection", "features", features))
                        .select_from(sub)).scalar_one()


def first_county(conn: Connection, prefix: str = "") -> str | None:
    """The code of the first county under ``prefix``."""
    a = m.AdminArea
    return conn.execute(select(a.code).where(a.level == "county", a.code.like(prefix + "%"))
                        .order_by(a.code)).scalar()
