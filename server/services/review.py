"""Review and filing (审核备案) of divisions: the lifecycle, codes at approval, comments, diffs, packets.

The lifecycle of a division version (Jiangsu art. 7; city regs art. 7)::

    draft --submit--> submitted --approve--> approved (filed, immutable, in force from a date)
                                 --return--> returned  (read-only; the county starts a new draft from it)

Every step is one transaction that locks the division row, checks the status it moves from (a 409
naming the status otherwise, with nothing changed), writes ``division_transition`` and an
``audit_log`` row. Approval is also where codes are filed: unchanged grids keep their codes, new
grids get numbers never issued before in the community (:func:`gis.codes.assign_codes`), every new
code goes into the ``grid_code`` registry and the codes that disappeared are retired there. Only one
approved division of a community is in force on any day: the approval closes the one in force
(``effective_to``), checks the rule in SQL before committing, and an exclusion constraint
(migration 0003) guards it in the database as well.

Functions take a SQLAlchemy ``Engine`` (they run their own transaction) or a ``Connection`` (they
run in the caller's) and a ``user`` (:class:`server.store.models.User` or None); permissions are checked
by the routes in :mod:`server.api.review`, state rules here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import zipfile
from collections.abc import Hashable
from datetime import date, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import BigInteger, Integer

from gis.codes import assign_codes, order_grids
from gis.errors import GisError
from server.errors import BadRequest, Conflict, NotFound
from server.services.divisions import divisions_in_force
from server.services.editing import checks_for_client, export_division, load_draft, rebuild_micro_grids
from server.store import models as m
from server.store.audit import audit
from server.store.features import SRID

log = logging.getLogger(__name__)

#: action -> (status it moves from, status it moves to)
TRANSITIONS = {"submit": ("draft", "submitted"), "approve": ("submitted", "approved"),
               "return": ("submitted", "returned")}
_VERBS = {"submit": "submitted", "approve": "approved", "return": "returned"}
#: What to do instead, by (action, status found): the 409 message says it.
_HINTS = {
    ("approve", "draft"): "it must be submitted by the county first",
    ("return", "draft"): "only a submitted division is under review",
    ("approve", "approved"): "it is already filed",
    ("return", "approved"): "it is already filed; changes need a new draft from it",
    ("submit", "approved"): "approved versions are filed and immutable: start a new draft from it",
    ("submit", "submitted"): "it is already waiting for review",
    ("submit", "returned"): "a returned version is read-only: start a new draft from it, fix it and submit that",
    ("approve", "returned"): "it was returned to the county; they submit a new draft",
    ("return", "returned"): "it was returned already",
}
MAX_TEXT = 2000
COMMENT_STATUSES = ("draft", "submitted", "returned")


# -- rows and small helpers -------------------------------------------------------------------------

def _division(conn: Connection, division_id: int, *, lock: bool = False):
    query = select(m.Division.id, m.Division.community_code, m.Division.version, m.Division.status,
                   m.Division.parent_id, m.Division.atom_layer_id, m.Division.revision, m.Division.band_min,
                   m.Division.band_max, m.Division.settings, m.Division.effective_from,
                   m.Division.effective_to).where(m.Division.id == division_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"no division with id {division_id}")
    return row


def division_community(conn: Connection, division_id: int) -> tuple[str, str]:
    """``(community code, status)`` of a division (404 when there is none): what permission checks need."""
    row = _division(conn, division_id)
    return row.community_code, row.status


def _expect(row, action: str) -> None:
    source, _ = TRANSITIONS[action]
    if row.status != source:
        hint = _HINTS.get((action, row.status), f"only a {source} division can be {_VERBS[action]}")
        raise Conflict(f"division {row.id} (version {row.version} of community {row.community_code}) is "
                       f"{row.status}, so it cannot be {_VERBS[action]}: {hint}; nothing was changed",
                       details={"status": row.status, "expected_status": source, "action": action})


def _record(conn: Connection, row, action: str, user, *, reason: str | None = None, values: dict | None = None,
            after: dict | None = None) -> dict:
    """Move ``row`` to the action's status: update, transition row and audit row, in ``conn``'s transaction."""
    source, target = TRANSITIONS[action]
    done = conn.execute(update(m.Division).where(m.Division.id == row.id, m.Division.status == source)
                        .values(status=target, **(values or {}))).rowcount
    if done != 1:  # the row is locked, so this means a programming error, not a race
        raise Conflict(f"division {row.id} changed status while it was being {_VERBS[action]}")
    user_id = user.id if user is not None else None
    transition = conn.execute(insert(m.DivisionTransition).values(
        division_id=row.id, from_status=source, to_status=target, user_id=user_id, reason=reason)
        .returning(m.DivisionTransition.id, m.DivisionTransition.at)).one()
    audit(conn, f"division.{action}", "division", row.id, {"status": source},
          {"status": target, "version": row.version, "community_code": row.community_code,
           **({"reason": reason} if reason else {}), **(after or {})}, user=user)
    return {"id": transition.id, "from_status": source, "to_status": target, "reason": reason,
            "at": transition.at.isoformat(), "user": user.username if user is not None else None}


def division_header(conn: Connection, division_id: int) -> dict:
    """A division's status, version, parent and review dates, JSON-ready."""
    row = conn.execute(select(m.Division.id, m.Division.community_code, m.Division.version, m.Division.status,
                              m.Division.revision, m.Division.parent_id, m.Division.submitted_at,
                              m.Division.reviewed_at, m.Division.review_note, m.Division.effective_from,
                              m.Division.effective_to).where(m.Division.id == division_id)).mappings().one()
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def _text(value: object, field: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadRequest(f"field '{field}' is required and must not be empty")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"field '{field}' must be text, got {value!r}")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise BadRequest(f"field '{field}' is {len(value)} characters long; at most {MAX_TEXT} are allowed")
    return value


