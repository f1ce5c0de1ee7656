"""Review and filing (审核备案) of divisions: the lifecycle, codes at approval, comments, reasons, diffs, packets.

The lifecycle of a division version (Jiangsu art. 7; city regs art. 7)::

    draft --submit--> submitted --approve--> approved (filed, immutable, in force from a date)
                                 --return--> returned  (read-only; the county starts a new draft from it)

Every step is one transaction that locks the division row, checks the status it moves from (a 409
naming the status otherwise, with nothing changed), writes ``division_transition`` and an
``audit_log`` row. Approval is also where codes are filed: unchanged grids keep their codes, new
grids get numbers never issued before in the community (:func:`gis.codes.assign_codes`), every new
code goes into the ``grid_code`` registry and the codes that disappeared are retired there. Only one
approved division of a community is in force on any day.

Codes are planned by the same rule before approval (:func:`planned_codes`): the editor and the
review page show the code each grid will be filed under, and an approval that sends the codes the
reviewer saw is refused if filing would give any other. Comments are bound to the grid row, which
keeps its id through submission and approval, so a comment points at the same grid before and after.

A grid out of the household band that no division can bring into it (:mod:`gis.bandproof`) may be
submitted with the county's written reason; the reviewer accepts or returns the reason, a division
is approved only with every reason accepted, and the filing packet records them.

Functions take a SQLAlchemy ``Engine`` (they run their own transaction) or a ``Connection`` (they
run in the caller's), typed arguments parsed by :mod:`server.api.params`, and a ``user``
(:class:`server.store.models.User` or None); permissions are checked by the routes, state rules here.
All SQL is in :mod:`server.store.review`.
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
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from sqlalchemy import Connection, Engine, func
from sqlalchemy.exc import IntegrityError

from gis.bandproof import prove_out_of_band
from gis.checks import live_checks
from gis.codes import assign_codes, order_grids
from gis.errors import GisError
from server.errors import BadRequest, Conflict, NotFound
from server.services import staff
from server.services.divisions import divisions_in_force
from server.services.editing import export_division, load_draft, rebuild_micro_grids
from server.store import review as store
from server.store.audit import audit

log = logging.getLogger(__name__)

#: action -> (status it moves from, status it moves to)
TRANSITIONS = {"submit": ("draft", "submitted"), "approve": ("submitted", "approved"),
               "return": ("submitted", "returned")}
_VERBS = {"submit": ("提交", "submitted"), "approve": ("批准", "approved"), "return": ("退回", "returned")}
STATUS_ZH = {"draft": "草稿", "submitted": "待审核", "approved": "已备案", "returned": "已退回"}
#: What to do instead, by (action, status found): the 409 message says it, in Chinese and English.
_HINTS = {
    ("approve", "draft"): ("须先由区县提交", "it must be submitted by the county first"),
    ("return", "draft"): ("只有待审核的划分才在审核中", "only a submitted division is under review"),
    ("approve", "approved"): ("已经备案", "it is already filed"),
    ("return", "approved"): ("已经备案；调整须从它新建草稿", "it is already filed; changes need a new draft from it"),
    ("submit", "approved"): ("已备案的版本不可更改：请从它新建草稿",
                             "approved versions are filed and immutable: start a new draft from it"),
    ("submit", "submitted"): ("已在等待审核", "it is already waiting for review"),
    ("submit", "returned"): ("退回的版本只读：请从它新建草稿，修改后提交",
                             "a returned version is read-only: start a new draft from it, fix it and submit that"),
    ("approve", "returned"): ("已退回区县，由区县提交新草稿", "it was returned to the county; they submit a new draft"),
    ("return", "returned"): ("已经退回", "it was returned already"),
}
COMMENT_STATUSES = ("draft", "submitted", "returned")
EXEMPTION_DECISIONS = ("accepted", "returned")
#: The CRS of the filing packet's GIS files: CGCS2000, the national datum government geodata is kept in.
FILING_CRS = "EPSG:4490"


# -- rows and small helpers -------------------------------------------------------------------------

def _division(conn: Connection, division_id: int, *, lock: bool = False):
    row = store.division_row(conn, division_id, lock=lock)
    if row is None:
        raise NotFound(f"没有编号为 {division_id} 的网格划分 / no division with id {division_id}")
    return row


def _name(row) -> str:
    """A division as the screen names it: 白塔村（320499101206）第 2 版."""
    return f"{row.community_name or row.community_code}（{row.community_code}）第 {row.version} 版"


def division_community(conn: Connection, division_id: int) -> tuple[str, str]:
    """``(community code, status)`` of a division (404 when there is none): what permission checks need."""
    row = _division(conn, division_id)
    return row.community_code, row.status


def _expect(row, action: str) -> None:
    source, _ = TRANSITIONS[action]
    if row.status != source:
        zh_verb, en_verb = _VERBS[action]
        zh, en = _HINTS.get((action, row.status), (f"只有{STATUS_ZH[source]}的划分可以{zh_verb}",
                                                   f"only a {source} division can be {en_verb}"))
        raise Conflict(f"{_name(row)}{STATUS_ZH.get(row.status, row.status)}，不能{zh_verb}：{zh}；未作任何更改 / "
                       f"division {row.id} (version {row.version} of community {row.community_code}) is "
                       f"{row.status}, so it cannot be {en_verb}: {en}; nothing was changed",
                       details={"status": row.status, "expected_status": source, "action": action})


def _record(conn: Connection, row, action: str, user, *, reason: str | None = None, values: dict | None = None,
            after: dict | None = None) -> dict:
    """Move ``row`` to the action's status: update, transition row and audit row, in ``conn``'s transaction."""
    source, target = TRANSITIONS[action]
    if store.move_status(conn, row.id, source, target, values or {}) != 1:
        # the row is locked, so this means a programming error, not a race
        raise Conflict(f"{_name(row)} 的状态在{_VERBS[action][0]}时被更改 / division {row.id} changed status "
                       f"while it was being {_VERBS[action][1]}")
    user_id = user.id if user is not None else None
    transition = store.add_transition(conn, row.id, source, target, user_id, reason)
    audit(conn, f"division.{action}", "division", row.id, {"status": source},
          {"status": target, "version": row.version, "community_code": row.community_code,
           **({"reason": reason} if reason else {}), **(after or {})}, user=user)
    return {"id": transition.id, "from_status": source, "to_status": target, "reason": reason,
            "at": transition.at.isoformat(), "user": user.username if user is not None else None}


def division_header(conn: Connection, division_id: int) -> dict:
    """A division's status, version, parent and review dates, JSON-ready."""
    row = store.division_header(conn, division_id)
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


