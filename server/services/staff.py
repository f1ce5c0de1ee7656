"""Grid staff (网格员队伍): the roster, assignments to grid codes, the staffing checks, photos, the notice
board, and what happens to assignments and events when a division is approved or a person leaves.

Rules (Jiangsu art. 11-19; city regulation art. 8, 14): see :mod:`gis.staffing`. A township operator
manages the staff of its township, the county editor the whole county (permission ``manage_staff``).
Every write is audited. Assignments bind a person to a code (grid: 15 digits, micro-grid: 17), so they
outlive division versions: on approval the unchanged codes keep their staff, retired codes' assignments
end on the day the new division takes effect, and new codes are listed to staff.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

from sqlalchemy import Connection

from gis import staffing
from gis.errors import InputError
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.services.permissions import can, scope_prefix
from server.store import models as m
from server.store import staff as store
from server.store.audit import audit

ROLES = m.STAFF_ROLES
EMPLOYMENTS = m.EMPLOYMENTS
#: Text fields of a person and the columns that bound their length (for the API's parser).
TEXT_COLUMNS = {"name": m.Staff.name, "phone": m.Staff.phone, "duties": m.Staff.duties,
                "township_code": m.Staff.township_code}
PHOTO_MAX_BYTES = 2 * 1024 * 1024
PHOTO_SIZE = (300, 400)  # standard 3:4 portrait (一寸照 proportions)
#: Roles published on the notice board (city regulation art. 14: chief, full-time members, instructor).
BOARD_ROLES = ("grid_chief", "full_time", "instructor")
#: Preference of whom a grid's events go to: the full-time member does the work.
EVENT_ROLES = ("full_time", "grid_chief", "part_time")
#: Spreadsheet headers (Chinese, as a county office types them) → fields.
HEADERS = {"姓名": "name", "手机": "phone", "电话": "phone", "网格编码": "code", "角色": "role", "用工": "employment",
           "用工性质": "employment", "职责": "duties", "开始日期": "start_date", "结束日期": "end_date",
           "公开电话": "publish_contact"}
EXPORT_HEADERS = ("姓名", "手机", "用工性质", "网格编码", "角色", "开始日期", "结束日期", "职责", "公开电话")


def _today() -> date:
    return date.today()


def check_scope(user, code: str) -> None:
    """Refuse (403) managing staff of ``code`` outside the user's scope, naming both."""
    if not can(user, "manage_staff", code):
        scope = getattr(user, "scope_code", None) or "—"
        raise Forbidden(f"{code} 不在您的管辖范围（{scope}）内 / {code} is outside your scope ({scope})",
                        details={"code": code, "scope": scope})


def user_prefix(user) -> str:
    """The code prefix of the staff a user manages ('' for admin)."""
    return scope_prefix(user.scope_code) if getattr(user, "scope_code", None) else ""


def county_of(code: str) -> str:
    """The 12-digit county code of any area, grid or micro-grid code."""
    return code[:6] + "000000"


def policy(conn: Connection, county_code: str) -> dict:
    """The county's staffing policy (phone masking on public pages, most grids per person)."""
    row = store.policy(conn, county_code)
    return {"county_code": county_code, "mask_public_phones": bool(row and row["mask_public_phones"]),
            "max_grids_per_person": row["max_grids_per_person"] if row else staffing.DEFAULT_MAX_GRIDS}


def set_policy(conn: Connection, county_code: str, mask: bool, max_grids: int, *, user) -> dict:
    """Change the county's staffing policy (county editor or admin)."""
    check_scope(user, county_code)
    before = policy(conn, county_code)
    store.put_policy(conn, county_code, {"mask_public_phones": mask, "max_grids_per_person": max_grids})
    after = policy(conn, county_code)
    audit(conn, "staff.policy", "staff_policy", county_code, before, after, user=user)
    return after


# -- people -----------------------------------------------------------------------------------------

def _person_dict(row, assignments: list) -> dict:
    return {**{k: row[k] for k in ("id", "code", "name", "phone", "township_code", "duties", "employment",
                                   "publish_contact", "username")},
            "start_date": row["start_date"], "end_date": row["end_date"],
            "photo": f"/staff/photo/{row['id']}" if row["has_photo"] else None,
            "assignments": [dict(a) for a in assignments if a["staff_id"] == row["id"]]}