def parse_date(value: object, field: str) -> date | None:
    """An ISO date (``YYYY-MM-DD``) from a request, None when absent; BadRequest naming the field otherwise."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value) if isinstance(value, str) else _bad_date(field, value)
    except ValueError:
        return _bad_date(field, value)


def _bad_date(field: str, value: object):
    raise BadRequest(f"field '{field}' must be a date as YYYY-MM-DD, got {value!r}")


# -- the lifecycle ----------------------------------------------------------------------------------

def submit(engine: Engine, division_id: int, *, user=None) -> dict:
    """Submit a draft for review (draft → submitted).

    Refused (409, nothing changed) when the division is not a draft or its live checks have errors;
    grids without micro-grids (changed since the last rebuild) get them first, automatically.
    """
    with engine.connect() as conn:
        row = _division(conn, division_id)
        _expect(row, "submit")
        draft = load_draft(conn, division_id)
        problems = [p for p in checks_for_client(draft)["problems"] if p["severity"] == "error"]
    if problems:
        listed = "; ".join((f"grid {p['grid']}: " if p.get("grid") is not None else "") + p["message"]
                           for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise Conflict(f"division {division_id} (version {row.version}) cannot be submitted: the live checks "
                       f"found {len(problems)} error(s) — {listed}{more}. Fix them in the editor, then submit; "
                       "nothing was changed", details={"problems": problems})
    made = rebuild_micro_grids(engine, division_id, user_id=user.id if user is not None else None)
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        _expect(row, "submit")  # someone may have submitted it meanwhile
        bare = conn.execute(select(func.count()).select_from(m.Grid).where(
            m.Grid.division_id == division_id,
            ~select(m.MicroGrid.id).where(m.MicroGrid.grid_id == m.Grid.id).exists())).scalar_one()
        if bare:
            raise Conflict(f"division {division_id}: {bare} grid(s) still have no micro-grids after rebuilding "
                           "them; open the editor and rebuild micro-grids, then submit")
        transition = _record(conn, row, "submit", user, values={"submitted_at": func.now()},
                             after={"micro_grids_rebuilt": made})
        return {"division": division_header(conn, division_id), "transition": transition, "micro_grids_rebuilt": made}


def return_division(engine: Engine, division_id: int, reason: object, *, user=None) -> dict:
    """Return a submitted division to the county (submitted → returned) with a reason (required)."""
    reason = _text(reason, "reason", required=True)
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        _expect(row, "return")
        transition = _record(conn, row, "return", user, reason=reason, values={
            "reviewed_at": func.now(), "reviewer_id": user.id if user is not None else None, "review_note": reason})
        return {"division": division_header(conn, division_id), "transition": transition}


def approve(engine: Engine, division_id: int, *, effective_from: date | None = None, note: object = None,
            user=None) -> dict:
    """Approve and file a submitted division, in force from ``effective_from`` (today by default).

    The approved version in force on that day ends there (its ``effective_to``); codes are filed
    (see :func:`file_codes`). Refused (409, nothing changed) when the division is not submitted, or
    when another version of the community is approved to take effect after that day.
    """
    note = _text(note, "note", required=False)
    on = effective_from or date.today()
    try:
        with engine.begin() as conn:
            row = _division(conn, division_id, lock=True)
            _expect(row, "approve")
            # Lock the community's approved versions: two approvals of one community run one after the other.
            approved = conn.execute(select(m.Division.id, m.Division.version, m.Division.effective_from,
                                           m.Division.effective_to)
                                    .where(m.Division.community_code == row.community_code,
                                           m.Division.status == "approved")
                                    .order_by(m.Division.effective_from).with_for_update()).all()
            later = [a for a in approved if a.effective_from is not None and a.effective_from > on]
            if later:
                raise Conflict(f"version {later[0].version} of community {row.community_code} is approved to take "
                               f"effect on {later[0].effective_from}, after {on}: only one division is in force "
                               f"on any day, so approve with an effective date on or after "
                               f"{later[-1].effective_from}; nothing was changed",
                               details={"effective_from": on.isoformat(), "later_division": later[0].id})
            current = next((a for a in approved if a.effective_from is not None and a.effective_from <= on
                            and (a.effective_to is None or a.effective_to > on)), None)
            codes = file_codes(conn, row, current.id if current is not None else None, user=user)
            if current is not None:
                conn.execute(update(m.Division).where(m.Division.id == current.id).values(effective_to=on))
                audit(conn, "division.supersede", "division", current.id,
                      {"effective_to": current.effective_to}, {"effective_to": on, "superseded_by": row.id},
                      user=user)
            transition = _record(conn, row, "approve", user, reason=note, values={
                "reviewed_at": func.now(), "reviewer_id": user.id if user is not None else None,
                "review_note": note, "effective_from": on, "effective_to": None},
                after={"effective_from": on.isoformat(), "supersedes": current.id if current else None,
                       "codes": {k: len(v) for k, v in codes.items() if isinstance(v, list)}})
            check_one_in_force(conn, row.community_code)
            return {"division": division_header(conn, division_id), "transition": transition, "codes": codes,
                    "superseded": current.id if current is not None else None}
    except IntegrityError as exc:  # the exclusion constraint: only reachable if the check above was bypassed
        if "division_one_in_force" in str(exc):
            raise Conflict(f"approving division {division_id} from {on} would put two divisions of its community "
                           "in force on the same day; nothing was changed") from None
        raise


def check_one_in_force(conn: Connection, community_code: str) -> None:
    """Raise Conflict when two approved divisions of the community are in force on a common day."""
    clash = conn.execute(text("""
        SELECT a.version, b.version FROM division a JOIN division b
          ON a.community_code = b.community_code AND a.id < b.id
        WHERE a.community_code = :c AND a.status = 'approved' AND b.status = 'approved'
          AND daterange(a.effective_from, a.effective_to, '[)') && daterange(b.effective_from, b.effective_to, '[)')
        LIMIT 1"""), {"c": community_code}).first()
    if clash is not None:
        raise Conflict(f"versions {clash[0]} and {clash[1]} of community {community_code} would both be in force "
                       "on some day; only one division is in force at a time — nothing was changed")


def transitions(conn: Connection, division_id: int) -> list[dict]:
    """The lifecycle history of a division, oldest first: who moved it from which status to which, when, why."""
    _division(conn, division_id)
    rows = conn.execute(select(m.DivisionTransition.id, m.DivisionTransition.from_status,
                               m.DivisionTransition.to_status, m.DivisionTransition.reason,
                               m.DivisionTransition.at, m.User.username, m.User.display_name)
                        .join(m.User, m.User.id == m.DivisionTransition.user_id, isouter=True)
                        .where(m.DivisionTransition.division_id == division_id)
                        .order_by(m.DivisionTransition.at, m.DivisionTransition.id)).mappings().all()
    return [{**r, "at": r["at"].isoformat()} for r in rows]


# -- codes at approval ------------------------------------------------------------------------------

def _read_frame(conn: Connection, sql: str, params: dict) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(text(sql), conn, geom_col="geom", params=params)
    return frame.set_crs(SRID, allow_override=True)


def _members_by_buildings(conn: Connection, row, grids: gpd.GeoDataFrame, previous: gpd.GeoDataFrame,
                          crs: CRS) -> tuple[dict[str, set[int]], pd.Series, dict[int, int]]:
    """Grids of different atom layers matched by the buildings (units of split towers) each holds."""
    from gis.units import previous_members, split_by_units

    buildings = _read_frame(conn, """SELECT id, households, population, units, site, compound, geom FROM building
                                     WHERE community_code = :c ORDER BY id""", {"c": row.community_code})
    buildings = buildings.set_index("id").to_crs(crs).rename_geometry("geometry")
    buildings = buildings.assign(households=buildings["households"].fillna(0).astype(int),
                                 population=buildings["population"].fillna(0).astype(int))
    pieces = split_by_units(buildings, row.band_max).pieces
    key: dict[Hashable, int] = {}
    households: dict[int, int] = {}
    for building, unit, hh in zip(pieces["building"], pieces["unit"], pieces["households"], strict=True):
        member = building if pd.isna(unit) else (building, int(unit))
        key[member] = len(key)
        households[key[member]] = int(hh)
    before = previous.to_crs(crs)
    old = previous_members(buildings, before, row.band_max)
    new = previous_members(buildings, grids.assign(code=grids["label"]), row.band_max)
    # Grids holding no building (a park, a square) are matched by area instead: a shared token when each
    # covers most of the other, so assign_codes (which falls back to counting members) sees them as one.
    for code, shape in zip(before["code"], before.geometry, strict=True):
        if code in old:
            continue
        for label, other in zip(grids["label"], grids.geometry, strict=True):
            common = 0.0 if label in new else shape.intersection(other).area
            if common and common >= 0.8 * shape.area and common >= 0.8 * other.area:
                token = ("area", code)
                old[code] = {token}
                new[label] = {token}
                key[token] = len(key)
                households[key[token]] = 0
                break
    labels = pd.Series({key[member]: label for label, members in new.items() for member in members if member in key})
    return ({code: {key[x] for x in members if x in key} for code, members in old.items()}, labels, households)


def file_codes(conn: Connection, row, previous_id: int | None, *, user=None) -> dict:
    """Give the grids and micro-grids of division ``row`` their filed codes, in ``conn``'s transaction.

    Grids are matched to the division in force before (``previous_id``) by their atoms when both
    share an atom layer (a draft copied from it does), else by buildings and households; a match
    keeps its code, the others get numbers no code of the community ever had (the ``grid_code``
    registry is the memory). Micro-grids of a grid keep codes they had under the same grid code in
    the previous version; new ones continue the grid's sequence past every number it ever issued.
    New codes are registered, codes of the previous version that disappeared are retired, and the
    codes go into a new revision snapshot so a draft copied from this version carries them.

    Returns
    -------
    dict
        ``method`` (atoms, buildings or first), ``kept``, ``new`` and ``retired`` code lists.
    """
    crs = CRS.from_user_input(row.settings["crs"])
    community = row.community_code
    grids = _read_frame(conn, "SELECT id, label, code, type AS kind, geom FROM grid WHERE division_id = :d "
                              "ORDER BY label", {"d": row.id}).to_crs(crs)
    issued = dict(conn.execute(select(m.GridCode.code, m.GridCode.retired_at)
                               .where(m.GridCode.community_code == community)).all())
    previous: dict[str, set[int]] = {}
    labels = households = None
    method = "first"
    previous_micro: set[str] = set()
    previous_codes: set[str] = set()  # every grid code of the previous version, whether it can be matched or not
    if previous_id is not None:
        previous_codes = set(conn.execute(select(m.Grid.code).where(m.Grid.division_id == previous_id,
                                                                    m.Grid.code.is_not(None))).scalars())
        layer = conn.execute(select(m.Division.atom_layer_id).where(m.Division.id == previous_id)).scalar_one()
        previous_micro = set(conn.execute(select(m.MicroGrid.code).join(m.Grid, m.Grid.id == m.MicroGrid.grid_id)
                                          .where(m.Grid.division_id == previous_id,
                                                 m.MicroGrid.code.is_not(None))).scalars())
        if layer == row.atom_layer_id:
            method = "atoms"
            for code, atom in conn.execute(select(m.Grid.code, m.GridAtom.atom_id)
                                           .join(m.Grid, m.Grid.id == m.GridAtom.grid_id)
                                           .where(m.GridAtom.division_id == previous_id,
                                                  m.Grid.code.is_not(None))).all():
                previous.setdefault(code, set()).add(int(atom))
            mine = conn.execute(select(m.GridAtom.atom_id, m.Grid.label, m.Atom.households)
                                .join(m.Grid, m.Grid.id == m.GridAtom.grid_id)
                                .join(m.Atom, m.Atom.id == m.GridAtom.atom_id)
                                .where(m.GridAtom.division_id == row.id)).all()
            labels = pd.Series({int(a): int(label) for a, label, _ in mine})
            households = {int(a): int(h) for a, _, h in mine}
        else:
            method = "buildings"
            before = _read_frame(conn, "SELECT code, geom FROM grid WHERE division_id = :d AND code IS NOT NULL",
                                 {"d": previous_id}).rename_geometry("geometry")
            previous, labels, households = _members_by_buildings(conn, row, grids, before, crs)
    # Every code ever issued and not carried by the previous version counts as retired: never given again.
    retired = {c for c in issued if len(c) == 15 and c not in previous}
    try:
        codes = assign_codes(grids.set_index("label", drop=False), community, previous=previous or None,
                             retired=retired, labels=labels if previous else None, households=households)
    except GisError as exc:
        raise Conflict(f"codes for division {row.id} cannot be issued: {exc}") from None
    grid_codes = {int(label): code for label, code in codes.items()}
    if len(set(grid_codes.values())) != len(grid_codes):  # assign_codes guarantees it; filing must not trust luck
        raise RuntimeError(f"duplicate grid codes computed for division {row.id}")
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(code=bindparam("c")),
                 [{"gid": int(g.id), "c": grid_codes[int(g.label)]} for g in grids.itertuples()])
    micro_codes = _file_micro_codes(conn, row, crs, grid_codes, issued, previous_micro)

    final = set(grid_codes.values()) | set(micro_codes.values())
    new = sorted(c for c in final if c not in issued)
    if new:
        conn.execute(insert(m.GridCode), [{"code": c, "community_code": community, "first_division_id": row.id}
                                          for c in new])
    gone = sorted((previous_codes | previous_micro) - final)
    if gone:
        conn.execute(update(m.GridCode).where(m.GridCode.code.in_(gone), m.GridCode.retired_at.is_(None))
                     .values(retired_at=func.now()))
    _snapshot_codes(conn, row, grid_codes, user)
    kept = sorted(c for c in grid_codes.values() if c in previous_codes)
    return {"method": method, "kept": kept,
            "new": sorted(c for c in grid_codes.values() if c not in previous_codes),
            "retired": sorted(c for c in gone if len(c) == 15), "micro_new": len([c for c in new if len(c) == 17]),
            "micro_retired": len([c for c in gone if len(c) == 17])}


def _file_micro_codes(conn: Connection, row, crs: CRS, grid_codes: dict[int, str], issued: dict,
                      previous_micro: set[str]) -> dict[int, str]:
    """Micro-grid id -> filed 17-digit code (written to ``micro_grid.code``)."""
    micro = _read_frame(conn, """SELECT mg.id, mg.code, g.label AS grid, mg.geom FROM micro_grid mg
                                 JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d ORDER BY mg.id""",
                        {"d": row.id}).to_crs(crs)
    result: dict[int, str] = {}
    for grid_label, group in micro.groupby("grid"):
        grid_code = grid_codes[int(grid_label)]
        kept = {int(r.id): r.code for r in group.itertuples()
                if isinstance(r.code, str) and r.code[:15] == grid_code and r.code in previous_micro}
        if len(set(kept.values())) != len(kept):  # two micro-grids with one code: keep neither
            kept = {}
        used = {int(c[15:]) for c in issued if len(c) == 17 and c.startswith(grid_code)} | \
            {int(c[15:]) for c in kept.values()}
        fresh = group[~group["id"].isin(list(kept))]
        order = order_grids(fresh.assign(label=fresh["id"])) if len(fresh) else []
        numbers = (n for n in range(1, 100) if n not in used)
        for micro_id in order:
            number = next(numbers, None)
            if number is None:
                raise Conflict(f"grid {grid_code} has used up its 99 micro-grid numbers; merge micro-grids first")
            kept[int(micro_id)] = f"{grid_code}{number:02d}"
        result.update(kept)
    if result:
        conn.execute(update(m.MicroGrid).where(m.MicroGrid.id == bindparam("mid")).values(code=bindparam("c")),
                     [{"mid": k, "c": v} for k, v in result.items()])
    return result


def _snapshot_codes(conn: Connection, row, grid_codes: dict[int, str], user) -> None:
    """A revision holding the filed codes: drafts copied from this version start from them."""
    snap = conn.execute(select(m.DivisionRevision.labels, m.DivisionRevision.grids).where(
        m.DivisionRevision.division_id == row.id, m.DivisionRevision.revision == row.revision)).one()
    grids = {k: {**v, "code": grid_codes.get(int(k), v.get("code"))} for k, v in snap.grids.items()}
    revision = row.revision + 1
    conn.execute(insert(m.DivisionRevision).values(
        division_id=row.id, revision=revision, op="file_codes", description="codes filed at approval",
        labels=list(snap.labels), grids=grids, user_id=user.id if user is not None else None))
    conn.execute(update(m.Division).where(m.Division.id == row.id).values(revision=revision))


# -- comments ---------------------------------------------------------------------------------------

def add_comment(engine: Engine, division_id: int, body: dict, *, user=None) -> dict:
    """Pin a comment to a grid (``grid``: its label), a point (``point``: [lon, lat]), both or neither."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with 'text' and optionally 'grid' and 'point'")
    comment = _text(body.get("text"), "text", required=True)
    label = body.get("grid")
    if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
        raise BadRequest(f"field 'grid' must be a grid label (a whole number), got {label!r}")
    point = body.get("point")
    if point is not None:
        if (not isinstance(point, list) or len(point) != 2 or
                any(isinstance(v, bool) or not isinstance(v, int | float) for v in point)
                or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)):
            raise BadRequest(f"field 'point' must be [longitude, latitude] in degrees, got {point!r}")
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        if row.status not in COMMENT_STATUSES:
            raise Conflict(f"division {division_id} (version {row.version}) is {row.status}: an approved version is "
                           "filed and takes no more comments; comment on a new draft from it")
        if label is not None and conn.execute(select(m.Grid.id).where(
                m.Grid.division_id == division_id, m.Grid.label == label)).first() is None:
            raise BadRequest(f"field 'grid': division {division_id} has no grid {label}")
        geom = None
        if point is not None:
            geom = func.ST_SetSRID(func.ST_MakePoint(float(point[0]), float(point[1])), SRID)
            inside = conn.execute(select(func.ST_DWithin(m.AdminArea.geom, geom, 0.001))
                                  .where(m.AdminArea.code == row.community_code)).scalar()
            if not inside:
                raise BadRequest(f"field 'point' {point} is outside community {row.community_code}")
        comment_id = conn.execute(insert(m.ReviewComment).values(
            division_id=division_id, grid_label=label, geom=geom, text=comment,
            author_id=user.id if user is not None else None, resolved=False).returning(m.ReviewComment.id)
        ).scalar_one()
        audit(conn, "comment.add", "review_comment", comment_id, None,
              {"division_id": division_id, "grid": label, "point": point, "text": comment}, user=user)
        return _comments(conn, [division_id], comment_id=comment_id)[0]