def review_page(conn: Connection, division_id: int) -> dict:
    """What the review page starts from: the division, its community and the version it is compared with."""
    header = store.division_page_header(conn, division_id)
    return {"id": header.id, "version": header.version, "status": header.status, "name": header.name,
            "against": default_against(conn, division_id)}


def _grid_title(code: str | None, label: int) -> str:
    return f"网格 {code}" if code else f"网格（编号待定，内部序号 {label}）"


def _problem_text(problem: dict, codes: dict[int, str], figures: dict[int, dict], band) -> str:
    """A live-check problem as the screen names it: the grid's planned code, in Chinese then English."""
    label = problem.get("grid")
    where = _grid_title(codes.get(label), label) if label is not None else ""
    hh = figures.get(label, {}).get("households")
    kind = problem["code"]
    if kind == "grid_under_min":
        zh = f"{where} 有 {hh} 户，低于下限 {band.min} 户"
    elif kind == "grid_over_max":
        zh = f"{where} 有 {hh} 户，超过上限 {band.max} 户"
    elif kind == "not_contiguous":
        zh = f"{where} 不连片"
    elif kind == "unassigned":
        zh = "有图斑未划入任何网格"
    else:
        zh = f"{where} 未通过检查"
    english = problem["message"]
    if label is not None and codes.get(label):
        english = english.replace(f"grid {label} ", f"grid {codes[label]} ")
    return f"{zh} / {english}"


# -- the lifecycle ----------------------------------------------------------------------------------

def _excused(conn: Connection, draft) -> dict[int, dict]:
    """Label -> proof of the grids whose written reason still stands (the engine still proves them)."""
    reasons = {e["grid"]: e for e in store.exemptions(conn, [draft.id])}
    present = set(draft.exclusive)
    out = {}
    for label in reasons:
        proof = prove_out_of_band(draft.layer.context, draft.labels, draft.band, label, exclusive=present)
        if proof is not None:
            out[label] = proof.to_dict()
    return out


def _submit_problems(conn: Connection, division_id: int) -> tuple[list[dict], list[str], Any]:
    """Errors of the live checks once the grids with a standing reason are excused, and their messages."""
    draft = load_draft(conn, division_id)
    present = set(draft.labels.labels[draft.labels.labels >= 0].tolist())
    checks = live_checks(draft.layer.context, draft.labels, draft.band, exclusive=draft.exclusive & present,
                         excused=_excused(conn, draft).keys()).to_dict()
    problems = [p for p in checks["problems"] if p["severity"] == "error"]
    codes = planned_codes(conn, division_id) if problems else {}
    figures = {g["label"]: g for g in checks["grids"]}
    return problems, [_problem_text(p, codes, figures, draft.band) for p in problems], draft


def submit(engine: Engine, division_id: int, *, user=None) -> dict:
    """Submit a draft for review (draft → submitted).

    Refused (409, nothing changed) when the division is not a draft or its live checks have errors
    (a grid with a written reason the engine still proves is not an error); grids without
    micro-grids (changed since the last rebuild) get them first, automatically.
    """
    with engine.connect() as conn:
        row = _division(conn, division_id)
        _expect(row, "submit")
        problems, texts, _ = _submit_problems(conn, division_id)
    if problems:
        listed = "；".join(texts[:10])
        more = f"（另有 {len(problems) - 10} 项）" if len(problems) > 10 else ""
        raise Conflict(f"{_name(row)} 不能提交：检查发现 {len(problems)} 个错误 — {listed}{more}。请在编辑器中修正后"
                       f"再提交；未作任何更改 / cannot be submitted: the live checks found {len(problems)} error(s)",
                       details={"problems": problems, "messages": texts})
    made = rebuild_micro_grids(engine, division_id, user_id=user.id if user is not None else None)
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        _expect(row, "submit")  # someone may have submitted it meanwhile
        bare = store.bare_grids(conn, division_id)
        if bare:
            raise Conflict(f"{_name(row)}：重建后仍有 {bare} 个网格没有微网格，请在编辑器中重建微网格后提交 / "
                           f"{bare} grid(s) still have no micro-grids after rebuilding them")
        transition = _record(conn, row, "submit", user, values={"submitted_at": func.now()},
                             after={"micro_grids_rebuilt": made})
        return {"division": division_header(conn, division_id), "transition": transition, "micro_grids_rebuilt": made}


def return_division(engine: Engine, division_id: int, reason: str, *, user=None) -> dict:
    """Return a submitted division to the county (submitted → returned) with a reason (parsed, required)."""
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        _expect(row, "return")
        transition = _record(conn, row, "return", user, reason=reason, values={
            "reviewed_at": func.now(), "reviewer_id": user.id if user is not None else None, "review_note": reason})
        return {"division": division_header(conn, division_id), "transition": transition}


def _in_force_on(approved: list, on: date):
    return next((a for a in approved if a.effective_from is not None and a.effective_from <= on
                 and (a.effective_to is None or a.effective_to > on)), None)


def _check_reasons_accepted(conn: Connection, row) -> None:
    open_ = [e for e in store.exemptions(conn, [row.id]) if e["status"] != "accepted"]
    if open_:
        names = "、".join(_grid_title(e["grid_code"], e["grid"]) for e in open_)
        raise Conflict(f"{_name(row)} 有 {len(open_)} 条户数说明尚未接受（{names}）：请先接受说明，或退回划分；"
                       f"未作任何更改 / {len(open_)} reason(s) for grids out of the band are not accepted yet",
                       details={"exemptions": [e["id"] for e in open_]})


