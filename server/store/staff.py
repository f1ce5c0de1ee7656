"""All SQL of the grid staff aggregate: people, assignments, photos, the county policy, and the event
reassignment when a person leaves a grid. SQLAlchemy expressions only; callers own the transaction.

An assignment is in force on day ``d`` when ``start_date <= d`` and (``end_date`` is null or ``d < end_date``):
the end date is the first day not served, so a grid retired on the day a new division takes effect
has its assignments end on that day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Connection, and_, delete, func, insert, literal, or_, select, update

from server.store import models as m

S, A = m.Staff, m.StaffAssignment
#: Open event statuses (the loop of gis.eventflow before verification and closure).
OPEN_EVENT = ("reported", "registered", "dispatched", "handling", "handled", "returned")


def in_force(on: date):
    """The condition of an assignment in force on ``on``."""
    return and_(A.start_date <= on, or_(A.end_date.is_(None), A.end_date > on))


def person_columns():
    """The columns of a person as the roster shows them."""
    return (S.id, S.code, S.name, S.phone, S.township_code, S.user_id, S.publish_contact, S.duties, S.employment,
            S.start_date, S.end_date,
            select(literal(True)).where(m.StaffPhoto.staff_id == S.id).exists().label("has_photo"),
            m.User.username.label("username"))


def _people():
    return select(*person_columns()).outerjoin(m.User, m.User.id == S.user_id)


def person(conn: Connection, staff_id: int):
    """One person or None."""
    return conn.execute(_people().where(S.id == staff_id)).mappings().first()


def person_by_phone(conn: Connection, phone: str):
    """The person with this (canonical) phone, or None."""
    return conn.execute(_people().where(S.phone == phone).order_by(S.id)).mappings().first()


def people(conn: Connection, *, township_prefix: str, q: str | None, grid: str | None, role: str | None,
           on: date, include_left: bool, limit: int, offset: int) -> tuple[int, list]:
    """A page of people of the townships starting with ``township_prefix``, by name, and the total."""
    query = _people().where(or_(S.township_code.like(township_prefix + "%"),
                                select(A.id).where(A.staff_id == S.id,
                                                   A.grid_code.like(township_prefix[:9] + "%")).exists()))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(S.name.like(pattern), S.phone.like(pattern), S.code.like(pattern)))
    if grid or role:
        sub = select(A.id).where(A.staff_id == S.id, in_force(on))
        if grid:
            sub = sub.where(A.grid_code.like(grid + "%"))
        if role:
            sub = sub.where(A.role == role)
        query = query.where(sub.exists())
    if not include_left:
        query = query.where(or_(S.end_date.is_(None), S.end_date > on))
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(query.order_by(S.name, S.id).limit(limit).offset(offset)).mappings().all()
    return total, rows


def assignments_of(conn: Connection, staff_ids: Iterable[int]) -> list:
    """Every assignment (history included) of these people, newest first."""
    ids = list(staff_ids)
    if not ids:
        return []
    return conn.execute(select(A.id, A.staff_id, A.grid_code, A.role, A.start_date, A.end_date, A.ended_reason)
                        .where(A.staff_id.in_(ids)).order_by(A.staff_id, A.end_date.is_not(None),
                                                              A.start_date.desc(), A.id)).mappings().all()


def insert_person(conn: Connection, values: dict) -> int:
    """Add a person; returns the id."""
    return conn.execute(insert(S).values(**values).returning(S.id)).scalar_one()


def update_person(conn: Connection, staff_id: int, values: dict) -> None:
    """Change a person's fields."""
    if values:
        conn.execute(update(S).where(S.id == staff_id).values(**values))


def assignment(conn: Connection, assignment_id: int):
    """One assignment or None."""
    return conn.execute(select(A).where(A.id == assignment_id)).mappings().first()


def same_post(conn: Connection, staff_id: int, code: str, role: str, on: date):
    """An assignment of the person to the code in the role that is in force on ``on`` or later."""
    return conn.execute(select(A.id).where(A.staff_id == staff_id, A.grid_code == code, A.role == role,
                                           or_(A.end_date.is_(None), A.end_date > on))).scalar_one_or_none()


def insert_assignment(conn: Connection, values: dict) -> int:
    """Add an assignment; returns the id."""
    return conn.execute(insert(A).values(**values).returning(A.id)).scalar_one()