def resolve_comment(engine: Engine, division_id: int, comment_id: int, resolved: object, *, user=None) -> dict:
    """Mark a comment resolved (or open again)."""
    if not isinstance(resolved, bool):
        raise BadRequest(f"field 'resolved' must be true or false, got {resolved!r}")
    with engine.begin() as conn:
        before = conn.execute(select(m.ReviewComment.resolved).where(
            m.ReviewComment.id == comment_id, m.ReviewComment.division_id == division_id)).scalar_one_or_none()
        if before is None:
            raise NotFound(f"division {division_id} has no comment {comment_id}")
        conn.execute(update(m.ReviewComment).where(m.ReviewComment.id == comment_id).values(resolved=resolved))
        audit(conn, "comment.resolve", "review_comment", comment_id, {"resolved": before}, {"resolved": resolved},
              user=user)
        return _comments(conn, [division_id], comment_id=comment_id)[0]


def _comments(conn: Connection, division_ids: list[int], *, comment_id: int | None = None) -> list[dict]:
    rows = conn.execute(text("""
        SELECT c.id, c.division_id, d.version, d.status AS division_status, c.grid_label AS grid, g.code AS grid_code,
               g.name AS grid_name, CASE WHEN c.geom IS NULL THEN NULL
                   ELSE json_build_array(round(ST_X(c.geom)::numeric, 7), round(ST_Y(c.geom)::numeric, 7)) END AS point,
               c.text, u.username AS author, u.display_name AS author_name, c.created_at, c.resolved
        FROM review_comment c JOIN division d ON d.id = c.division_id
        LEFT JOIN grid g ON g.division_id = c.division_id AND g.label = c.grid_label
        LEFT JOIN app_user u ON u.id = c.author_id
        WHERE c.division_id = ANY(:ids) AND (CAST(:one AS int) IS NULL OR c.id = :one)
        ORDER BY c.created_at, c.id""").bindparams(bindparam("ids", type_=ARRAY(Integer))),
                        {"ids": division_ids, "one": comment_id}).mappings().all()
    return [{**r, "point": [float(v) for v in r["point"]] if r["point"] else None,
             "created_at": r["created_at"].isoformat()} for r in rows]