def _check_codes_seen(row, filed: dict[int, str], seen: dict[int, str] | None) -> None:
    """What the reviewer approved is what is filed: refuse when the codes they saw are not the ones filed."""
    if seen is None:
        return
    differ = sorted(label for label in set(filed) | set(seen) if filed.get(label) != seen.get(label))
    if differ:
        raise Conflict(f"{_name(row)} 备案时的网格编码与审核页显示的不同（{len(differ)} 个网格），"
                       f"请刷新页面核对后再批准；未作任何更改 / the codes filing would give differ from the codes "
                       "you reviewed; reload and check them", details={"labels": differ,
                                                  "codes": {str(k): filed.get(k) for k in differ}})


def approve(engine: Engine, division_id: int, *, effective_from: date | None = None, note: str | None = None,
            codes: dict[int, str] | None = None, user=None) -> dict:
    """Approve and file a submitted division, in force from ``effective_from`` (today by default).

    The approved version in force on that day ends there (its ``effective_to``); codes are filed
    (see :func:`file_codes`). Refused (409, nothing changed) when the division is not submitted, a
    written reason is not accepted, ``codes`` (label -> code the reviewer saw) differ from the codes
    filing gives, or another version of the community is approved to take effect after that day.
    """
    on = effective_from or date.today()
    try:
        with engine.begin() as conn:
            row = _division(conn, division_id, lock=True)
            _expect(row, "approve")
            _check_reasons_accepted(conn, row)
            # Lock the community's approved versions: two approvals of one community run one after the other.
            approved = store.approved_versions(conn, row.community_code, lock=True)
            later = [a for a in approved if a.effective_from is not None and a.effective_from > on]
            if later:
                raise Conflict(f"{row.community_name or row.community_code} 第 {later[0].version} 版定于 "
                               f"{later[0].effective_from} 生效，晚于 {on}：同一天只能有一个划分生效，请选择 "
                               f"{later[-1].effective_from} 或之后的生效日期；未作任何更改 / version "
                               f"{later[0].version} of community {row.community_code} is approved to take effect on "
                               f"{later[0].effective_from}, after {on}: approve with an effective date on or after "
                               f"{later[-1].effective_from}; nothing was changed",
                               details={"effective_from": on.isoformat(), "later_division": later[0].id})
            current = _in_force_on(approved, on)
            filed = file_codes(conn, row, current.id if current is not None else None, user=user, seen=codes)
            filed["staffing"] = staff.on_division_approved(conn, row.id, on, user=user)  # carry staff over
            if current is not None:
                store.end_division(conn, current.id, on)
                audit(conn, "division.supersede", "division", current.id,
                      {"effective_to": current.effective_to}, {"effective_to": on, "superseded_by": row.id},
                      user=user)
            transition = _record(conn, row, "approve", user, reason=note, values={
                "reviewed_at": func.now(), "reviewer_id": user.id if user is not None else None,
                "review_note": note, "effective_from": on, "effective_to": None},
                after={"effective_from": on.isoformat(), "supersedes": current.id if current else None,
                       "codes": {k: len(v) for k, v in filed.items() if isinstance(v, list)}})
            check_one_in_force(conn, row)
            return {"division": division_header(conn, division_id), "transition": transition, "codes": filed,
                    "superseded": current.id if current is not None else None}
    except IntegrityError as exc:  # the exclusion constraint: only reachable if the check above was bypassed
        if "division_one_in_force" in str(exc):
            raise Conflict(f"从 {on} 起批准将使同一社区同一天有两个划分生效；未作任何更改 / approving division "
                           f"{division_id} from {on} would put two divisions of its community in force on the same "
                           "day; nothing was changed") from None
        raise


def check_one_in_force(conn: Connection, row) -> None:
    """Raise Conflict when two approved divisions of the division's community are in force on a common day."""
    clash = store.in_force_clash(conn, row.community_code)
    if clash is not None:
        raise Conflict(f"{row.community_name or row.community_code} 第 {clash[0]} 版与第 {clash[1]} 版将在某些日期"
                       f"同时生效；同一时间只能有一个划分生效，未作任何更改 / versions {clash[0]} and {clash[1]} of "
                       f"community {row.community_code} would both be in force on some day — nothing was changed")


def transitions(conn: Connection, division_id: int) -> dict:
    """The lifecycle history of a division, oldest first: who moved it from which status to which, when, why."""
    header = division_header(conn, division_id)
    rows = [{**r, "at": r["at"].isoformat()} for r in store.transitions(conn, division_id)]
    return {"division_id": division_id, "status": header["status"], "version": header["version"],
            "parent_id": header["parent_id"], "transitions": rows}


# -- codes: planned before approval, filed at approval, by one rule ----------------------------------

@dataclass
class CodePlan:
    """The codes a division's grids get when filed against ``previous_id``, and what filing needs besides."""

    grids: gpd.GeoDataFrame  # id, label, code (as stored), kind, geometry in the community's CRS
    codes: dict[int, str]  # label -> planned code
    method: str  # atoms, buildings or first
    issued: dict = field(default_factory=dict)
    previous_codes: set[str] = field(default_factory=set)
    previous_micro: set[str] = field(default_factory=set)


def _members_by_buildings(conn: Connection, row, grids: gpd.GeoDataFrame, previous: gpd.GeoDataFrame,
                          crs: CRS) -> tuple[dict[str, set[int]], pd.Series, dict[int, int]]:
    """Grids of different atom layers matched by the buildings (units of split towers) each holds."""
    from gis.units import previous_members, split_by_units

    buildings = store.buildings(conn, row.community_code)
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


