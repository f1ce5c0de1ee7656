"""Every SQL statement of review and filing: the lifecycle rows, codes, comments, reasons, diffs, packets.

SQLAlchemy expressions where they read as well as the SQL; ``text()`` with bound parameters for the
statements PostGIS functions and lateral joins make clearer as SQL. No statement is built by string
formatting. :mod:`server.services.review` holds the rules and calls these.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Date,
    Integer,
    Numeric,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from server.store import models as m
from server.store.features import SRID

DIVISION_COLUMNS = (m.Division.id, m.Division.community_code, m.Division.version, m.Division.status,
                    m.Division.parent_id, m.Division.atom_layer_id, m.Division.revision, m.Division.band_min,
                    m.Division.band_max, m.Division.settings, m.Division.effective_from, m.Division.effective_to)


# -- divisions and their lifecycle ------------------------------------------------------------------

def division_row(conn: Connection, division_id: int, *, lock: bool = False):
    """The division's lifecycle columns (None when there is none); ``lock`` takes its row lock."""
    query = (select(*DIVISION_COLUMNS, m.AdminArea.name.label("community_name"))
             .join(m.AdminArea, m.AdminArea.code == m.Division.community_code, isouter=True)
             .where(m.Division.id == division_id))
    if lock:
        query = query.with_for_update(of=m.Division)
    return conn.execute(query).one_or_none()


def division_header(conn: Connection, division_id: int) -> dict:
    """Status, version, parent and review dates."""
    return dict(conn.execute(select(
        m.Division.id, m.Division.community_code, m.Division.version, m.Division.status, m.Division.revision,
        m.Division.parent_id, m.Division.submitted_at, m.Division.reviewed_at, m.Division.review_note,
        m.Division.effective_from, m.Division.effective_to).where(m.Division.id == division_id)).mappings().one())


def division_page_header(conn: Connection, division_id: int):
    """Id, version, status and community name, for the review page."""
    return conn.execute(select(m.Division.id, m.Division.version, m.Division.status, m.AdminArea.name)
                        .join(m.AdminArea, m.AdminArea.code == m.Division.community_code)
                        .where(m.Division.id == division_id)).one()


def move_status(conn: Connection, division_id: int, source: str, target: str, values: dict) -> int:
    """Set the status (and ``values``) when it is still ``source``; the number of rows changed."""
    return conn.execute(update(m.Division).where(m.Division.id == division_id, m.Division.status == source)
                        .values(status=target, **values)).rowcount


def add_transition(conn: Connection, division_id: int, source: str, target: str, user_id: int | None,
                   reason: str | None):
    """A ``division_transition`` row; returns its id and time."""
    return conn.execute(insert(m.DivisionTransition).values(
        division_id=division_id, from_status=source, to_status=target, user_id=user_id, reason=reason)
        .returning(m.DivisionTransition.id, m.DivisionTransition.at)).one()


def bare_grids(conn: Connection, division_id: int) -> int:
    """Grids of the division without any micro-grid."""
    return conn.execute(select(func.count()).select_from(m.Grid).where(
        m.Grid.division_id == division_id,
        ~select(m.MicroGrid.id).where(m.MicroGrid.grid_id == m.Grid.id).exists())).scalar_one()


def approved_versions(conn: Connection, community: str, *, lock: bool = False) -> list:
    """The approved versions of a community by effective date (locked, so approvals run one at a time)."""
    query = (select(m.Division.id, m.Division.version, m.Division.effective_from, m.Division.effective_to)
             .where(m.Division.community_code == community, m.Division.status == "approved")
             .order_by(m.Division.effective_from))
    return conn.execute(query.with_for_update() if lock else query).all()


def end_division(conn: Connection, division_id: int, on: date) -> None:
    """The version in force until ``on`` (its ``effective_to``)."""
    conn.execute(update(m.Division).where(m.Division.id == division_id).values(effective_to=on))


def in_force_clash(conn: Connection, community: str):
    """Two approved versions of the community in force on a common day (their versions), or None."""
    a, b = m.Division.__table__.alias("a"), m.Division.__table__.alias("b")
    span = func.daterange
    return conn.execute(select(a.c.version, b.c.version).select_from(a.join(b, and_(
        a.c.community_code == b.c.community_code, a.c.id < b.c.id))).where(
        a.c.community_code == community, a.c.status == "approved", b.c.status == "approved",
        span(a.c.effective_from, a.c.effective_to, "[)").op("&&")(span(b.c.effective_from, b.c.effective_to, "[)")))
        .limit(1)).first()