def comments(conn: Connection, division_id: int, *, include_parent: bool = True) -> list[dict]:
    """Comments on a division and (``include_parent``) on the version it was copied from, oldest first."""
    row = _division(conn, division_id)
    ids = [division_id] + ([row.parent_id] if include_parent and row.parent_id is not None else [])
    return _comments(conn, ids)


# -- diff between two versions ----------------------------------------------------------------------

def default_against(conn: Connection, division_id: int) -> int | None:
    """What a division is compared with: the approved version in force today, else its parent version."""
    row = _division(conn, division_id)
    in_force = divisions_in_force(conn, approved_only=True, communities=[row.community_code]).get(row.community_code)
    return in_force if in_force is not None and in_force != division_id else row.parent_id


def _membership(conn: Connection, division_id: int, unit: str, community: str) -> pd.DataFrame:
    """``unit -> grid label`` with households: atoms (same layer) or buildings (by their point on surface)."""
    if unit == "atom":
        sql = """SELECT ga.atom_id AS unit, g.label, a.households FROM grid_atom ga JOIN grid g ON g.id = ga.grid_id
                 JOIN atom a ON a.id = ga.atom_id WHERE ga.division_id = :d"""
    else:
        sql = """SELECT b.id AS unit, g.label, b.households FROM building b JOIN grid g ON g.division_id = :d
                 AND ST_Within(ST_PointOnSurface(b.geom), g.geom) WHERE b.community_code = :c"""
    return pd.DataFrame(conn.execute(text(sql), {"d": division_id, "c": community}).all(),
                        columns=["unit", "label", "households"]).astype({"unit": "int64", "label": "int64",
                                                                         "households": "int64"})