def _previous_members(conn: Connection, row, grids: gpd.GeoDataFrame, previous_id: int, crs: CRS):
    """``(method, previous code -> members, atom -> label, atom -> households)`` against ``previous_id``."""
    if store.atom_layer_of(conn, previous_id) == row.atom_layer_id:
        previous: dict[str, set[int]] = {}
        for code, atom in store.code_atoms(conn, previous_id):
            previous.setdefault(code, set()).add(int(atom))
        mine = store.label_atoms(conn, row.id)
        return ("atoms", previous, pd.Series({int(a): int(label) for a, label, _ in mine}),
                {int(a): int(h) for a, _, h in mine})
    before = store.coded_grids(conn, previous_id).rename_geometry("geometry")
    return ("buildings", *_members_by_buildings(conn, row, grids, before, crs))


def plan_codes(conn: Connection, row, previous_id: int | None) -> CodePlan:
    """The codes filing gives the grids of division ``row`` against the version in force ``previous_id``.

    Grids are matched to that version by their atoms when both share an atom layer (a draft copied
    from it does), else by buildings and households; a match keeps its code, the others get numbers
    no code of the community ever had (the ``grid_code`` registry is the memory). The one rule for
    both the codes shown before approval and the codes filed at approval.
    """
    crs = CRS.from_user_input(row.settings["crs"])
    grids = store.grids_for_codes(conn, row.id).to_crs(crs)
    issued = store.issued_codes(conn, row.community_code)
    plan = CodePlan(grids, {}, "first", issued)
    previous: dict[str, set[int]] = {}
    labels = households = None
    if previous_id is not None:
        plan.previous_codes = store.grid_codes_of(conn, previous_id)
        plan.previous_micro = store.micro_codes_of(conn, previous_id)
        plan.method, previous, labels, households = _previous_members(conn, row, grids, previous_id, crs)
    if grids.empty:
        return plan
    # Every code ever issued and not carried by the previous version counts as retired: never given again.
    retired = {c for c in issued if len(c) == 15 and c not in previous}
    try:
        codes = assign_codes(grids.set_index("label", drop=False), row.community_code, previous=previous or None,
                             retired=retired, labels=labels if previous else None, households=households)
    except GisError as exc:
        raise Conflict(f"{_name(row)} 无法编码：{exc} / codes for division {row.id} cannot be issued: {exc}") from None
    plan.codes = {int(label): code for label, code in codes.items()}
    if len(set(plan.codes.values())) != len(plan.codes):  # assign_codes guarantees it; filing must not trust luck
        raise RuntimeError(f"duplicate grid codes computed for division {row.id}")
    return plan


def planned_codes(conn: Connection, division_id: int, on: date | None = None) -> dict[int, str]:
    """Label -> the code each grid has (approved) or will be filed under when approved ``on`` (today).

    Drafts and divisions under review are planned against the version that would be in force then,
    exactly as :func:`approve` files them; an approved division answers its filed codes.
    """
    row = _division(conn, division_id)
    if row.status == "approved":
        return {int(label): code for label, _id, code, *_ in store.grid_attributes(conn, division_id)
                if code is not None}
    current = _in_force_on(store.approved_versions(conn, row.community_code), on or date.today())
    try:
        return plan_codes(conn, row, current.id if current is not None else None).codes
    except Conflict:
        return {}  # no number left: the editor shows the grid without a code and approval says why


def with_planned_codes(conn: Connection, division_id: int, collection: dict) -> dict:
    """The grids GeoJSON of a division with ``planned_code`` (the code it is or will be filed as) and
    ``label_point`` (``[lon, lat]`` inside the grid, where its label goes) on each grid.
    """
    from shapely.geometry import shape

    codes = planned_codes(conn, division_id)
    for feature in collection.get("features", []):
        feature["properties"]["planned_code"] = codes.get(feature["properties"].get("label"))
        # Where a label goes: always inside the grid (a ring-shaped grid's centre lies in its neighbour).
        inside = shape(feature["geometry"]).point_on_surface() if feature.get("geometry") else None
        feature["properties"]["label_point"] = [round(inside.x, 7), round(inside.y, 7)] if inside else None
    return collection


def file_codes(conn: Connection, row, previous_id: int | None, *, user=None,
               seen: dict[int, str] | None = None) -> dict:
    """Give the grids and micro-grids of division ``row`` their filed codes, in ``conn``'s transaction.

    Grid codes are :func:`plan_codes`'s (refused when they differ from ``seen``, the codes the
    reviewer saw). Micro-grids of a grid keep codes they had under the same grid code in the previous
    version; new ones continue the grid's sequence past every number it ever issued. New codes are
    registered, codes of the previous version that disappeared are retired, and the codes go into a
    new revision snapshot so a draft copied from this version carries them.

    Returns
    -------
    dict
        ``method`` (atoms, buildings or first), ``kept``, ``new`` and ``retired`` code lists.
    """
    plan = plan_codes(conn, row, previous_id)
    _check_codes_seen(row, plan.codes, seen)
    grid_codes = plan.codes
    store.set_grid_codes(conn, {int(g.id): grid_codes[int(g.label)] for g in plan.grids.itertuples()})
    micro_codes = _file_micro_codes(conn, row, plan.grids.crs, grid_codes, plan.issued, plan.previous_micro)
    final = set(grid_codes.values()) | set(micro_codes.values())
    new = sorted(c for c in final if c not in plan.issued)
    gone = sorted((plan.previous_codes | plan.previous_micro) - final)
    store.register_codes(conn, row.community_code, row.id, new, gone)
    _snapshot_codes(conn, row, grid_codes, user)
    return {"method": plan.method, "kept": sorted(c for c in grid_codes.values() if c in plan.previous_codes),
            "new": sorted(c for c in grid_codes.values() if c not in plan.previous_codes),
            "retired": sorted(c for c in gone if len(c) == 15), "micro_new": len([c for c in new if len(c) == 17]),
            "micro_retired": len([c for c in gone if len(c) == 17])}