def get_person(conn: Connection, staff_id: int, *, user=None) -> dict:
    """One person with the history of their assignments."""
    row = store.person(conn, staff_id)
    if row is None:
        raise NotFound(f"没有编号为 {staff_id} 的网格员 / no staff member {staff_id}")
    if user is not None and row["township_code"]:
        check_scope(user, row["township_code"])
    return _person_dict(row, store.assignments_of(conn, [staff_id]))


def list_people(conn: Connection, *, user, q: str | None = None, grid: str | None = None, role: str | None = None,
                include_left: bool = False, limit: int = 200, offset: int = 0, on: date | None = None) -> dict:
    """People the user manages, with their assignments: search by name/phone, filter by grid and role."""
    total, rows = store.people(conn, township_prefix=user_prefix(user), q=q, grid=grid, role=role,
                               on=on or _today(), include_left=include_left, limit=limit, offset=offset)
    assignments = store.assignments_of(conn, [r["id"] for r in rows])
    return {"total": total, "people": [_person_dict(r, assignments) for r in rows]}


def _link_user(conn: Connection, username: str | None) -> int | None:
    if not username:
        return None
    row = store.user_id_by_name(conn, username)
    if row is None or row.role != "grid_staff":
        raise InputError(f"没有网格员登录账号 {username!r} / no grid_staff user {username!r}", field="username")
    return row.id


def _values(conn: Connection, fields: dict) -> dict:
    values = {k: v for k, v in fields.items() if k not in ("username", "township_code")}
    if "phone" in values and values["phone"] is not None:
        values["phone"] = staffing.normalise_phone(values["phone"])
    if "username" in fields:
        values["user_id"] = _link_user(conn, fields["username"])
    staffing.check_dates(values.get("start_date"), values.get("end_date"))
    return values


def create_person(conn: Connection, fields: dict, *, user, merge: bool = False) -> dict:
    """Add a person to the roster of ``fields['township_code']``.

    A phone already on the roster is the same person: without ``merge`` this is a 409 offering the
    existing person (``details.merge_with``); with ``merge`` the blank fields of that person are filled
    from ``fields`` and the existing person is returned.
    """
    township = fields.get("township_code") or (user.scope_code if getattr(user, "scope_code", None) else None)
    if not township or len(township) != 12:
        raise InputError("须指定所属乡镇街道 / township_code is required", field="township_code")
    check_scope(user, township)
    values = _values(conn, fields)
    if not values.get("name"):
        raise InputError("姓名不能为空 / name is required", field="name")
    if not values.get("phone"):
        raise InputError("手机不能为空 / phone is required", field="phone")
    existing = store.person_by_phone(conn, values["phone"])
    if existing is not None:
        if not merge:
            raise Conflict(f"手机号 {values['phone']} 已属于 {existing['name']}：同一人不重复录入，可合并到该人员 / "
                           f"phone {values['phone']} belongs to {existing['name']} already: merge instead",
                           details={"merge_with": existing["id"], "name": existing["name"], "field": "phone"})
        blanks = {k: v for k, v in values.items() if v is not None and existing.get(k) in (None, "")}
        store.update_person(conn, existing["id"], blanks)
        audit(conn, "staff.merge", "staff", existing["id"], None, blanks, user=user)
        return get_person(conn, existing["id"])
    staff_id = store.insert_person(conn, {**values, "township_code": township})
    store.update_person(conn, staff_id, {"code": f"S{township[:9]}{staff_id:06d}"})
    audit(conn, "staff.add", "staff", staff_id, None, {**values, "township_code": township}, user=user)
    return get_person(conn, staff_id)


def update_person(conn: Connection, staff_id: int, fields: dict, *, user) -> dict:
    """Edit a person; a phone that belongs to someone else is refused (merge them instead)."""
    before = get_person(conn, staff_id, user=user)
    values = _values(conn, fields)
    if values.get("phone") and values["phone"] != before["phone"]:
        other = store.person_by_phone(conn, values["phone"])
        if other is not None:
            raise Conflict(f"手机号 {values['phone']} 已属于 {other['name']} / phone {values['phone']} belongs to "
                           f"{other['name']}", details={"merge_with": other["id"], "field": "phone"})
    staffing.check_dates(values.get("start_date", before["start_date"]), values.get("end_date", before["end_date"]))
    store.update_person(conn, staff_id, values)
    audit(conn, "staff.edit", "staff", staff_id, {k: before.get(k) for k in values}, values, user=user)
    if values.get("end_date"):
        person_left(conn, staff_id, values["end_date"], user=user)
    return get_person(conn, staff_id)