def _match(old: pd.DataFrame, new: pd.DataFrame) -> dict[int, int]:
    """Mutual best matches ``new label -> old label`` by shared households (then shared units)."""
    both = old.merge(new, on="unit", suffixes=("_old", "_new"))
    if both.empty:
        return {}
    shared = both.groupby(["label_old", "label_new"]).agg(hh=("households_old", "sum"), n=("unit", "size"))
    shared = shared.reset_index().sort_values(["hh", "n", "label_old", "label_new"],
                                              ascending=[False, False, True, True])
    best_old = shared.drop_duplicates("label_new").set_index("label_new")["label_old"]
    best_new = shared.drop_duplicates("label_old").set_index("label_old")["label_new"]
    return {int(n): int(o) for n, o in best_old.items() if int(best_new.get(o, -1)) == int(n)}


def diff(conn: Connection, division_id: int, against_id: int | None) -> dict:
    """Grids added, removed, changed and unchanged between ``against_id`` (before) and ``division_id`` (after).

    Grids are compared by their atoms when both versions share an atom layer, else by the buildings
    they hold; a grid of one version corresponds to the grid of the other it shares the most
    households with, when that is mutual. ``changed_areas`` is GeoJSON of the atoms (buildings) that
    moved between corresponding grids, grouped by where they went.
    """
    row = _division(conn, division_id)
    header = {"division": {"id": row.id, "version": row.version, "status": row.status,
                           "community_code": row.community_code}}
    if against_id is None:
        return {**header, "against": None, "method": None, "grids": [], "removed": [], "summary": None,
                "changed_areas": {"type": "FeatureCollection", "features": []}}
    other = _division(conn, against_id)
    if other.community_code != row.community_code:
        raise BadRequest(f"parameter 'against': division {against_id} belongs to community {other.community_code}, "
                         f"not {row.community_code}")
    unit = "atom" if other.atom_layer_id == row.atom_layer_id else "building"
    old = _membership(conn, against_id, unit, row.community_code)
    new = _membership(conn, division_id, unit, row.community_code)
    match = _match(old, new)
    old_sets = old.groupby("label")["unit"].apply(frozenset).to_dict()
    new_sets = new.groupby("label")["unit"].apply(frozenset).to_dict()
    attrs = {d: {r.label: r for r in conn.execute(select(m.Grid.label, m.Grid.code, m.Grid.name, m.Grid.households,
                                                         m.Grid.type).where(m.Grid.division_id == d)).all()}
             for d in (division_id, against_id)}
    hh_unit = dict(zip(new["unit"], new["households"], strict=True)) | dict(zip(old["unit"], old["households"],
                                                                               strict=True))
    grids = []
    for label, a in sorted(attrs[division_id].items()):
        was = match.get(label)
        mine = new_sets.get(label, frozenset())
        before = old_sets.get(was, frozenset()) if was is not None else frozenset()
        status = "added" if was is None else ("unchanged" if mine == before else "changed")
        b = attrs[against_id].get(was)
        grids.append({"label": label, "code": a.code, "name": a.name, "type": a.type, "status": status,
                      "against_label": was, "against_code": b.code if b else None,
                      "households_before": b.households if b else None, "households_after": a.households,
                      f"{unit}s_in": len(mine - before), f"{unit}s_out": len(before - mine) if was is not None else 0})
    matched_old = set(match.values())
    removed = [{"label": label, "code": b.code, "name": b.name, "households_before": b.households}
               for label, b in sorted(attrs[against_id].items()) if label not in matched_old]
    # A unit moved when the grid it is in now is not the one corresponding to the grid it was in.
    follow = {o: n for n, o in match.items()}
    moves = old.merge(new, on="unit", suffixes=("_old", "_new"))
    moves = moves[moves["label_old"].map(lambda o: follow.get(int(o), -1)) != moves["label_new"]]
    summary = {"grids_added": sum(g["status"] == "added" for g in grids),
               "grids_changed": sum(g["status"] == "changed" for g in grids),
               "grids_unchanged": sum(g["status"] == "unchanged" for g in grids), "grids_removed": len(removed),
               f"{unit}s_moved": int(len(moves)),
               "households_moved": int(sum(hh_unit.get(u, 0) for u in moves["unit"]))}
    if unit == "building":
        summary["atoms_moved"] = None  # different atom layers: atoms cannot be compared one by one
    table = "atom" if unit == "atom" else "building"
    groups = moves.groupby(["label_old", "label_new"])["unit"].apply(list)
    features = []
    if len(groups):
        keys = [(int(o), int(n)) for o, n in groups.index]
        geometry = conn.execute(text(f"""
            SELECT v.g, ST_AsGeoJSON(ST_Union(t.geom), 7)::json FROM {table} t
            JOIN unnest(CAST(:units AS bigint[]), CAST(:groups AS int[])) AS v(unit, g) ON v.unit = t.id
            GROUP BY v.g""").bindparams(bindparam("units", type_=ARRAY(BigInteger))),
                                {"units": [int(u) for units in groups for u in units],
                                 "groups": [i for i, units in enumerate(groups) for _ in units]}).all()
        shapes = dict(geometry)
        for i, ((old_label, new_label), units) in enumerate(zip(keys, groups, strict=True)):
            features.append({"type": "Feature", "geometry": shapes.get(i), "properties": {
                "from_label": old_label, "from_code": getattr(attrs[against_id].get(old_label), "code", None),
                "to_label": new_label, "to_code": getattr(attrs[division_id].get(new_label), "code", None),
                f"{unit}s": len(units), "households": int(sum(hh_unit.get(u, 0) for u in units))}})
    return {**header, "against": {"id": other.id, "version": other.version, "status": other.status},
            "method": "atoms" if unit == "atom" else "buildings", "summary": summary, "grids": grids,
            "removed": removed, "changed_areas": {"type": "FeatureCollection", "features": features}}