def transitions(conn: Connection, division_id: int) -> list[dict]:
    """The lifecycle history, oldest first."""
    return [dict(r) for r in conn.execute(
        select(m.DivisionTransition.id, m.DivisionTransition.from_status, m.DivisionTransition.to_status,
               m.DivisionTransition.reason, m.DivisionTransition.at, m.User.username, m.User.display_name)
        .join(m.User, m.User.id == m.DivisionTransition.user_id, isouter=True)
        .where(m.DivisionTransition.division_id == division_id)
        .order_by(m.DivisionTransition.at, m.DivisionTransition.id)).mappings().all()]


def review_queue(conn: Connection, prefix: str) -> list[dict]:
    """Submitted divisions of communities whose code starts with ``prefix``, oldest first."""
    return [dict(r) for r in conn.execute(text("""
        SELECT d.id, d.community_code, c.name AS community, t.name AS township, d.version, d.submitted_at,
               coalesce(u.display_name, u.username) AS author,
               (SELECT count(*) FROM grid g WHERE g.division_id = d.id) AS n_grids,
               (SELECT coalesce(sum(households), 0) FROM grid g WHERE g.division_id = d.id) AS households,
               (SELECT count(*) FROM grid_exemption e WHERE e.division_id = d.id) AS exemptions
        FROM division d JOIN admin_area c ON c.code = d.community_code
        LEFT JOIN admin_area t ON t.code = c.parent_code
        LEFT JOIN LATERAL (SELECT user_id FROM division_transition x WHERE x.division_id = d.id
                           AND x.to_status = 'submitted' ORDER BY x.at DESC LIMIT 1) s ON TRUE
        LEFT JOIN app_user u ON u.id = s.user_id
        WHERE d.status = 'submitted' AND d.community_code LIKE :prefix || '%'
        ORDER BY d.submitted_at, d.id"""), {"prefix": prefix}).mappings().all()]


# -- codes ------------------------------------------------------------------------------------------

def _frame(conn: Connection, statement, params: dict) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(statement, conn, geom_col="geom", params=params)
    return frame.set_crs(SRID, allow_override=True)


def grids_for_codes(conn: Connection, division_id: int) -> gpd.GeoDataFrame:
    """id, label, code, kind and geometry of the division's grids, by label."""
    return _frame(conn, text("SELECT id, label, code, type AS kind, geom FROM grid WHERE division_id = :d "
                             "ORDER BY label"), {"d": division_id})


def coded_grids(conn: Connection, division_id: int) -> gpd.GeoDataFrame:
    """Code and geometry of the division's coded grids."""
    return _frame(conn, text("SELECT code, geom FROM grid WHERE division_id = :d AND code IS NOT NULL"),
                  {"d": division_id})


def buildings(conn: Connection, community: str) -> gpd.GeoDataFrame:
    """The community's buildings (households, units, site, compound)."""
    return _frame(conn, text("SELECT id, households, population, units, site, compound, geom FROM building "
                             "WHERE community_code = :c ORDER BY id"), {"c": community})


def issued_codes(conn: Connection, community: str) -> dict[str, Any]:
    """Every code the community ever issued -> when it was retired (None while in use)."""
    return dict(conn.execute(select(m.GridCode.code, m.GridCode.retired_at)
                             .where(m.GridCode.community_code == community)).all())


def grid_codes_of(conn: Connection, division_id: int) -> set[str]:
    """The grid codes of a division."""
    return set(conn.execute(select(m.Grid.code).where(m.Grid.division_id == division_id,
                                                      m.Grid.code.is_not(None))).scalars())


def micro_codes_of(conn: Connection, division_id: int) -> set[str]:
    """The micro-grid codes of a division."""
    return set(conn.execute(select(m.MicroGrid.code).join(m.Grid, m.Grid.id == m.MicroGrid.grid_id)
                            .where(m.Grid.division_id == division_id, m.MicroGrid.code.is_not(None))).scalars())


def atom_layer_of(conn: Connection, division_id: int) -> int:
    """The atom layer a division is drawn on."""
    return conn.execute(select(m.Division.atom_layer_id).where(m.Division.id == division_id)).scalar_one()