# -- assignments ------------------------------------------------------------------------------------

def code_known(conn: Connection, code: str, on: date) -> dict:
    """The grid or micro-grid with this code in an approved division in force on ``on``; 404 otherwise."""
    if not code.isdigit() or len(code) not in (15, 17):
        raise InputError(f"网格编码须为 15 位（微网格 17 位）数字，收到 {code!r} / a grid code has 15 digits "
                         f"(micro-grid 17); got {code!r}", field="code")
    rows = [r for r in store.grids_in_force(conn, code, on) if r["code"] == code]
    if not rows:
        raise NotFound(f"{on} 生效的划分中没有网格 {code} / no grid {code} in a division in force on {on}",
                       details={"field": "code", "code": code})
    return dict(rows[0])


def assign(conn: Connection, staff_id: int, code: str, role: str, *, start: date | None = None,
           end: date | None = None, user) -> dict:
    """Assign a person to a grid or micro-grid code in a role from ``start`` (today)."""
    check_scope(user, code)
    staffing.role_allowed_on(role, code)
    start = start or _today()
    staffing.check_dates(start, end)
    person = get_person(conn, staff_id)
    if person["end_date"] is not None and person["end_date"] <= start:
        raise Conflict(f"{person['name']} 已于 {person['end_date']} 离岗 / {person['name']} left on "
                       f"{person['end_date']}", details={"field": "staff_id"})
    code_known(conn, code, start)
    if store.same_post(conn, staff_id, code, role, start) is not None:
        raise Conflict(f"{person['name']} 已是 {code} 的{staffing.ROLE_NAMES[role]} / {person['name']} already "
                       f"serves {code} as {role}", details={"field": "role"})
    values = {"staff_id": staff_id, "grid_code": code, "role": role, "start_date": start, "end_date": end}
    assignment_id = store.insert_assignment(conn, values)
    audit(conn, "staff.assign", "staff_assignment", assignment_id, None, values, user=user)
    return {"id": assignment_id, **values}


def end_assignment(conn: Connection, assignment_id: int, end: date | None = None, *, reason: str | None = None,
                   user) -> dict:
    """End one assignment on ``end`` (today); the person's open events of that grid go to the grid chief."""
    row = store.assignment(conn, assignment_id)
    if row is None:
        raise NotFound(f"没有编号为 {assignment_id} 的任职记录 / no assignment {assignment_id}")
    check_scope(user, row["grid_code"])
    end = end or _today()
    staffing.check_dates(row["start_date"], end)
    if row["end_date"] is not None and row["end_date"] <= end:
        raise Conflict(f"该任职已于 {row['end_date']} 结束 / the assignment ended on {row['end_date']}")
    store.end_assignments(conn, [assignment_id], end, reason)
    audit(conn, "staff.end", "staff_assignment", assignment_id, {"end_date": row["end_date"]},
          {"end_date": end, "reason": reason}, user=user)
    moved = _hand_over(conn, row["staff_id"], [row["grid_code"]], end, user)
    return {"id": assignment_id, "end_date": end, "events_reassigned": moved}


def person_left(conn: Connection, staff_id: int, on: date, *, user=None, reason: str = "离岗") -> dict:
    """A person leaves on ``on``: every open assignment ends then, and their open events go to each grid's chief
    (with a history entry on each event).
    """
    rows = store.open_assignments(conn, staff_id=staff_id, on=on)
    store.end_assignments(conn, [r["id"] for r in rows], on, reason)
    store.update_person(conn, staff_id, {"end_date": on})
    moved = _hand_over(conn, staff_id, sorted({r["grid_code"][:15] for r in rows}), on, user)
    audit(conn, "staff.leave", "staff", staff_id, None, {"end_date": on, "assignments_ended": len(rows),
                                                          "events_reassigned": moved}, user=user)
    return {"assignments_ended": len(rows), "events_reassigned": moved}