# -- the review queue -------------------------------------------------------------------------------

def review_queue(conn: Connection, prefix: str = "") -> list[dict]:
    """Submitted divisions of communities whose code starts with ``prefix`` (the reviewer's city), oldest first."""
    rows = conn.execute(text("""
        SELECT d.id, d.community_code, c.name AS community, t.name AS township, d.version, d.submitted_at,
               u.username AS author, (SELECT count(*) FROM grid g WHERE g.division_id = d.id) AS n_grids,
               (SELECT coalesce(sum(households), 0) FROM grid g WHERE g.division_id = d.id) AS households
        FROM division d JOIN admin_area c ON c.code = d.community_code
        LEFT JOIN admin_area t ON t.code = c.parent_code
        LEFT JOIN LATERAL (SELECT user_id FROM division_transition x WHERE x.division_id = d.id
                           AND x.to_status = 'submitted' ORDER BY x.at DESC LIMIT 1) s ON TRUE
        LEFT JOIN app_user u ON u.id = s.user_id
        WHERE d.status = 'submitted' AND d.community_code LIKE :prefix || '%'
        ORDER BY d.submitted_at, d.id"""), {"prefix": prefix}).mappings().all()
    return [{**r, "submitted_at": r["submitted_at"].isoformat() if r["submitted_at"] else None} for r in rows]