def _file_micro_codes(conn: Connection, row, crs: CRS, grid_codes: dict[int, str], issued: dict,
                      previous_micro: set[str]) -> dict[int, str]:
    """Micro-grid id -> filed 17-digit code (written to ``micro_grid.code``)."""
    micro = store.micro_grids_for_codes(conn, row.id).to_crs(crs)
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
                raise Conflict(f"网格 {grid_code} 的 99 个微网格编号已用完，请先合并微网格 / grid {grid_code} has "
                               "used up its 99 micro-grid numbers; merge micro-grids first")
            kept[int(micro_id)] = f"{grid_code}{number:02d}"
        result.update(kept)
    store.set_micro_codes(conn, result)
    return result


def _snapshot_codes(conn: Connection, row, grid_codes: dict[int, str], user) -> None:
    """A revision holding the filed codes: drafts copied from this version start from them."""
    snap = store.snapshot(conn, row.id, row.revision)
    grids = {k: {**v, "code": grid_codes.get(int(k), v.get("code"))} for k, v in snap.grids.items()}
    store.add_revision(conn, row.id, row.revision + 1, op="file_codes", description="codes filed at approval",
                       labels=list(snap.labels), grids=grids, user_id=user.id if user is not None else None)


# -- comments ---------------------------------------------------------------------------------------

def _comment_rows(conn: Connection, division_ids: list[int], comment_id: int | None = None) -> list[dict]:
    """Comments with the code their grid has or will be filed under (``grid_code``), JSON-ready."""
    rows = store.comments(conn, division_ids, comment_id)
    plans = {d: planned_codes(conn, d) for d in {r["division_id"] for r in rows if r["grid_id"] is not None}}
    return [{**{k: v for k, v in r.items() if k not in ("lon", "lat")},
             "grid_code": r["grid_code"] or plans.get(r["division_id"], {}).get(r["grid"]) if r["grid_id"] else None,
             "point": [float(r["lon"]), float(r["lat"])] if r["lon"] is not None else None,
             "created_at": r["created_at"].isoformat()} for r in rows]


def add_comment(engine: Engine, division_id: int, text: str, *, grid: int | None = None,
                point: tuple[float, float] | None = None, user=None) -> dict:
    """Pin a comment to a grid (``grid``: its label; stored as the grid row itself), a point, both or neither."""
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        if row.status not in COMMENT_STATUSES:
            raise Conflict(f"{_name(row)}{STATUS_ZH.get(row.status, row.status)}，不再接受意见；请在从它新建的草稿上"
                           f"提意见 / division {division_id} (version {row.version}) is {row.status}: an approved "
                           "version is filed and takes no more comments; comment on a new draft from it")
        grid_id = store.grid_id_of(conn, division_id, grid) if grid is not None else None
        if grid is not None and grid_id is None:
            raise BadRequest(f"{_name(row)} 没有这个网格 / division {division_id} has no grid {grid}",
                             details={"field": "grid"})
        if point is not None and not store.point_near_community(conn, row.community_code, *point):
            raise BadRequest(f"所选位置不在{row.community_name or row.community_code}内 / point {list(point)} is "
                             f"outside community {row.community_code}", details={"field": "point"})
        comment_id = store.add_comment(conn, division_id, grid_id=grid_id, label=grid, point=point, body=text,
                                       author_id=user.id if user is not None else None)
        audit(conn, "comment.add", "review_comment", comment_id, None,
              {"division_id": division_id, "grid": grid, "grid_id": grid_id,
               "point": list(point) if point else None, "text": text}, user=user)
        return _comment_rows(conn, [division_id], comment_id)[0]


def resolve_comment(engine: Engine, division_id: int, comment_id: int, resolved: bool, *, user=None) -> dict:
    """Mark a comment resolved (or open again)."""
    with engine.begin() as conn:
        before = store.comment_resolved(conn, division_id, comment_id)
        if before is None:
            raise NotFound(f"该划分没有第 {comment_id} 条意见 / division {division_id} has no comment {comment_id}")
        store.set_comment_resolved(conn, comment_id, resolved)
        audit(conn, "comment.resolve", "review_comment", comment_id, {"resolved": before}, {"resolved": resolved},
              user=user)
        return _comment_rows(conn, [division_id], comment_id)[0]


def comments(conn: Connection, division_id: int, *, include_parent: bool = True) -> dict:
    """Comments on a division and (``include_parent``) on the version it was copied from, oldest first."""
    row = _division(conn, division_id)
    ids = [division_id] + ([row.parent_id] if include_parent and row.parent_id is not None else [])
    return {"division_id": division_id, "comments": _comment_rows(conn, ids)}


# -- written reasons for grids the band cannot reach ------------------------------------------------

def _proof_text(proof: dict) -> str:
    """The engine's proof in the words of the screen."""
    lo, hi = proof["band"]
    parts = [f"该网格所在的连片区域共 {proof['stretch_households']} 户（{proof['stretch_atoms']} 个图斑）"]
    for count in proof["counts"]:
        k = count["k"]
        if count["need"] is None:
            parts.append(f"划为 {k} 个网格时，户数合计无法都在 {lo}-{hi} 户之间")
        else:
            below, above = count["nearest"]
            near = "、".join(str(x) for x in (below, above) if x is not None)
            parts.append(f"划为 {k} 个网格时，其中一个须有 {count['need'][0]}-{count['need'][1]} 户，"
                         f"但没有任何图斑组合的户数在此范围内" + (f"（最接近的是 {near} 户）" if near else ""))
    return "；".join(parts) + "。"


def exemptions(conn: Connection, division_id: int) -> dict:
    """Out-of-band grids of a division: the engine's proof where it has one, and the reason written for each."""
    row = _division(conn, division_id)
    codes = planned_codes(conn, division_id)
    written = [{**e, "grid_code": e["grid_code"] or codes.get(e["grid"]), "proof_text": _proof_text(e["proof"]),
                "created_at": e["created_at"].isoformat(),
                "reviewed_at": e["reviewed_at"].isoformat() if e["reviewed_at"] else None}
               for e in store.exemptions(conn, [division_id])]
    candidates = []
    if row.status == "draft":
        draft = load_draft(conn, division_id)
        present = set(draft.labels.labels[draft.labels.labels >= 0].tolist())
        for label in sorted(present - draft.exclusive):
            proof = prove_out_of_band(draft.layer.context, draft.labels, draft.band, label, exclusive=draft.exclusive)
            if proof is not None:
                proof = proof.to_dict()
                candidates.append({"grid": label, "grid_code": codes.get(label), "households": proof["households"],
                                   "proof": proof, "proof_text": _proof_text(proof)})
    return {"division_id": division_id, "status": row.status, "candidates": candidates, "exemptions": written}