def _hand_over(conn: Connection, staff_id: int, codes: list[str], on: date, user) -> int:
    """Reassign the person's open events of these grids to the grid chief in force on ``on``."""
    moved = 0
    for event in store.open_events(conn, staff_id, codes):
        chiefs = [r for r in store.staff_for_code(conn, event["grid_code"], on, ["grid_chief"])
                  if r["staff_id"] != staff_id]
        chief = chiefs[0] if chiefs else None
        note = (f"原承办网格员离岗或调出，改派网格长 {chief['name']}" if chief
                else "原承办网格员离岗或调出，该网格暂无网格长，待派")
        store.reassign_event(conn, event["id"], event["status"], chief["staff_id"] if chief else None,
                             datetime.now(UTC), getattr(user, "id", None), note)
        moved += 1
    return moved


def staff_for_grid(conn: Connection, code: str, on: date, roles: tuple[str, ...] | None = None) -> list[dict]:
    """People serving a grid (or micro-grid) code on ``on``; with ``roles``, only those, in that order."""
    rows = [dict(r) for r in store.staff_for_code(conn, code, on, roles)]
    if roles:
        rows.sort(key=lambda r: roles.index(r["role"]))
    return rows


def event_assignee(conn: Connection, code: str, on: date) -> int | None:
    """Who a new event of a grid goes to on ``on``: full-time member, else the chief, else part-time."""
    rows = staff_for_grid(conn, code, on, EVENT_ROLES)
    return rows[0]["staff_id"] if rows else None


# -- checks and coverage ----------------------------------------------------------------------------

def _posts(rows) -> list[staffing.Post]:
    return [staffing.Post(r["staff_id"], r["grid_code"], r["role"], r["employment"], r["name"]) for r in rows]


def coverage(conn: Connection, prefix: str, on: date | None = None) -> dict:
    """Staffing of the grids in force under a code prefix: share fully staffed, the grids that are not (with
    what they miss), and the people over the county's limit of grids.
    """
    on = on or _today()
    grids = store.grids_in_force(conn, prefix, on)
    posts = _posts(store.posts(conn, prefix, on))
    infos = [staffing.GridInfo(g["code"], g["type"], g["subtype"], g["name"]) for g in grids]
    result = staffing.coverage(infos, posts).to_dict()
    names = {g["code"]: g["name"] for g in grids}
    for item in result["unstaffed"]:
        item["name"] = names.get(item["code"])
    people = sorted({p.person for p in posts})
    limit = policy(conn, county_of(prefix.ljust(6, "0")))["max_grids_per_person"] if prefix else 3
    everywhere = _posts(store.posts_of_people(conn, people, on)) if people else []
    return {**result, "on": on, "findings": [f.to_dict() for f in staffing.grid_findings(infos, posts)],
            "overloaded": [f.to_dict() for f in staffing.overload_findings(everywhere, limit)]}


def division_findings(conn: Connection, division_id: int, on: date | None = None) -> list[dict]:
    """Staffing warnings of a draft or submitted division, as live-check problems (severity warning).

    A grid that keeps its code keeps its staff, so it is checked against today's assignments; a grid
    with no code yet is new and is reported as needing staff once approved. A first division (no
    codes at all) has nothing to report: staff are assigned after its codes are filed.
    """
    on = on or _today()
    grids, micro = store.division_codes(conn, division_id)
    coded = [g for g in grids if g["code"]]
    if not coded:  # a first division: nobody can be assigned before its codes are filed
        return []
    codes = [g["code"] for g in coded] + list(micro)
    posts = _posts(r for r in store.posts(conn, coded[0]["code"][:12], on) if r["grid_code"] in codes)
    infos = [staffing.GridInfo(g["code"], g["type"], g["subtype"], g["name"]) for g in coded]
    infos += [staffing.GridInfo(c) for c in micro]
    label = {g["code"]: g["label"] for g in coded}
    out = [{"code": f"staffing_{f.kind}", "severity": "warning", "message": f.message,
            "grid": label.get((f.code or "")[:15]), "bbox": None, "atom_ids": []}
           for f in staffing.grid_findings(infos, posts)]
    out += [{"code": "staffing_new_grid", "severity": "warning", "grid": g["label"], "bbox": None,
             "atom_ids": [], "message": f"新网格（{g['name'] or g['label']}）审核备案后须由乡镇街道配备网格员"}
            for g in grids if not g["code"] and g["type"] == "comprehensive"]
    return out