def code_atoms(conn: Connection, division_id: int) -> list[tuple[str, int]]:
    """``(grid code, atom id)`` of every coded grid's atoms."""
    return conn.execute(select(m.Grid.code, m.GridAtom.atom_id).join(m.Grid, m.Grid.id == m.GridAtom.grid_id)
                        .where(m.GridAtom.division_id == division_id, m.Grid.code.is_not(None))).all()


def label_atoms(conn: Connection, division_id: int) -> list[tuple[int, int, int]]:
    """``(atom id, grid label, households)`` of the division."""
    return conn.execute(select(m.GridAtom.atom_id, m.Grid.label, m.Atom.households)
                        .join(m.Grid, m.Grid.id == m.GridAtom.grid_id).join(m.Atom, m.Atom.id == m.GridAtom.atom_id)
                        .where(m.GridAtom.division_id == division_id)).all()


def set_grid_codes(conn: Connection, codes: dict[int, str]) -> None:
    """Grid id -> code."""
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(code=bindparam("c")),
                 [{"gid": k, "c": v} for k, v in codes.items()])


def micro_grids_for_codes(conn: Connection, division_id: int) -> gpd.GeoDataFrame:
    """id, code, grid label and geometry of the division's micro-grids."""
    return _frame(conn, text("SELECT mg.id, mg.code, g.label AS grid, mg.geom FROM micro_grid mg "
                             "JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d ORDER BY mg.id"),
                  {"d": division_id})


def set_micro_codes(conn: Connection, codes: dict[int, str]) -> None:
    """Micro-grid id -> code."""
    if codes:
        conn.execute(update(m.MicroGrid).where(m.MicroGrid.id == bindparam("mid")).values(code=bindparam("c")),
                     [{"mid": k, "c": v} for k, v in codes.items()])


def register_codes(conn: Connection, community: str, division_id: int, new: list[str], gone: list[str]) -> None:
    """New codes into the registry; codes that disappeared retired there."""
    if new:
        conn.execute(insert(m.GridCode), [{"code": c, "community_code": community, "first_division_id": division_id}
                                          for c in new])
    if gone:
        conn.execute(update(m.GridCode).where(m.GridCode.code.in_(gone), m.GridCode.retired_at.is_(None))
                     .values(retired_at=func.now()))


def snapshot(conn: Connection, division_id: int, revision: int):
    """Labels and grid attributes of a revision."""
    return conn.execute(select(m.DivisionRevision.labels, m.DivisionRevision.grids).where(
        m.DivisionRevision.division_id == division_id, m.DivisionRevision.revision == revision)).one()


def add_revision(conn: Connection, division_id: int, revision: int, *, op: str, description: str, labels: list,
                 grids: dict, user_id: int | None) -> None:
    """A new revision snapshot, made current."""
    conn.execute(insert(m.DivisionRevision).values(
        division_id=division_id, revision=revision, op=op, description=description, labels=labels, grids=grids,
        user_id=user_id))
    conn.execute(update(m.Division).where(m.Division.id == division_id).values(revision=revision))


# -- comments ---------------------------------------------------------------------------------------

def grid_id_of(conn: Connection, division_id: int, label: int) -> int | None:
    """The id of the division's grid with ``label``."""
    return conn.execute(select(m.Grid.id).where(m.Grid.division_id == division_id, m.Grid.label == label)).scalar()


def point_near_community(conn: Connection, community: str, lon: float, lat: float) -> bool:
    """Whether the point lies in (or within about 100 m of) the community."""
    geom = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)
    return bool(conn.execute(select(func.ST_DWithin(m.AdminArea.geom, geom, 0.001))
                             .where(m.AdminArea.code == community)).scalar())


def add_comment(conn: Connection, division_id: int, *, grid_id: int | None, label: int | None,
                point: tuple[float, float] | None, body: str, author_id: int | None) -> int:
    """A comment row; returns its id."""
    geom = func.ST_SetSRID(func.ST_MakePoint(point[0], point[1]), SRID) if point is not None else None
    return conn.execute(insert(m.ReviewComment).values(
        division_id=division_id, grid_id=grid_id, grid_label=label, geom=geom, text=body, author_id=author_id,
        resolved=False).returning(m.ReviewComment.id)).scalar_one()


def comment_resolved(conn: Connection, division_id: int, comment_id: int) -> bool | None:
    """Whether a comment is resolved (None when the division has no such comment)."""
    return conn.execute(select(m.ReviewComment.resolved).where(
        m.ReviewComment.id == comment_id, m.ReviewComment.division_id == division_id)).scalar_one_or_none()