def attach_exemption(engine: Engine, division_id: int, grid: int, reason: str, *, user=None) -> dict:
    """The county's written reason for an out-of-band grid the engine proves cannot be in the band."""
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        if row.status != "draft":
            raise Conflict(f"{_name(row)}{STATUS_ZH.get(row.status, row.status)}：只能在草稿中填写户数说明 / "
                           "reasons are written in a draft only")
        draft = load_draft(conn, division_id)
        grid_id = store.grid_id_of(conn, division_id, grid)
        if grid_id is None:
            raise BadRequest(f"{_name(row)} 没有这个网格 / division {division_id} has no grid {grid}",
                             details={"field": "grid"})
        proof = prove_out_of_band(draft.layer.context, draft.labels, draft.band, grid, exclusive=draft.exclusive)
        if proof is None:
            code = planned_codes(conn, division_id).get(grid)
            raise Conflict(f"{_grid_title(code, grid)} 可以调整到 {draft.band.min}-{draft.band.max} 户之间"
                           "（或已在范围内），不能以说明代替调整 / the engine cannot prove this grid out of reach "
                           "of the band: adjust it instead", details={"grid": grid})
        proof = proof.to_dict()
        exemption_id = store.save_exemption(conn, division_id, grid_id, households=proof["households"],
                                            reason=reason, proof=proof,
                                            author_id=user.id if user is not None else None)
        audit(conn, "exemption.write", "grid_exemption", exemption_id, None,
              {"division_id": division_id, "grid": grid, "reason": reason, "households": proof["households"]},
              user=user)
    with engine.connect() as conn:
        return next(e for e in exemptions(conn, division_id)["exemptions"] if e["id"] == exemption_id)


def decide_exemption(engine: Engine, division_id: int, exemption_id: int, decision: str, note: str | None, *,
                     user=None) -> dict:
    """The reviewer accepts (``accepted``) or returns (``returned``) a written reason of a submitted division."""
    with engine.begin() as conn:
        row = _division(conn, division_id, lock=True)
        if row.status != "submitted":
            raise Conflict(f"{_name(row)}{STATUS_ZH.get(row.status, row.status)}：只有待审核的划分可以审核说明 / "
                           "only a submitted division's reasons are reviewed")
        before = store.exemption(conn, division_id, exemption_id)
        if before is None:
            raise NotFound(f"该划分没有这条说明 / division {division_id} has no reason {exemption_id}")
        store.decide_exemption(conn, exemption_id, decision, note, user.id if user is not None else None)
        audit(conn, f"exemption.{decision}", "grid_exemption", exemption_id, {"status": before["status"]},
              {"status": decision, "note": note}, user=user)
    with engine.connect() as conn:
        return next(e for e in exemptions(conn, division_id)["exemptions"] if e["id"] == exemption_id)


# -- diff between two versions ----------------------------------------------------------------------

def default_against(conn: Connection, division_id: int) -> int | None:
    """What a division is compared with: the approved version in force today, else its parent version."""
    row = _division(conn, division_id)
    in_force = divisions_in_force(conn, approved_only=True, communities=[row.community_code]).get(row.community_code)
    return in_force if in_force is not None and in_force != division_id else row.parent_id


def diff_against(conn: Connection, division_id: int, against: int | None) -> dict:
    """:func:`diff` against ``against`` (checked to be of the same community) or the default version."""
    return diff(conn, division_id, against if against is not None else default_against(conn, division_id))


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


ATTRIBUTES = ("name", "type", "subtype")


def _grid_entry(a, b, status: str, codes: dict[int, str], unit: str, moved_in: int, moved_out: int) -> dict:
    changes = [{"field": f, "before": getattr(b, f), "after": getattr(a, f)} for f in ATTRIBUTES
               if b is not None and (getattr(b, f) or None) != (getattr(a, f) or None)]
    if status == "unchanged" and changes:
        status = "attributes"  # same households and ground, renamed or retyped: a change the reviewer must see
    return {"label": a.label, "grid_id": a.id, "code": a.code, "planned_code": codes.get(a.label), "name": a.name,
            "type": a.type, "subtype": a.subtype, "status": status, "changes": changes,
            "against_label": b.label if b is not None else None, "against_code": b.code if b is not None else None,
            "households_before": b.households if b is not None else None, "households_after": a.households,
            f"{unit}s_in": moved_in, f"{unit}s_out": moved_out}


def _sorted_by_code(grids: list[dict]) -> list[dict]:
    return sorted(grids, key=lambda g: (g["planned_code"] is None, g["planned_code"] or "", g["label"]))