def on_division_approved(conn: Connection, division_id: int, on: date, *, user=None) -> dict:
    """Carry staff over an approved division, in the approval's transaction.

    Assignments to codes the division keeps carry over untouched. Assignments to codes of the
    community that it no longer has end on ``on`` (the day it takes effect), history kept, and their
    open events go to the new grid's chief when one exists. Codes with no staff are returned to staff.
    """
    row = store.division_row(conn, division_id)
    grids, micro = store.division_codes(conn, division_id)
    live = {g["code"] for g in grids if g["code"]} | set(micro)
    stale = [a for a in store.open_assignments(conn, prefix=row.community_code, on=on) if a["grid_code"] not in live]
    store.end_assignments(conn, [a["id"] for a in stale], on, "网格调整：编码停用")
    for a in stale:
        _hand_over(conn, a["staff_id"], [a["grid_code"][:15]], on, user)
    staffed = {a["grid_code"] for a in store.open_assignments(conn, codes=sorted(live), on=on)}
    to_staff = sorted(c for c in live if len(c) == 15 and c not in staffed)
    if stale or to_staff:
        audit(conn, "staff.division", "division", division_id, None,
              {"ended": [a["grid_code"] for a in stale], "to_staff": to_staff, "effective_from": on}, user=user)
    return {"ended": len(stale), "to_staff": to_staff}


# -- spreadsheets -----------------------------------------------------------------------------------