def set_comment_resolved(conn: Connection, comment_id: int, resolved: bool) -> None:
    """Mark a comment resolved or open."""
    conn.execute(update(m.ReviewComment).where(m.ReviewComment.id == comment_id).values(resolved=resolved))


def comments(conn: Connection, division_ids: list[int], comment_id: int | None = None) -> list[dict]:
    """Comments of the divisions with the grid each is bound to (its id, label now, code, name), oldest first."""
    c, g, d, u = m.ReviewComment, m.Grid, m.Division, m.User
    query = (select(c.id, c.division_id, d.version, d.status.label("division_status"), c.grid_id,
                    func.coalesce(g.label, c.grid_label).label("grid"), g.code.label("grid_code"),
                    g.name.label("grid_name"), func.round(cast(func.ST_X(c.geom), Numeric()), 7).label("lon"),
                    func.round(cast(func.ST_Y(c.geom), Numeric()), 7).label("lat"), c.text,
                    u.username.label("author"), u.display_name.label("author_name"), c.created_at, c.resolved)
             .join(d, d.id == c.division_id).join(g, g.id == c.grid_id, isouter=True)
             .join(u, u.id == c.author_id, isouter=True)
             .where(c.division_id.in_(division_ids)).order_by(c.created_at, c.id))
    if comment_id is not None:
        query = query.where(c.id == comment_id)
    return [dict(r) for r in conn.execute(query).mappings().all()]


# -- reasons for grids out of the band --------------------------------------------------------------

def exemptions(conn: Connection, division_ids: list[int]) -> list[dict]:
    """Reasons of the divisions' grids with the grid's label, code and name now, oldest first."""
    e, g, a, r = m.GridExemption, m.Grid, m.User.__table__.alias("a"), m.User.__table__.alias("r")
    return [dict(x) for x in conn.execute(
        select(e.id, e.division_id, e.grid_id, g.label.label("grid"), g.code.label("grid_code"),
               g.name.label("grid_name"), g.households.label("households_now"), e.households, e.reason, e.proof,
               e.status, e.created_at, e.reviewed_at, e.review_note, a.c.username.label("author"),
               a.c.display_name.label("author_name"), r.c.username.label("reviewer"),
               r.c.display_name.label("reviewer_name"))
        .join(g, g.id == e.grid_id).join(a, a.c.id == e.author_id, isouter=True)
        .join(r, r.c.id == e.reviewer_id, isouter=True)
        .where(e.division_id.in_(division_ids)).order_by(e.created_at, e.id)).mappings().all()]


def exemption(conn: Connection, division_id: int, exemption_id: int):
    """One reason of the division (None when there is none)."""
    return conn.execute(select(m.GridExemption).where(m.GridExemption.id == exemption_id,
                                                      m.GridExemption.division_id == division_id)
                        ).mappings().one_or_none()


def save_exemption(conn: Connection, division_id: int, grid_id: int, *, households: int, reason: str, proof: dict,
                   author_id: int | None) -> int:
    """Write (or rewrite, back to pending) the reason of a grid; returns its id."""
    from sqlalchemy.dialects.postgresql import insert as upsert

    statement = upsert(m.GridExemption).values(
        division_id=division_id, grid_id=grid_id, households=households, reason=reason, proof=proof,
        status="pending", author_id=author_id)
    statement = statement.on_conflict_do_update(index_elements=[m.GridExemption.grid_id], set_={
        "households": households, "reason": reason, "proof": proof, "status": "pending", "author_id": author_id,
        "created_at": func.now(), "reviewer_id": None, "reviewed_at": None, "review_note": None})
    return conn.execute(statement.returning(m.GridExemption.id)).scalar_one()


def delete_exemption(conn: Connection, exemption_id: int) -> None:
    """Withdraw a reason."""
    conn.execute(m.GridExemption.__table__.delete().where(m.GridExemption.id == exemption_id))


def decide_exemption(conn: Connection, exemption_id: int, status: str, note: str | None,
                     reviewer_id: int | None) -> None:
    """The reviewer's decision on a reason."""
    conn.execute(update(m.GridExemption).where(m.GridExemption.id == exemption_id).values(
        status=status, review_note=note, reviewer_id=reviewer_id, reviewed_at=func.now()))


# -- diff -------------------------------------------------------------------------------------------