# -- the filing packet ------------------------------------------------------------------------------

STAFF_COLUMNS = ("grid_chief", "full_time", "part_time", "instructor")


def _staff_by_code(conn: Connection, codes: list[str], on: date) -> dict[str, dict[str, list[tuple[str, str]]]]:
    rows = conn.execute(text("""
        SELECT a.grid_code, a.role, s.name, coalesce(s.phone, '')
        FROM staff_assignment a JOIN staff s ON s.id = a.staff_id
        WHERE a.grid_code = ANY(:codes) AND a.start_date <= :on AND (a.end_date IS NULL OR a.end_date > :on)
        ORDER BY a.grid_code, a.role, s.name"""), {"codes": codes, "on": on}).all()
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for code, role, name, phone in rows:
        out.setdefault(code, {}).setdefault(role, []).append((name, phone))
    return out


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")  # with BOM: Excel (common in county offices) reads it as UTF-8


def filing_packet(engine: Engine, division_id: int) -> tuple[str, bytes]:
    """The filing packet (备案材料) of an approved division: ``(file name, zip bytes)``.

    Holds a GeoPackage (layers grids, micro_grids), GeoJSON, a zipped Shapefile, CSVs of grids and
    micro-grids with codes, households and staff, the printable filing sheet (PDF) and manifest.json.
    """
    from server.services.printing import filing_sheet

    with engine.connect() as conn:
        row = _division(conn, division_id)
        if row.status != "approved":
            raise Conflict(f"division {division_id} (version {row.version}) is {row.status}: only an approved "
                           "division has a filing packet")
        head = conn.execute(text("""
            SELECT c.name AS community, t.name AS township, d.reviewed_at, u.username, u.display_name
            FROM division d JOIN admin_area c ON c.code = d.community_code
            LEFT JOIN admin_area t ON t.code = c.parent_code LEFT JOIN app_user u ON u.id = d.reviewer_id
            WHERE d.id = :d"""), {"d": division_id}).mappings().one()
        grids = _read_frame(conn, """SELECT g.code, g.label, coalesce(g.name, '') AS name, g.type,
                                            coalesce(g.subtype, '') AS subtype, g.households, g.population,
                                            (SELECT count(*) FROM micro_grid mg WHERE mg.grid_id = g.id) AS micro_grids,
                                            g.geom FROM grid g WHERE g.division_id = :d ORDER BY g.code""",
                            {"d": division_id})
        micro = conn.execute(text("""SELECT mg.code, g.code AS grid_code, mg.households, mg.population
                                     FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d
                                     ORDER BY mg.code"""), {"d": division_id}).mappings().all()
        staff = _staff_by_code(conn, [c for c in grids["code"]] + [r["code"] for r in micro], row.effective_from)
    header = {"community": head["community"], "community_code": row.community_code, "township": head["township"],
              "version": row.version, "effective_from": row.effective_from.isoformat(),
              "approver": head["display_name"] or head["username"] or "",
              "reviewed_at": head["reviewed_at"].strftime("%Y-%m-%d %H:%M") if head["reviewed_at"] else ""}
    grid_rows = []
    for g in grids.itertuples():
        mine = staff.get(g.code, {})
        grid_rows.append({"code": g.code, "name": g.name, "type": g.type, "subtype": g.subtype,
                          "households": int(g.households), "population": int(g.population),
                          "micro_grids": int(g.micro_grids),
                          **{f"{role}{suffix}": "; ".join(p[i] for p in mine.get(role, []))
                             for role in STAFF_COLUMNS for suffix, i in (("", 0), ("_phone", 1))}})
    grid_columns = ["code", "name", "type", "subtype", "households", "population", "micro_grids",
                    *[f"{role}{suffix}" for role in STAFF_COLUMNS for suffix in ("", "_phone")]]
    micro_rows = [{**r, "micro_chief": "; ".join(n for n, _ in staff.get(r["code"], {}).get("micro_chief", [])),
                   "micro_chief_phone": "; ".join(p for _, p in staff.get(r["code"], {}).get("micro_chief", []))}
                  for r in micro]
    micro_columns = ["code", "grid_code", "households", "population", "micro_chief", "micro_chief_phone"]
    base = f"{row.community_code}-v{row.version}"
    sheet = filing_sheet(grids, header=header, crs=CRS.from_user_input(row.settings["crs"]), micro_count=len(micro))
    files = {
        f"{base}.gpkg": export_division(engine, division_id, "gpkg"),
        f"{base}.geojson": export_division(engine, division_id, "geojson"),
        f"{base}-shp.zip": export_division(engine, division_id, "shp"),
        f"{base}-grids.csv": _csv(grid_rows, grid_columns),
        f"{base}-micro-grids.csv": _csv(micro_rows, micro_columns),
        f"{base}-filing-sheet.pdf": sheet,
    }
    manifest = {**header, "division_id": division_id, "grids": len(grid_rows), "micro_grids": len(micro_rows),
                "households": int(grids["households"].sum()),
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return f"filing-{base}.zip", buffer.getvalue()


# -- the public notice board (Jiangsu art. 19) -------------------------------------------------------

PUBLIC_ROLES = ("grid_chief", "full_time")


def notice(conn: Connection, grid_code: str, on: date | None = None) -> dict:
    """What the public notice board of a grid shows: only grids of approved divisions in force ``on``.

    Staff contacts are the grid chief and full-time workers; a phone shows only when the worker agreed
    to publish it (``publish_contact``), the only personal data the public sees (Jiangsu art. 17, 19).
    """
    if not isinstance(grid_code, str) or len(grid_code) != 15 or not grid_code.isdigit():
        raise NotFound(f"{grid_code!r} is not a grid code (15 digits)")
    on = on or date.today()
    community = grid_code[:12]
    division_id = divisions_in_force(conn, on, approved_only=True, communities=[community]).get(community)
    grid = None
    if division_id is not None:
        grid = conn.execute(text("""
            SELECT g.code, g.name, g.type, g.subtype, g.households, g.population, d.version, d.effective_from,
                   c.name AS community, t.name AS township, ST_AsGeoJSON(g.geom, 7)::json AS geometry,
                   (SELECT count(*) FROM micro_grid mg WHERE mg.grid_id = g.id) AS micro_grids
            FROM grid g JOIN division d ON d.id = g.division_id JOIN admin_area c ON c.code = d.community_code
            LEFT JOIN admin_area t ON t.code = c.parent_code
            WHERE g.division_id = :d AND g.code = :code"""), {"d": division_id, "code": grid_code}).mappings().first()
    if grid is None:
        raise NotFound(f"no grid {grid_code} in an approved division in force on {on}")
    staff = conn.execute(text("""
        SELECT a.role, s.name, CASE WHEN s.publish_contact THEN s.phone END AS phone
        FROM staff_assignment a JOIN staff s ON s.id = a.staff_id
        WHERE a.grid_code = :code AND a.role = ANY(:roles) AND a.start_date <= :on
          AND (a.end_date IS NULL OR a.end_date > :on)
        ORDER BY array_position(CAST(:roles AS text[]), CAST(a.role AS text)), s.name"""),
                         {"code": grid_code, "roles": list(PUBLIC_ROLES), "on": on}).mappings().all()
    return {**grid, "effective_from": grid["effective_from"].isoformat(), "staff": [dict(s) for s in staff],
            "on": on.isoformat()}


# -- demo staff -------------------------------------------------------------------------------------

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
          "霞", "平", "刚", "桂英", "建华", "文", "华", "红", "玉兰", "志强", "海燕", "晓东"]