def read_sheet(filename: str, data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8 with or without BOM, or GBK) or XLSX upload, keyed by header, as text."""
    name = (filename or "").lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many types for a file that is not a workbook
            raise InputError(f"无法读取 XLSX 文件 / not a readable XLSX file: {exc}", field="file") from None
        rows = [["" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)).strip()
                 for v in r] for r in sheet.iter_rows(values_only=True)]
    else:
        for encoding in ("utf-8-sig", "gbk"):
            try:
                content = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise InputError("文件编码无法识别（请用 UTF-8 或 GBK）/ the file is neither UTF-8 nor GBK", field="file")
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(content))]
    rows = [r for r in rows if any(r)]
    if not rows:
        raise InputError("文件是空的 / the file is empty", field="file")
    header = rows[0]
    unknown = [h for h in header if h and h not in HEADERS]
    missing = [h for h in ("姓名", "手机", "网格编码", "角色") if h not in header]
    if missing or unknown:
        raise InputError(f"表头须包含 {'、'.join(missing) or '—'}；无法识别的列：{'、'.join(unknown) or '—'} / "
                         f"missing columns {missing}, unknown columns {unknown}", field="file")
    return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in rows[1:]]


def _parse_row(conn: Connection, row: dict[str, str], user, on: date, known: dict) -> tuple[dict, list]:
    errors, out = [], {}

    def field(header: str, parse):
        try:
            return parse(row.get(header, ""))
        except InputError as exc:
            errors.append((header, exc.message.split(" / ")[0]))
            return None
    out["name"] = field("姓名", lambda v: _required(v, "姓名不能为空"))
    out["phone"] = field("手机" if "手机" in row else "电话", lambda v: staffing.normalise_phone(v))
    out["role"] = field("角色", lambda v: _required(staffing.role_from_text(v), f"未知角色 {v!r}（应为 "
                                                      f"{'、'.join(staffing.ROLE_NAMES.values())}）"))
    if "用工性质" in row or "用工" in row:
        out["employment"] = field("用工性质" if "用工性质" in row else "用工", lambda v: None if not v else (
            _required(staffing.employment_from_text(v), f"未知用工性质 {v!r}（专职、兼职或志愿者）")))
    out["start_date"] = field("开始日期", lambda v: _date_text(v)) or on
    out["end_date"] = field("结束日期", lambda v: _date_text(v))
    out["duties"] = row.get("职责") or None
    out["publish_contact"] = row.get("公开电话", "") not in ("否", "不公开", "no", "0")
    code = row.get("网格编码", "")
    if code not in known:
        try:
            check_scope(user, code) if code.isdigit() and len(code) in (15, 17) else None
            known[code] = code_known(conn, code, on) and None
        except (InputError, NotFound, Forbidden) as exc:
            known[code] = exc.message.split(" / ")[0]
    if known[code]:
        errors.append(("网格编码", known[code]))
    elif out["role"]:
        field("角色", lambda v: staffing.role_allowed_on(out["role"], code))
    if out["start_date"] and out["end_date"]:
        field("结束日期", lambda v: staffing.check_dates(out["start_date"], out["end_date"]))
    return {**out, "code": code}, errors


def _required(value, message: str):
    if not value:
        raise InputError(message)
    return value


def _date_text(value: str) -> date | None:
    value = (value or "").strip().replace("/", "-").replace(".", "-")[:10]
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"日期须为 YYYY-MM-DD，收到 {value!r}") from None


def import_roster(conn: Connection, filename: str, data: bytes, *, user, township: str | None = None) -> dict:
    """Import a roster spreadsheet, all or nothing.

    Each row is a person's post: 姓名, 手机, 网格编码, 角色 (and optionally 用工性质, 职责, 开始日期, 结束日期,
    公开电话). Rows with one phone are one person (merged with the roster's person of that phone). One bad
    row imports nothing: the 400 lists every error with its spreadsheet row number and column.
    """
    rows = read_sheet(filename, data)
    on, known, parsed, errors = _today(), {}, [], []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        values, problems = _parse_row(conn, row, user, on, known)
        parsed.append(values)
        errors += [{"row": number, "column": column, "message": message} for column, message in problems]
    if errors:
        first = errors[0]
        raise BadRequest(f"第 {first['row']} 行“{first['column']}”列：{first['message']}（共 {len(errors)} 处错误，"
                         f"未导入任何数据） / row {first['row']}, column {first['column']}: nothing was imported",
                         details={"errors": errors, "field": "file"})
    people, added, assigned = {}, 0, 0
    for v in parsed:
        if v["phone"] not in people:
            existing = store.person_by_phone(conn, v["phone"])
            if existing is None:
                home = township or v["code"][:9] + "000"
                person = create_person(conn, {k: v.get(k) for k in ("name", "phone", "duties", "employment",
                                                                     "publish_contact")}
                                       | {"township_code": home, "start_date": v["start_date"]}, user=user)
                added += 1
                people[v["phone"]] = person["id"]
            else:
                people[v["phone"]] = existing["id"]
        if store.same_post(conn, people[v["phone"]], v["code"], v["role"], v["start_date"]) is None:
            assign(conn, people[v["phone"]], v["code"], v["role"], start=v["start_date"], end=v["end_date"],
                   user=user)
            assigned += 1
    audit(conn, "staff.import", "staff", None, None, {"file": filename, "rows": len(parsed), "people_added": added,
                                                       "assignments": assigned}, user=user)
    return {"rows": len(parsed), "people_added": added, "assignments": assigned}


def export_xlsx(conn: Connection, *, user, on: date | None = None) -> bytes:
    """The roster the user manages as XLSX: one row per assignment in force (people without one: one row)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    people = list_people(conn, user=user, limit=100_000, on=on)["people"]
    book = Workbook()
    sheet = book.active
    sheet.title = "网格员队伍"
    sheet.append(list(EXPORT_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    today = on or _today()
    for p in people:
        live = [a for a in p["assignments"] if a["end_date"] is None or a["end_date"] > today] or [None]
        for a in live:
            sheet.append([p["name"], p["phone"], staffing.EMPLOYMENT_NAMES.get(p["employment"], ""),
                          a["grid_code"] if a else "", staffing.ROLE_NAMES.get(a["role"], "") if a else "",
                          a["start_date"].isoformat() if a else "",
                          a["end_date"].isoformat() if a and a["end_date"] else "", p["duties"] or "",
                          "是" if p["publish_contact"] else "否"])
    for column, width in zip("ABCDEFGHI", (10, 16, 10, 20, 12, 12, 12, 40, 10), strict=True):
        sheet.column_dimensions[column].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# -- photos -----------------------------------------------------------------------------------------

def normalise_photo(data: bytes) -> bytes:
    """A JPEG or PNG of at most 2 MB → a 300×400 JPEG portrait (centre-cropped), orientation applied, no EXIF."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > PHOTO_MAX_BYTES:
        raise InputError(f"照片不能超过 2 MB（收到 {len(data) / 1024 / 1024:.1f} MB）/ a photo is at most 2 MB",
                         field="photo")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ("JPEG", "PNG"):
            raise InputError(f"照片须为 JPEG 或 PNG，收到 {image.format} / a photo must be JPEG or PNG", field="photo")
        image.load()
    except (UnidentifiedImageError, OSError):
        raise InputError("无法识别的图片（须为 JPEG 或 PNG）/ not a JPEG or PNG image", field="photo") from None
    image = ImageOps.exif_transpose(image).convert("RGB")
    image = ImageOps.fit(image, PHOTO_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, optimize=True)  # a fresh file: no EXIF, no GPS
    return out.getvalue()


def set_photo(conn: Connection, staff_id: int, data: bytes, *, user) -> dict:
    """Store a person's portrait (see :func:`normalise_photo`)."""
    get_person(conn, staff_id, user=user)
    jpeg = normalise_photo(data)
    store.put_photo(conn, staff_id, jpeg)
    audit(conn, "staff.photo", "staff", staff_id, None, {"bytes": len(jpeg)}, user=user)
    return {"photo": f"/staff/photo/{staff_id}", "bytes": len(jpeg)}


def photo(conn: Connection, staff_id: int) -> bytes:
    """A person's portrait; NotFound without one."""
    data = store.photo(conn, staff_id)
    if data is None:
        raise NotFound(f"网格员 {staff_id} 没有照片 / staff member {staff_id} has no photo")
    return data


# -- public pages -----------------------------------------------------------------------------------

def public_phone(phone: str | None, publish: bool, mask: bool) -> str | None:
    """The phone as the public sees it: hidden unless published, masked when the county chooses."""
    if not publish or not phone:
        return None
    return staffing.mask_phone(phone) if mask else phone


def grid_title(name: str | None, code: str, community: str | None) -> str:
    """A grid's public name: its own, else "<community>第N网格" from its sequence (never the bare code)."""
    return name or f"{community or ''}第{int(code[12:15])}网格"


def notice_board(conn: Connection, grid: dict, on: date) -> dict:
    """The staff part of a grid's notice board (``grid`` from the review service's notice): name, role,
    photo, duties and public phone of the chief, full-time members and instructor, in that order.
    """
    mask = policy(conn, county_of(grid["code"]))["mask_public_phones"]
    people = staff_for_grid(conn, grid["code"], on, BOARD_ROLES)
    staff = [{"role": p["role"], "name": p["name"], "duties": p["duties"],
              "phone": public_phone(p["phone"], p["publish_contact"], mask),
              "photo": f"/staff/photo/{p['staff_id']}" if p["has_photo"] else None} for p in people]
    return {**grid, "title": grid_title(grid.get("name"), grid["code"], grid.get("community")), "staff": staff}


def publish_contacts(conn: Connection, contacts: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Apply each county's phone masking to the lookup's published contacts and add photo links, in place."""
    ids = sorted({a["staff_id"] for rows in contacts.values() for a in rows})
    photos = {r["id"] for r in store.people_with_photo(conn, ids)} if ids else set()
    masks: dict[str, bool] = {}
    for code, rows in contacts.items():
        county = county_of(code)
        if county not in masks:
            masks[county] = policy(conn, county)["mask_public_phones"]
        for a in rows:
            a["phone"] = public_phone(a["phone"], True, masks[county])
            a["photo"] = f"/staff/photo/{a['staff_id']}" if a["staff_id"] in photos else None
    return contacts


# -- the demo roster --------------------------------------------------------------------------------

_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
             "余杜叶程苏魏吕丁任沈姚卢钟汪")
_GIVEN = ("建国 秀兰 桂芳 志刚 海燕 晓东 丽娟 春梅 永红 国平 文静 立新 玉兰 德明 红霞 卫东 金凤 家豪 思远 雨涵 "
          "子轩 佳怡 晨阳 梦琪 俊杰 欣怡 宏伟 淑珍 振华 美玲").split()
_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182", "187", "188", "189",
             "133", "153", "180", "181", "177", "186", "130", "131", "132")
DEMO_DUTIES = {
    "grid_chief": "统筹协调网格内服务管理工作，组织走访排查，调处矛盾纠纷，督办网格事件。",
    "full_time": "日常巡查走访，采集核实人口、房屋、单位等基础信息，发现并上报、办理网格事件。",
    "part_time": "协助网格长、专职网格员开展走访、宣传和信息收集。",
    "instructor": "联系指导网格工作，协调部门资源下沉网格，帮助解决疑难问题。",
    "micro_chief": "统筹本微网格的服务管理，联系楼栋住户，及时报告隐患和诉求。",
}


def _demo_person(seed: str, used: set[str]) -> tuple[str, str]:
    import hashlib

    digest = int(hashlib.sha256(seed.encode()).hexdigest(), 16)
    name = _SURNAMES[digest % len(_SURNAMES)] + _GIVEN[(digest // 101) % len(_GIVEN)]
    n = digest // 7919
    while True:
        phone = _PREFIXES[n % len(_PREFIXES)] + f"{(n // 31) % 10**8:08d}"
        if phone not in used:
            used.add(phone)
            return name, phone
        n += 1


def _demo_posts(grids: list, staffed: set[tuple[str, str]]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(seed, role, employment, codes)`` for every missing post: a chief and a full-time (urban) or
    part-time (rural) member per grid, a micro-grid chief per micro-grid, an instructor per three grids.
    """
    out, by_community = [], {}
    for g in grids:
        code = g["code"]
        if len(code) == 17:
            if (code, "micro_chief") not in staffed:
                out.append((f"{code}:m", "micro_chief", "volunteer", (code,)))
            continue
        if g["type"] != "comprehensive":
            continue
        by_community.setdefault(code[:12], []).append(code)
        if (code, "grid_chief") not in staffed:
            out.append((f"{code}:c", "grid_chief", "full_time", (code,)))
        member = "full_time" if g["subtype"] == "urban" else "part_time"
        if (code, member) not in staffed:
            out.append((f"{code}:{member}", member, member, (code,)))
    for community, codes in by_community.items():
        todo = [c for c in codes if (c, "instructor") not in staffed]
        for i in range(0, len(todo), 3):
            out.append((f"{community}:i{i}", "instructor", "part_time", tuple(todo[i:i + 3])))
    return out


def ensure_demo_roster(conn: Connection, *, since: date | None = None) -> int:
    """Staff every grid and micro-grid in force with made-up people (demo only; idempotent).

    Names are plausible Chinese names and phones valid mobile numbers, both derived from the code,
    so the public pages look like a real county's. Returns how many assignments were added.
    """
    on = _today()
    since = since or on.replace(year=on.year - 1)
    grids = store.grids_in_force(conn, "", on)
    staffed = {(a["grid_code"], a["role"]) for a in store.open_assignments(conn, prefix="", on=on)}
    posts = _demo_posts(grids, staffed)
    used = store.phones(conn)
    rows = []
    for seed, role, employment, codes in posts:
        name, phone = _demo_person(seed, used)
        rows.append({"name": name, "phone": phone, "township_code": codes[0][:9] + "000", "employment": employment,
                     "duties": DEMO_DUTIES[role], "publish_contact": True, "start_date": since})
    ids = store.insert_people(conn, rows)
    for staff_id, row in zip(ids, rows, strict=True):
        store.update_person(conn, staff_id, {"code": f"S{row['township_code'][:9]}{staff_id:06d}"})
    store.insert_assignments(conn, [{"staff_id": staff_id, "grid_code": code, "role": role, "start_date": since}
                                    for staff_id, (_, role, _, codes) in zip(ids, posts, strict=True)
                                    for code in codes])
    count = sum(len(p[3]) for p in posts)
    if count:
        audit(conn, "staff.demo", "staff", None, None, {"people": len(ids), "assignments": count}, actor="demo")
    return count


def roster_page(conn: Connection, user, on: date | None = None) -> dict:
    """What the roster page needs: the user's scope and its name, and the grids in force with outlines."""
    scope = getattr(user, "scope_code", None) or ""
    grids = [dict(g) for g in store.grid_outlines(conn, user_prefix(user), on or _today())]
    return {"scope": scope, "scopeName": store.area_name(conn, scope) if scope else None, "roles": list(ROLES),
            "grids": grids}


def public_photo(conn: Connection, staff_id: int, user=None) -> bytes:
    """A portrait for the public when the person's contact is published, else only for whoever manages them
    (NotFound otherwise, so an unpublished person's existence is not revealed).
    """
    person = store.person(conn, staff_id)
    if person is None:
        raise NotFound(f"没有编号为 {staff_id} 的网格员 / no staff member {staff_id}")
    if not person["publish_contact"]:
        home = person["township_code"]
        if user is None or not (getattr(user, "role", None) == "admin" or home and can(user, "manage_staff", home)):
            raise NotFound(f"网格员 {staff_id} 的照片不公开 / the photo of {staff_id} is not public")
    return photo(conn, staff_id)


def with_staffing_warnings(conn: Connection, division_id: int, checks: dict) -> dict:
    """The editor's live checks with the division's staffing warnings added to ``problems`` (in place)."""
    checks["problems"] += division_findings(conn, division_id)
    return checks