def end_assignments(conn: Connection, ids: list[int], end: date, reason: str | None) -> None:
    """End these assignments on ``end`` (an assignment that would start later ends where it starts)."""
    if ids:
        conn.execute(update(A).where(A.id.in_(ids))
                     .values(end_date=func.greatest(A.start_date, end), ended_reason=reason))


def open_assignments(conn: Connection, *, staff_id: int | None = None, prefix: str | None = None,
                     codes: list[str] | None = None, on: date) -> list:
    """Assignments not ended by ``on`` (in force, or starting later), of a person, a code prefix or codes."""
    query = select(A.id, A.staff_id, A.grid_code, A.role, A.start_date, A.end_date).where(
        or_(A.end_date.is_(None), A.end_date > on))
    if staff_id is not None:
        query = query.where(A.staff_id == staff_id)
    if prefix is not None:
        query = query.where(A.grid_code.like(prefix + "%"))
    if codes is not None:
        query = query.where(A.grid_code.in_(codes))
    return conn.execute(query.order_by(A.grid_code, A.id)).mappings().all()


def posts(conn: Connection, prefix: str, on: date) -> list:
    """Assignments in force on ``on`` under a code prefix, with the person's name and employment."""
    return conn.execute(select(A.staff_id, A.grid_code, A.role, S.employment, S.name)
                        .join(S, S.id == A.staff_id).where(A.grid_code.like(prefix + "%"), in_force(on))
                        .order_by(A.grid_code, A.role, S.name)).mappings().all()


def posts_of_people(conn: Connection, staff_ids: list[int], on: date) -> list:
    """Assignments in force on ``on`` of these people (anywhere) to filed codes not retired, with name and
    employment (a draft's codes are not filed yet: nobody serves them).
    """
    return conn.execute(select(A.staff_id, A.grid_code, A.role, S.employment, S.name)
                        .join(S, S.id == A.staff_id).join(m.GridCode, m.GridCode.code == A.grid_code)
                        .where(A.staff_id.in_(staff_ids), in_force(on), m.GridCode.retired_at.is_(None))
                        ).mappings().all()


def staff_for_code(conn: Connection, code: str, on: date, roles: Iterable[str] | None = None) -> list:
    """People serving ``code`` on ``on`` (optionally only these roles), with the assignment."""
    query = (select(S.id.label("staff_id"), S.name, S.phone, S.duties, S.employment, S.user_id, S.publish_contact,
                    A.id.label("assignment_id"), A.role, A.start_date, A.end_date,
                    select(literal(True)).where(m.StaffPhoto.staff_id == S.id).exists().label("has_photo"))
             .join(A, A.staff_id == S.id).where(A.grid_code == code, in_force(on)))
    if roles is not None:
        query = query.where(A.role.in_(list(roles)))
    return conn.execute(query.order_by(A.id)).mappings().all()


def grids_in_force(conn: Connection, prefix: str, on: date) -> list:
    """Grids of approved divisions in force on ``on`` under a code prefix: code, name, type, the community's
    kind (urban/rural) as subtype, and the division; micro-grids (17-digit codes) follow with their grid's.
    """
    d, g, mg, area = m.Division, m.Grid, m.MicroGrid, m.AdminArea
    live = and_(d.status == "approved", d.effective_from <= on, or_(d.effective_to.is_(None), d.effective_to > on),
                d.community_code.like(prefix[:12] + "%"))
    grids = conn.execute(select(g.code, g.name, g.type, area.kind.label("subtype"), g.division_id)
                         .join(d, d.id == g.division_id).join(area, area.code == d.community_code)
                         .where(live, g.code.is_not(None), g.code.like(prefix + "%")).order_by(g.code)).mappings().all()
    micro = conn.execute(select(mg.code, literal(None).label("name"), literal("micro").label("type"),
                                literal(None).label("subtype"), g.division_id)
                         .join(g, g.id == mg.grid_id).join(d, d.id == g.division_id)
                         .where(live, mg.code.is_not(None), mg.code.like(prefix + "%")).order_by(mg.code)
                         ).mappings().all()
    return [*grids, *micro]


def division_codes(conn: Connection, division_id: int) -> tuple[list, list]:
    """Grids (code, name, type, community kind) and micro-grid codes of one division (codes may be null)."""
    d, g, mg, area = m.Division, m.Grid, m.MicroGrid, m.AdminArea
    grids = conn.execute(select(g.label, g.code, g.name, g.type, area.kind.label("subtype"))
                         .join(d, d.id == g.division_id).join(area, area.code == d.community_code)
                         .where(g.division_id == division_id).order_by(g.label)).mappings().all()
    micro = conn.execute(select(mg.code).join(g, g.id == mg.grid_id)
                         .where(g.division_id == division_id, mg.code.is_not(None))).scalars().all()
    return grids, micro