def _fake(code: str, role: str) -> tuple[str, str]:
    digest = int(hashlib.sha256(f"{code}:{role}".encode()).hexdigest(), 16)
    name = _SURNAMES[digest % len(_SURNAMES)] + _GIVEN[(digest // 97) % len(_GIVEN)]
    return name, f"138{digest % 10**8:08d}"


def ensure_demo_staff(engine: Engine) -> int:
    """Give every grid code of the stored divisions a grid chief and a full-time worker (demo only).

    Names are made up and phones are 138xxxxxxxx numbers derived from the code, so a second call
    finds them and adds nothing (idempotent). Returns how many assignments were added.
    """
    with engine.begin() as conn:
        codes = sorted(set(conn.execute(select(m.Grid.code).where(m.Grid.code.is_not(None))).scalars()))
        active = set(conn.execute(select(m.StaffAssignment.grid_code, m.StaffAssignment.role).where(
            m.StaffAssignment.end_date.is_(None))).all())
        known = dict(conn.execute(select(m.Staff.code, m.Staff.id).where(m.Staff.code.like("D%"))).all())
        todo = [(code, role) for code in codes for role in PUBLIC_ROLES if (code, role) not in active]
        new_staff = []
        for code, role in todo:
            staff_code = f"D{code}{'C' if role == 'grid_chief' else 'F'}"
            if staff_code not in known:
                name, phone = _fake(code, role)
                new_staff.append({"code": staff_code, "name": name, "phone": phone, "township_code": code[:9] + "000",
                                  "publish_contact": True})
        if new_staff:
            known.update(conn.execute(insert(m.Staff).returning(m.Staff.code, m.Staff.id,
                                                                sort_by_parameter_order=True), new_staff).all())
        if todo:
            conn.execute(insert(m.StaffAssignment), [
                {"staff_id": known[f"D{code}{'C' if role == 'grid_chief' else 'F'}"], "grid_code": code, "role": role,
                 "start_date": date.today() - timedelta(days=365)} for code, role in todo])
            audit(conn, "staff.demo", "staff_assignment", None, None,
                  {"assignments": len(todo), "staff": len(new_staff)}, actor="demo")
    return len(todo)


# -- the audit log ----------------------------------------------------------------------------------

def audit_entries(conn: Connection, *, user: str | None = None, action: str | None = None,
                  entity: str | None = None, entity_id: str | None = None, since: date | None = None,
                  until: date | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """A page of the audit log, newest first.

    ``user`` matches the actor (user name), ``action`` is a prefix (``division.`` finds every division
    action), ``entity``/``entity_id`` match exactly, ``since``/``until`` are inclusive days.
    """
    where = ["(CAST(:user AS text) IS NULL OR l.actor = :user)",
             # a prefix match; % and _ typed by the user are literal
             "(CAST(:action AS text) IS NULL OR "
             "l.action LIKE replace(replace(:action, '%', '\\%'), '_', '\\_') || '%')",
             "(CAST(:entity AS text) IS NULL OR l.entity = :entity)",
             "(CAST(:entity_id AS text) IS NULL OR l.entity_id = :entity_id)",
             "(CAST(:since AS date) IS NULL OR l.at >= CAST(:since AS date))",
             "(CAST(:until AS date) IS NULL OR l.at < CAST(:until AS date) + 1)"]
    params = {"user": user or None, "action": action or None, "entity": entity or None,
              "entity_id": entity_id or None, "since": since, "until": until}
    condition = " AND ".join(where)
    total = conn.execute(text(f"SELECT count(*) FROM audit_log l WHERE {condition}"), params).scalar_one()
    rows = conn.execute(text(f"""
        SELECT l.id, l.at, l.actor, l.user_id, l.action, l.entity, l.entity_id, l.before, l.after
        FROM audit_log l WHERE {condition} ORDER BY l.id DESC LIMIT :limit OFFSET :offset"""),
                        {**params, "limit": per_page, "offset": (page - 1) * per_page}).mappings().all()
    return {"total": total, "page": page, "per_page": per_page, "pages": max(1, math.ceil(total / per_page)),
            "entries": [{**r, "at": r["at"].isoformat()} for r in rows]}
