"""The lookup's reads: what :mod:`server.services.lookup` caches per process, and the address search.

Every query the lookup runs lives here; the service holds the caches and the decisions.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, func, select, text

from server.store import models as m

#: One cheap row that changes whenever a division, a staff assignment or a published contact changes.
_SIGNATURE = text("""
    SELECT (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(revision), 0) || ':'
                   || coalesce(max(updated_at)::text, '') || ':'
                   || coalesce(sum(hashtext(concat_ws(',', id, status, effective_from, effective_to))), 0)
            FROM division),
           (SELECT count(*) || ':' || coalesce(max(id), 0) || ':'
                   || coalesce(sum(hashtext(concat_ws(',', id, staff_id, grid_code, role, start_date, end_date))), 0)
            FROM staff_assignment),
           (SELECT count(*) || ':' || coalesce(sum(hashtext(concat_ws(',', id, name, phone, publish_contact))), 0)
            FROM staff),
           (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM staff_photo),
           (SELECT coalesce(string_agg(county_code || mask_public_phones::text, ','), '') FROM staff_policy)""")


def signature(conn: Connection) -> tuple:
    """The change signature of divisions, staff assignments and published staff (see the service)."""
    return tuple(conn.execute(_SIGNATURE).one())


def division_headers(conn: Connection) -> list:
    """Every division's id, community, version, status, creation time and first day in force."""
    d = m.Division
    return conn.execute(select(d.id, d.community_code, d.version, d.status, d.created_at, d.effective_from)).all()


def area_names(conn: Connection) -> list:
    """Code, name and parent code of every administrative area."""
    return conn.execute(select(m.AdminArea.code, m.AdminArea.name, m.AdminArea.parent_code)).all()


def community_outlines(conn: Connection) -> list:
    """Code and outline (WKB, EPSG:4490) of every community with one, in code order."""
    a = m.AdminArea
    return conn.execute(select(a.code, func.ST_AsBinary(a.geom).label("wkb"))
                        .where(a.level == "community", a.geom.is_not(None)).order_by(a.code)).all()


def published_assignments(conn: Connection) -> list:
    """Assignments of staff who publish their contact: grid code, role, dates, staff id, name and phone."""
    s, a = m.Staff, m.StaffAssignment
    return conn.execute(select(a.grid_code, a.role, a.start_date, a.end_date, s.id, s.name, s.phone)
                        .join(s, s.id == a.staff_id).where(s.publish_contact.is_(True))
                        .order_by(a.grid_code, a.id)).all()


def grid_rows(conn: Connection, division_ids: Sequence[int]) -> list:
    """The grids of these divisions in code order: code, name, type, households, community, division, WKB."""
    g, d = m.Grid, m.Division
    return conn.execute(
        select(g.code, g.name, g.type, g.households, d.community_code, g.division_id,
               func.ST_AsBinary(g.geom).label("wkb"))
        .join(d, d.id == g.division_id)
        .where(g.division_id.in_(bindparam("ids", expanding=True)), g.geom.is_not(None))
        .order_by(g.code, g.id), {"ids": list(division_ids)}).all()


def micro_grid_rows(conn: Connection, division_ids: Sequence[int]) -> list:
    """The micro-grids of these divisions in code order: code, name, WKB."""
    g, mg = m.Grid, m.MicroGrid
    return conn.execute(
        select(mg.code, mg.name, func.ST_AsBinary(mg.geom).label("wkb"))
        .join(g, g.id == mg.grid_id)
        .where(g.division_id.in_(bindparam("ids", expanding=True)), mg.geom.is_not(None))
        .order_by(mg.code, mg.id), {"ids": list(division_ids)}).all()


def address_candidates(conn: Connection, key: str, n: int) -> list:
    """Up to ``n`` standard addresses like ``key``: id, address, lon, lat, community_code, sim; best first.

    word_similarity (``<%``) finds the query inside longer standard addresses ("榆林巷32号" in
    "榆林巷32号3幢2单元"); the GIN trigram index on address answers both it and the equality.
    """
    conn.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"), {"t": "0.5"})
    a = m.Address
    sim = func.word_similarity(key, a.address)
    return conn.execute(
        select(a.id, a.address, func.ST_X(a.geom).label("lon"), func.ST_Y(a.geom).label("lat"),
               a.community_code, sim.label("sim"))
        .where((a.address == key) | a.address.op("%>")(key))
        .order_by((a.address == key).desc(), sim.desc(), func.length(a.address), a.id).limit(n)).all()


def exact_addresses(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[float, float]]:
    """The point (lon, lat) of each of ``keys`` that is a standard address (the lowest id when repeated)."""
    a = m.Address
    found: dict[str, tuple[float, float]] = {}
    for start in range(0, len(keys), 5000):
        chunk = list(keys[start:start + 5000])
        for r in conn.execute(select(a.address, func.ST_X(a.geom), func.ST_Y(a.geom))
                              .where(a.address.in_(bindparam("keys", expanding=True)))
                              .order_by(a.id), {"keys": chunk}):
            found.setdefault(r[0], (float(r[1]), float(r[2])))
    return found