def division_row(conn: Connection, division_id: int):
    """community_code, effective_from, status of a division."""
    d = m.Division
    return conn.execute(select(d.id, d.community_code, d.effective_from, d.status).where(d.id == division_id)).first()


def grid_outlines(conn: Connection, prefix: str, on: date) -> list:
    """Grids in force under a prefix with their outline as GeoJSON (for the staffing map)."""
    d, g = m.Division, m.Grid
    return conn.execute(select(g.code, g.name, g.type, func.ST_AsGeoJSON(g.geom, 6, 0).label("geometry"))
                        .join(d, d.id == g.division_id)
                        .where(d.status == "approved", d.effective_from <= on,
                               or_(d.effective_to.is_(None), d.effective_to > on), g.code.like(prefix + "%"))
                        .order_by(g.code)).mappings().all()


def area_name(conn: Connection, code: str) -> str | None:
    """The name of an administrative area."""
    return conn.execute(select(m.AdminArea.name).where(m.AdminArea.code == code)).scalar_one_or_none()


def user_id_by_name(conn: Connection, username: str):
    """``(id, role, scope)`` of a user, or None."""
    return conn.execute(select(m.User.id, m.User.role, m.User.scope_code).where(m.User.username == username)).first()


# -- photos -----------------------------------------------------------------------------------------

def photo(conn: Connection, staff_id: int) -> bytes | None:
    """A person's portrait (JPEG) or None."""
    return conn.execute(select(m.StaffPhoto.jpeg).where(m.StaffPhoto.staff_id == staff_id)).scalar_one_or_none()


def put_photo(conn: Connection, staff_id: int, jpeg: bytes) -> None:
    """Store (replace) a person's portrait."""
    conn.execute(delete(m.StaffPhoto).where(m.StaffPhoto.staff_id == staff_id))
    conn.execute(insert(m.StaffPhoto).values(staff_id=staff_id, jpeg=jpeg))


# -- the county policy ------------------------------------------------------------------------------

def policy(conn: Connection, county_code: str):
    """The county's staffing policy row, or None (the defaults apply)."""
    p = m.StaffPolicy
    return conn.execute(select(p.mask_public_phones, p.max_grids_per_person)
                        .where(p.county_code == county_code)).mappings().first()


def put_policy(conn: Connection, county_code: str, values: dict) -> None:
    """Set the county's staffing policy."""
    p = m.StaffPolicy
    conn.execute(delete(p).where(p.county_code == county_code))
    conn.execute(insert(p).values(county_code=county_code, **values))


# -- events of a person who leaves a grid -----------------------------------------------------------

def open_events(conn: Connection, staff_id: int, codes: list[str]) -> list:
    """Open events of these grid codes assigned to the person."""
    e = m.Event
    return conn.execute(select(e.id, e.grid_code, e.status).where(
        e.assigned_staff_id == staff_id, e.grid_code.in_(codes), e.status.in_(OPEN_EVENT))).mappings().all()


def reassign_event(conn: Connection, event_id: int, status: str, to_staff: int | None, at: datetime,
                   user_id: int | None, note: str) -> None:
    """Give an event to another person and record it in the event's history (the status is unchanged)."""
    conn.execute(update(m.Event).where(m.Event.id == event_id).values(assigned_staff_id=to_staff))
    conn.execute(insert(m.EventHistory).values(event_id=event_id, at=at, user_id=user_id, action="reassign",
                                               from_status=status, to_status=status, note=note))


def people_with_photo(conn: Connection, staff_ids: list[int]) -> list:
    """Ids among these people that have a portrait."""
    return conn.execute(select(m.StaffPhoto.staff_id.label("id")).where(m.StaffPhoto.staff_id.in_(staff_ids))
                        ).mappings().all()


def insert_people(conn: Connection, rows: list[dict]) -> list[int]:
    """Add many people; their ids in the same order."""
    if not rows:
        return []
    return list(conn.execute(insert(S).returning(S.id, sort_by_parameter_order=True), rows).scalars())


def insert_assignments(conn: Connection, rows: list[dict]) -> None:
    """Add many assignments."""
    if rows:
        conn.execute(insert(A), rows)


def phones(conn: Connection) -> set[str]:
    """Every phone on the roster."""
    return set(conn.execute(select(S.phone).where(S.phone.is_not(None))).scalars())