def membership(conn: Connection, division_id: int, unit: str, community: str) -> pd.DataFrame:
    """``unit -> grid label`` with households: atoms (same layer) or buildings (by their point on surface)."""
    if unit == "atom":
        query = (select(m.GridAtom.atom_id.label("unit"), m.Grid.label, m.Atom.households)
                 .join(m.Grid, m.Grid.id == m.GridAtom.grid_id).join(m.Atom, m.Atom.id == m.GridAtom.atom_id)
                 .where(m.GridAtom.division_id == division_id))
    else:
        query = (select(m.Building.id.label("unit"), m.Grid.label, m.Building.households)
                 .join(m.Grid, and_(m.Grid.division_id == division_id,
                                    func.ST_Within(func.ST_PointOnSurface(m.Building.geom), m.Grid.geom)))
                 .where(m.Building.community_code == community))
    return pd.DataFrame(conn.execute(query).all(), columns=["unit", "label", "households"]).fillna(
        {"households": 0}).astype({"unit": "int64", "label": "int64", "households": "int64"})


def grid_attributes(conn: Connection, division_id: int) -> list:
    """Label, id, code, name, subtype, households and type of each grid."""
    return conn.execute(select(m.Grid.label, m.Grid.id, m.Grid.code, m.Grid.name, m.Grid.subtype,
                               m.Grid.households, m.Grid.type).where(m.Grid.division_id == division_id)).all()


def moved_shapes(conn: Connection, unit: str, units: list[int], groups: list[int]) -> list[tuple[int, Any]]:
    """``(group, GeoJSON geometry)``: the union of the atoms (or buildings) of each group."""
    table = (m.Atom if unit == "atom" else m.Building).__table__
    values = select(func.unnest(cast(bindparam("units", type_=ARRAY(BigInteger)), ARRAY(BigInteger))).label("unit"),
                    func.unnest(cast(bindparam("groups", type_=ARRAY(Integer)), ARRAY(Integer))).label("g")
                    ).subquery()
    query = (select(values.c.g, cast(func.ST_AsGeoJSON(func.ST_Union(table.c.geom), 7, 0), JSON))
             .join(table, table.c.id == values.c.unit).group_by(values.c.g))
    return conn.execute(query, {"units": units, "groups": groups}).all()


# -- the filing packet and the notice board ---------------------------------------------------------

def packet_head(conn: Connection, division_id: int) -> dict:
    """Community and township names, when and by whom the division was reviewed."""
    c, t = m.AdminArea.__table__.alias("c"), m.AdminArea.__table__.alias("t")
    return dict(conn.execute(
        select(c.c.name.label("community"), t.c.name.label("township"), m.Division.reviewed_at, m.User.username,
               m.User.display_name)
        .select_from(m.Division.__table__.join(c, c.c.code == m.Division.community_code)
                     .join(t, t.c.code == c.c.parent_code, isouter=True)
                     .join(m.User.__table__, m.User.id == m.Division.reviewer_id, isouter=True))
        .where(m.Division.id == division_id)).mappings().one())


def packet_grids(conn: Connection, division_id: int) -> gpd.GeoDataFrame:
    """The filed grids with their micro-grid counts, by code."""
    return _frame(conn, text("""
        SELECT g.id, g.code, g.label, coalesce(g.name, '') AS name, g.type, coalesce(g.subtype, '') AS subtype,
               g.households, g.population, (SELECT count(*) FROM micro_grid mg WHERE mg.grid_id = g.id) AS micro_grids,
               g.geom FROM grid g WHERE g.division_id = :d ORDER BY g.code"""), {"d": division_id})


def packet_micro_grids(conn: Connection, division_id: int) -> list[dict]:
    """Micro-grid codes, their grid's code and counts, by code."""
    return [dict(r) for r in conn.execute(
        select(m.MicroGrid.code, m.Grid.code.label("grid_code"), m.MicroGrid.households, m.MicroGrid.population)
        .join(m.Grid, m.Grid.id == m.MicroGrid.grid_id).where(m.Grid.division_id == division_id)
        .order_by(m.MicroGrid.code)).mappings().all()]


def staff_on(conn: Connection, codes: list[str], on: date) -> list[tuple[str, str, str, str]]:
    """``(grid code, role, name, phone)`` of the staff assigned to ``codes`` on ``on``."""
    a, s = m.StaffAssignment, m.Staff
    return conn.execute(select(a.grid_code, a.role, s.name, func.coalesce(s.phone, ""))
                        .join(s, s.id == a.staff_id)
                        .where(a.grid_code.in_(codes), a.start_date <= on, or_(a.end_date.is_(None), a.end_date > on))
                        .order_by(a.grid_code, a.role, s.name)).all()