def diff(conn: Connection, division_id: int, against_id: int | None) -> dict:
    """Grids added, removed, changed, renamed and unchanged between ``against_id`` (before) and ``division_id``.

    Grids are compared by their atoms when both versions share an atom layer, else by the buildings
    they hold; a grid of one version corresponds to the grid of the other it shares the most
    households with, when that is mutual. A grid whose ground is the same but whose name, type or
    subtype changed is ``attributes``. Every grid carries the code it is or will be filed under
    (``planned_code``), and the list is in code order. With nothing to compare (a first division),
    every grid is ``added``. ``changed_areas`` is GeoJSON of the atoms (buildings) that moved between
    corresponding grids, grouped by where they went.
    """
    row = _division(conn, division_id)
    codes = planned_codes(conn, division_id)
    attrs = {r.label: r for r in store.grid_attributes(conn, division_id)}
    header = {"division": {"id": row.id, "version": row.version, "status": row.status,
                           "community_code": row.community_code}}
    if against_id is None:
        return _first_diff(header, attrs, codes)
    other = _division(conn, against_id)
    if other.community_code != row.community_code:
        raise BadRequest(f"第 {other.version} 版不属于{row.community_name or row.community_code} / parameter "
                         f"'against': division {against_id} belongs to community {other.community_code}, not "
                         f"{row.community_code}", details={"field": "against"})
    unit = "atom" if other.atom_layer_id == row.atom_layer_id else "building"
    old = store.membership(conn, against_id, unit, row.community_code)
    new = store.membership(conn, division_id, unit, row.community_code)
    match = _match(old, new)
    old_sets = old.groupby("label")["unit"].apply(frozenset).to_dict()
    new_sets = new.groupby("label")["unit"].apply(frozenset).to_dict()
    before = {r.label: r for r in store.grid_attributes(conn, against_id)}
    hh_unit = dict(zip(new["unit"], new["households"], strict=True)) | dict(zip(old["unit"], old["households"],
                                                                               strict=True))
    grids = []
    for label, a in attrs.items():
        was = match.get(label)
        mine = new_sets.get(label, frozenset())
        held = old_sets.get(was, frozenset()) if was is not None else frozenset()
        status = "added" if was is None else ("unchanged" if mine == held else "changed")
        grids.append(_grid_entry(a, before.get(was), status, codes, unit, len(mine - held),
                                 len(held - mine) if was is not None else 0))
    grids = _sorted_by_code(grids)
    matched_old = set(match.values())
    removed = sorted(({"label": label, "code": b.code, "name": b.name, "households_before": b.households}
                      for label, b in before.items() if label not in matched_old),
                     key=lambda g: (g["code"] or "", g["label"]))
    # A unit moved when the grid it is in now is not the one corresponding to the grid it was in.
    follow = {o: n for n, o in match.items()}
    moves = old.merge(new, on="unit", suffixes=("_old", "_new"))
    moves = moves[moves["label_old"].map(lambda o: follow.get(int(o), -1)) != moves["label_new"]]
    summary = {"grids_added": sum(g["status"] == "added" for g in grids),
               "grids_changed": sum(g["status"] == "changed" for g in grids),
               "grids_attributes": sum(bool(g["changes"]) for g in grids),
               "grids_unchanged": sum(g["status"] == "unchanged" for g in grids), "grids_removed": len(removed),
               f"{unit}s_moved": int(len(moves)),
               "households_moved": int(sum(hh_unit.get(u, 0) for u in moves["unit"]))}
    if unit == "building":
        summary["atoms_moved"] = None  # different atom layers: atoms cannot be compared one by one
    features = _moved_features(conn, unit, moves, before, attrs, codes, hh_unit)
    return {**header, "against": {"id": other.id, "version": other.version, "status": other.status},
            "method": "atoms" if unit == "atom" else "buildings", "summary": summary, "grids": grids,
            "removed": removed, "changed_areas": {"type": "FeatureCollection", "features": features}}


def _first_diff(header: dict, attrs: dict, codes: dict[int, str]) -> dict:
    """The diff of a first division: nothing to compare with, so every grid is new (and listed)."""
    grids = _sorted_by_code([_grid_entry(a, None, "added", codes, "atom", 0, 0) for a in attrs.values()])
    summary = {"grids_added": len(grids), "grids_changed": 0, "grids_attributes": 0, "grids_unchanged": 0,
               "grids_removed": 0, "atoms_moved": 0, "households_moved": 0}
    return {**header, "against": None, "method": None, "grids": grids, "removed": [], "summary": summary,
            "changed_areas": {"type": "FeatureCollection", "features": []}}


def _moved_features(conn: Connection, unit: str, moves: pd.DataFrame, before: dict, after: dict,
                    codes: dict[int, str], hh_unit: dict) -> list[dict]:
    groups = moves.groupby(["label_old", "label_new"])["unit"].apply(list)
    if not len(groups):
        return []
    keys = [(int(o), int(n)) for o, n in groups.index]
    shapes = dict(store.moved_shapes(conn, unit, [int(u) for units in groups for u in units],
                                     [i for i, units in enumerate(groups) for _ in units]))
    features = []
    for i, ((old_label, new_label), units) in enumerate(zip(keys, groups, strict=True)):
        features.append({"type": "Feature", "geometry": shapes.get(i), "properties": {
            "from_label": old_label, "from_code": getattr(before.get(old_label), "code", None),
            "to_label": new_label, "to_code": codes.get(new_label, getattr(after.get(new_label), "code", None)),
            f"{unit}s": len(units), "households": int(sum(hh_unit.get(u, 0) for u in units))}})
    return features


# -- the review queue -------------------------------------------------------------------------------

def review_queue(conn: Connection, prefix: str = "") -> list[dict]:
    """Submitted divisions of communities whose code starts with ``prefix`` (the reviewer's city), oldest first."""
    return [{**r, "submitted_at": r["submitted_at"].isoformat() if r["submitted_at"] else None}
            for r in store.review_queue(conn, prefix)]


# -- the filing packet ------------------------------------------------------------------------------

STAFF_COLUMNS = ("grid_chief", "full_time", "part_time", "instructor")


def _staff_by_code(conn: Connection, codes: list[str], on: date) -> dict[str, dict[str, list[tuple[str, str]]]]:
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for code, role, name, phone in store.staff_on(conn, codes, on):
        out.setdefault(code, {}).setdefault(role, []).append((name, phone))
    return out


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")  # with BOM: Excel (common in county offices) reads it as UTF-8


def _packet_rows(grids: gpd.GeoDataFrame, micro: list[dict], staff: dict, reasons: dict[str, dict]):
    grid_rows = []
    for g in grids.itertuples():
        mine = staff.get(g.code, {})
        grid_rows.append({"code": g.code, "name": g.name, "type": g.type, "subtype": g.subtype,
                          "households": int(g.households), "population": int(g.population),
                          "micro_grids": int(g.micro_grids),
                          **{f"{role}{suffix}": "; ".join(p[i] for p in mine.get(role, []))
                             for role in STAFF_COLUMNS for suffix, i in (("", 0), ("_phone", 1))},
                          "exemption_reason": reasons.get(g.code, {}).get("reason", "")})
    grid_columns = ["code", "name", "type", "subtype", "households", "population", "micro_grids",
                    *[f"{role}{suffix}" for role in STAFF_COLUMNS for suffix in ("", "_phone")], "exemption_reason"]
    micro_rows = [{**r, "micro_chief": "; ".join(n for n, _ in staff.get(r["code"], {}).get("micro_chief", [])),
                   "micro_chief_phone": "; ".join(p for _, p in staff.get(r["code"], {}).get("micro_chief", []))}
                  for r in micro]
    micro_columns = ["code", "grid_code", "households", "population", "micro_chief", "micro_chief_phone"]
    return grid_rows, grid_columns, micro_rows, micro_columns


def _packet_reasons(conn: Connection, division_id: int) -> list[dict]:
    return [{"grid_code": e["grid_code"], "grid_name": e["grid_name"], "households": e["households"],
             "reason": e["reason"], "proof": _proof_text(e["proof"]), "status": e["status"],
             "written_by": e["author_name"] or e["author"], "accepted_by": e["reviewer_name"] or e["reviewer"],
             "accepted_at": e["reviewed_at"].strftime("%Y-%m-%d %H:%M") if e["reviewed_at"] else None,
             "review_note": e["review_note"]}
            for e in store.exemptions(conn, [division_id])]


def filing_packet(engine: Engine, division_id: int) -> tuple[str, bytes]:
    """The filing packet (备案材料) of an approved division: ``(file name, zip bytes)``.

    Holds a GeoPackage (layers grids, micro_grids), GeoJSON and a zipped Shapefile in CGCS2000, CSVs of
    grids and micro-grids with codes, households, staff and accepted reasons, the printable filing sheet
    (PDF) and manifest.json (which lists the reasons for grids out of the band as well).
    """
    from server.services.printing import filing_sheet

    with engine.connect() as conn:
        row = _division(conn, division_id)
        if row.status != "approved":
            raise Conflict(f"{_name(row)}{STATUS_ZH.get(row.status, row.status)}：只有已备案的划分有备案材料 / "
                           f"division {division_id} (version {row.version}) is {row.status}: only an approved "
                           "division has a filing packet")
        head = store.packet_head(conn, division_id)
        grids = store.packet_grids(conn, division_id)
        micro = store.packet_micro_grids(conn, division_id)
        staff = _staff_by_code(conn, list(grids["code"]) + [r["code"] for r in micro], row.effective_from)
        reasons = _packet_reasons(conn, division_id)
    header = {"community": head["community"], "community_code": row.community_code, "township": head["township"],
              "version": row.version, "effective_from": row.effective_from.isoformat(),
              "approver": head["display_name"] or head["username"] or "",
              "reviewed_at": head["reviewed_at"].strftime("%Y-%m-%d %H:%M") if head["reviewed_at"] else ""}
    grid_rows, grid_columns, micro_rows, micro_columns = _packet_rows(
        grids, micro, staff, {r["grid_code"]: r for r in reasons})
    base = f"{row.community_code}-v{row.version}"
    sheet = filing_sheet(grids, header=header, crs=CRS.from_user_input(row.settings["crs"]), micro_count=len(micro),
                         exemptions=reasons)
    files = {
        f"{base}.gpkg": export_division(engine, division_id, "gpkg", FILING_CRS),
        f"{base}.geojson": export_division(engine, division_id, "geojson", FILING_CRS),
        f"{base}-shp.zip": export_division(engine, division_id, "shp", FILING_CRS),
        f"{base}-grids.csv": _csv(grid_rows, grid_columns),
        f"{base}-micro-grids.csv": _csv(micro_rows, micro_columns),
        f"{base}-filing-sheet.pdf": sheet,
    }
    manifest = {**header, "division_id": division_id, "grids": len(grid_rows), "micro_grids": len(micro_rows),
                "households": int(grids["households"].sum()), "exemptions": reasons,
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
        raise NotFound(f"{grid_code!r} 不是网格编码（15 位数字） / {grid_code!r} is not a grid code (15 digits)")
    on = on or date.today()
    community = grid_code[:12]
    division_id = divisions_in_force(conn, on, approved_only=True, communities=[community]).get(community)
    grid = store.notice_grid(conn, division_id, grid_code) if division_id is not None else None
    if grid is None:
        raise NotFound(f"{on} 生效的已备案划分中没有网格 {grid_code} / no grid {grid_code} in an approved division "
                       f"in force on {on}")
    staff = store.notice_staff(conn, grid_code, list(PUBLIC_ROLES), on)
    return {**grid, "effective_from": grid["effective_from"].isoformat(), "staff": staff, "on": on.isoformat()}


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
    def staff_code(code: str, role: str) -> str:
        return f"D{code}{'C' if role == 'grid_chief' else 'F'}"

    with engine.begin() as conn:
        active = store.open_assignments(conn)
        known = store.demo_staff_ids(conn)
        todo = [(code, role) for code in store.all_grid_codes(conn) for role in PUBLIC_ROLES
                if (code, role) not in active]
        new_staff = []
        for code, role in todo:
            if staff_code(code, role) not in known:
                name, phone = _fake(code, role)
                new_staff.append({"code": staff_code(code, role), "name": name, "phone": phone,
                                  "township_code": code[:9] + "000", "publish_contact": True})
        if new_staff:
            known.update(store.add_staff(conn, new_staff))
        if todo:
            store.add_assignments(conn, [
                {"staff_id": known[staff_code(code, role)], "grid_code": code, "role": role,
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
    total, rows = store.audit_page(conn, user=user, action=action, entity=entity, entity_id=entity_id, since=since,
                                   until=until, limit=per_page, offset=(page - 1) * per_page)
    return {"total": total, "page": page, "per_page": per_page, "pages": max(1, math.ceil(total / per_page)),
            "entries": [{**r, "at": r["at"].isoformat()} for r in rows]}