def notice_grid(conn: Connection, division_id: int, grid_code: str) -> dict | None:
    """What the notice board shows of a grid of ``division_id``."""
    row = conn.execute(text("""
        SELECT g.code, g.name, g.type, g.subtype, g.households, g.population, d.version, d.effective_from,
               c.name AS community, t.name AS township, ST_AsGeoJSON(g.geom, 7, 0)::json AS geometry,
               (SELECT count(*) FROM micro_grid mg WHERE mg.grid_id = g.id) AS micro_grids
        FROM grid g JOIN division d ON d.id = g.division_id JOIN admin_area c ON c.code = d.community_code
        LEFT JOIN admin_area t ON t.code = c.parent_code
        WHERE g.division_id = :d AND g.code = :code"""), {"d": division_id, "code": grid_code}).mappings().first()
    return dict(row) if row is not None else None


def notice_staff(conn: Connection, grid_code: str, roles: list[str], on: date) -> list[dict]:
    """Public staff of a grid on ``on`` in the order of ``roles``; a phone only where its owner agreed."""
    return [dict(r) for r in conn.execute(text("""
        SELECT a.role, s.name, CASE WHEN s.publish_contact THEN s.phone END AS phone
        FROM staff_assignment a JOIN staff s ON s.id = a.staff_id
        WHERE a.grid_code = :code AND a.role = ANY(:roles) AND a.start_date <= :on
          AND (a.end_date IS NULL OR a.end_date > :on)
        ORDER BY array_position(CAST(:roles AS text[]), CAST(a.role AS text)), s.name"""),
                                                {"code": grid_code, "roles": roles, "on": on}).mappings().all()]


# -- demo staff -------------------------------------------------------------------------------------

def all_grid_codes(conn: Connection) -> list[str]:
    """Every grid code of every stored division, sorted."""
    return sorted(set(conn.execute(select(m.Grid.code).where(m.Grid.code.is_not(None))).scalars()))


def open_assignments(conn: Connection) -> set[tuple[str, str]]:
    """``(grid code, role)`` of assignments without an end."""
    return set(conn.execute(select(m.StaffAssignment.grid_code, m.StaffAssignment.role).where(
        m.StaffAssignment.end_date.is_(None))).all())


def demo_staff_ids(conn: Connection) -> dict[str, int]:
    """Staff code -> id of the demo staff (codes starting with D)."""
    return dict(conn.execute(select(m.Staff.code, m.Staff.id).where(m.Staff.code.like("D%"))).all())


def add_staff(conn: Connection, rows: list[dict]) -> dict[str, int]:
    """Staff rows; their code -> id."""
    return dict(conn.execute(insert(m.Staff).returning(m.Staff.code, m.Staff.id, sort_by_parameter_order=True),
                             rows).all())


def add_assignments(conn: Connection, rows: list[dict]) -> None:
    """Staff assignment rows."""
    conn.execute(insert(m.StaffAssignment), rows)


# -- the audit log ----------------------------------------------------------------------------------

def audit_page(conn: Connection, *, user: str | None, action: str | None, entity: str | None,
               entity_id: str | None, since: date | None, until: date | None, limit: int,
               offset: int) -> tuple[int, list[dict]]:
    """``(total, rows)`` of the audit log matching the filters, newest first."""
    log = m.AuditLog
    where = []
    if user:
        where.append(log.actor == user)
    if action:  # a prefix; % and _ typed by the user are literal
        where.append(log.action.startswith(action, autoescape=True))
    if entity:
        where.append(log.entity == entity)
    if entity_id:
        where.append(log.entity_id == entity_id)
    if since is not None:
        where.append(log.at >= cast(literal(since), Date()))
    if until is not None:
        where.append(log.at < cast(literal(until), Date()) + 1)
    total = conn.execute(select(func.count()).select_from(log).where(*where)).scalar_one()
    rows = conn.execute(select(log.id, log.at, log.actor, log.user_id, log.action, log.entity, log.entity_id,
                               log.before, log.after).where(*where).order_by(log.id.desc())
                        .limit(limit).offset(offset)).mappings().all()
    return total, [dict(r) for r in rows]
