"""The matter list (事项清单): only matters on the published list may be assigned to grid staff, and the list
has admission and exit (city regs art. 11-13). Each 小类 carries its time limit and responsible unit.

Loaded from ``data/matters/matters.csv`` (``wangge matters load``) and edited by admins over the API.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from gis.errors import InputError
from gis.workcal import UNITS
from server.config import PROJECT_ROOT
from server.errors import Conflict, NotFound
from server.store import events as store
from server.store import models as m
from server.store.audit import audit

MATTERS_CSV = PROJECT_ROOT / "data" / "matters" / "matters.csv"
MATTER_COLUMNS = ("code", "category", "subcategory", "time_limit", "time_unit", "responsible_unit", "admitted_on",
                  "exited_on")
#: The columns matter text is stored in (the API checks lengths against them).
TEXT_COLUMNS = {"code": m.MatterCategory.code, "name": m.MatterCategory.name, "parent": m.MatterCategory.code,
                "responsible_unit": m.MatterCategory.responsible_unit}
#: A 大类 code is 2 characters, a 小类 code its 大类's plus 2 more.
MATTER_CODE = re.compile(r"^[0-9A-Za-z]{2}([0-9A-Za-z]{2})?$")


def _matter_dict(row) -> dict:
    return {"id": row.id, "code": row.code, "name": row.name, "parent_id": row.parent_id,
            "parent_code": getattr(row, "parent_code", None), "parent_name": getattr(row, "parent_name", None),
            "time_limit": row.time_limit, "time_unit": row.time_unit, "responsible_unit": row.responsible_unit,
            "admitted_on": row.admitted_on and row.admitted_on.isoformat(),
            "exited_on": row.exited_on and row.exited_on.isoformat()}


def in_force(admitted_on: date | None, exited_on: date | None, on: date) -> bool:
    """Whether a matter is on the list on ``on``: admitted by then and not yet exited."""
    return (admitted_on is None or admitted_on <= on) and (exited_on is None or exited_on > on)


# -- the CSV file ---------------------------------------------------------------------------------------

def read_matters_csv(path: str | Path) -> list[dict]:
    """Rows of a matter-list CSV (columns :data:`MATTER_COLUMNS`), checked.

    Raises
    ------
    InputError
        Naming the file, row and column of the first bad value.
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    reader = csv.DictReader(io.StringIO(content))
    missing = [c for c in MATTER_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(f"missing columns {', '.join(missing)}; expected {', '.join(MATTER_COLUMNS)}",
                         source=str(path))
    rows, seen = [], set()
    for n, raw in enumerate(reader, start=1):
        values = {k: (raw.get(k) or "").strip() for k in MATTER_COLUMNS}
        try:
            row = _matter_row(values)
        except InputError as exc:
            raise InputError(exc.message, source=str(path), row=n, field=exc.field) from None
        if row["code"] in seen:
            raise InputError(f"code {row['code']} appears twice", source=str(path), row=n, field="code")
        seen.add(row["code"])
        rows.append(row)
    return rows


def _matter_row(values: dict) -> dict:
    code = values["code"]
    if not MATTER_CODE.match(code) or len(code) != 4:
        raise InputError(f"a 小类 code is 4 letters or digits (大类 code + 2); got {code!r}", field="code")
    for name in ("category", "subcategory", "responsible_unit"):
        if not values[name]:
            raise InputError(f"'{name}' is required", field=name)
    try:
        limit = float(values["time_limit"])
    except ValueError:
        raise InputError(f"time_limit must be a number; got {values['time_limit']!r}", field="time_limit") from None
    if not limit > 0:
        raise InputError(f"time_limit must be positive; got {values['time_limit']!r}", field="time_limit")
    if values["time_unit"] not in UNITS:
        raise InputError(f"time_unit must be {' or '.join(UNITS)}; got {values['time_unit']!r}", field="time_unit")
    days: dict[str, date | None] = {}
    for name in ("admitted_on", "exited_on"):
        try:
            days[name] = date.fromisoformat(values[name]) if values[name] else None
        except ValueError:
            raise InputError(f"'{name}' must be a date YYYY-MM-DD; got {values[name]!r}", field=name) from None
    admitted, exited = days["admitted_on"], days["exited_on"]
    if admitted and exited and exited < admitted:
        raise InputError(f"exited_on {exited} is before admitted_on {admitted}", field="exited_on")
    return {"code": code, "category": values["category"], "name": values["subcategory"], "time_limit": limit,
            "time_unit": values["time_unit"], "responsible_unit": values["responsible_unit"],
            "admitted_on": admitted, "exited_on": exited}


def _ensure_major(conn: Connection, existing: dict, row: dict, actor: str | None) -> tuple[Any, int]:
    """The 大类 row of a CSV row (created when missing) and how many were added (0 or 1)."""
    major_code = row["code"][:2]
    if major_code in existing:
        return existing[major_code], 0
    values = {"code": major_code, "name": row["category"], "admitted_on": row["admitted_on"]}
    major_id = store.insert_matter(conn, values)
    audit(conn, "matter_add", "matter_category", major_id, None, values, actor=actor)
    existing[major_code] = store.matter_row(conn, matter_id=major_id)
    return existing[major_code], 1


def upsert_matters(conn: Connection, rows: list[dict], *, only_missing: bool = False,
                   actor: str | None = None) -> tuple[int, int]:
    """Write matter-list rows (from :func:`read_matters_csv`); return ``(added, updated)``.

    Each row's 大类 (code = the first two characters) is created when missing. With ``only_missing``
    existing entries are left as they are (the demo must not undo an administrator's edits).
    """
    existing = store.matters_by_code(conn)
    added = updated = 0
    for row in rows:
        major, n = _ensure_major(conn, existing, row, actor)
        added += n
        values = {"name": row["name"], "parent_id": major.id, "time_limit": row["time_limit"],
                  "time_unit": row["time_unit"], "responsible_unit": row["responsible_unit"],
                  "admitted_on": row["admitted_on"], "exited_on": row["exited_on"]}
        old = existing.get(row["code"])
        if old is None:
            new_id = store.insert_matter(conn, {"code": row["code"], **values})
            audit(conn, "matter_add", "matter_category", new_id, None, {"code": row["code"], **values}, actor=actor)
            added += 1
        elif not only_missing:
            before = {k: getattr(old, k) for k in values}
            if before != values:
                store.update_matter(conn, old.id, values)
                audit(conn, "matter_update", "matter_category", old.id, before, values, actor=actor)
                updated += 1
    return added, updated


def load_matters(engine: Engine, path: str | Path = MATTERS_CSV, *, actor: str | None = None) -> tuple[int, int]:
    """Load a matter-list CSV into the database (``wangge matters load``); return ``(added, updated)``."""
    rows = read_matters_csv(path)
    with engine.begin() as conn:
        return upsert_matters(conn, rows, actor=actor)


def ensure_demo_matters(engine: Engine) -> int:
    """Add the entries of ``data/matters/matters.csv`` that are missing; return how many were added."""
    rows = read_matters_csv(MATTERS_CSV)
    with engine.begin() as conn:
        added, _ = upsert_matters(conn, rows, only_missing=True, actor="demo")
    return added


# -- the list over the API -------------------------------------------------------------------------------

def list_matters(conn: Connection, *, on: date | None = None, include_exited: bool = False) -> list[dict]:
    """The matter list by code: 大类 then their 小类; without ``include_exited`` only entries in force on ``on``."""
    on = on or date.today()
    out = []
    for r in store.matters(conn):
        item = _matter_dict(r)
        item["in_force"] = in_force(r.admitted_on, r.exited_on, on)
        if include_exited or item["in_force"]:
            out.append(item)
    return out


def _resolve_parent(conn: Connection, values: dict) -> dict:
    """``parent`` (a 大类 code, or None) → ``parent_id``."""
    if "parent" not in values:
        return values
    values = dict(values)
    parent = values.pop("parent")
    if parent is None:
        values["parent_id"] = None
        return values
    pid = store.major_matter_id(conn, parent)
    if pid is None:
        raise InputError(f"没有编码为 {parent} 的大类 / no 大类 with code {parent!r}", field="parent")
    values["parent_id"] = pid
    return values


def _check_matter(values: dict) -> None:
    """A 小类 needs a 大类, a time limit and its unit; a 大类 has neither; exit is not before admission."""
    if values.get("parent_id") is not None:
        if values.get("time_limit") is None or values.get("time_unit") is None:
            raise InputError("小类须有时限和时限单位 / a 小类 needs 'time_limit' and 'time_unit'", field="time_limit")
    elif values.get("time_limit") is not None:
        raise InputError("大类没有时限：小类请给出 parent / a 大类 (no 'parent') has no time limit: give 'parent' "
                         "for a 小类", field="parent")
    admitted, exited = values.get("admitted_on"), values.get("exited_on")
    if admitted and exited and exited < admitted:
        raise InputError(f"退出日期 {exited} 早于纳入日期 {admitted} / exited_on {exited} is before admitted_on "
                         f"{admitted}", field="exited_on")


def create_matter(conn: Connection, values: dict) -> dict:
    """Add an entry to the matter list (admission: ``admitted_on``, default today).

    ``values``: ``code``, ``name`` (required), ``parent`` (a 大类 code), ``time_limit``, ``time_unit``,
    ``responsible_unit``, ``admitted_on``, ``exited_on`` (parsed by the API).
    """
    values = _resolve_parent(conn, values)
    values.setdefault("admitted_on", date.today())
    _check_matter(values)
    if store.matter_code_taken(conn, values["code"]):
        raise Conflict(f"事项编码 {values['code']} 已存在 / matter code {values['code']} exists already",
                       details={"field": "code"})
    new_id = store.insert_matter(conn, values)
    audit(conn, "matter_add", "matter_category", new_id, None, values)
    return matter(conn, new_id)


def update_matter(conn: Connection, matter_id: int, values: dict) -> dict:
    """Change an entry; ``exited_on`` takes it off the list (no new events from that day)."""
    old = store.matter_row(conn, matter_id=matter_id, lock=True)
    if old is None:
        raise NotFound(f"没有编号为 {matter_id} 的事项 / no matter with id {matter_id}")
    values = _resolve_parent(conn, values)
    if not values:
        raise InputError("没有要修改的内容 / nothing to change: send at least one field", field="body")
    merged = {k: getattr(old, k) for k in ("parent_id", "time_limit", "time_unit", "admitted_on", "exited_on")}
    _check_matter({**merged, **values})
    if "code" in values and values["code"] != old.code and store.matter_code_taken(conn, values["code"]):
        raise Conflict(f"事项编码 {values['code']} 已存在 / matter code {values['code']} exists already",
                       details={"field": "code"})
    before = {k: getattr(old, k) for k in values}
    store.update_matter(conn, matter_id, values)
    audit(conn, "matter_update", "matter_category", matter_id, before, values)
    return matter(conn, matter_id)


def matter(conn: Connection, matter_id: int) -> dict:
    """One entry of the matter list."""
    row = store.matter(conn, matter_id)
    if row is None:
        raise NotFound(f"没有编号为 {matter_id} 的事项 / no matter with id {matter_id}")
    return _matter_dict(row)


def usable_matter(conn: Connection, ref: Any, on: date):
    """The 小类 ``ref`` (code or id) if it may be used for an event on ``on``.

    Raises
    ------
    InputError
        Field ``category``: unknown, a 大类, not yet admitted, or exited from the list.
    """
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InputError(f"事项类别须为编码或编号 / 'category' must be a matter code or id; got {ref!r}",
                         field="category")
    row = (store.matter_row(conn, matter_id=ref) if isinstance(ref, int)
           else store.matter_row(conn, code=ref.strip()))
    if row is None:
        raise InputError(f"事项清单中没有 {ref} / no matter {ref!r} on the matter list (see GET /api/v1/matters)",
                         field="category")
    if row.parent_id is None:
        raise InputError(f"{row.code} {row.name} 是大类，请选择其下的小类 / is a 大类; choose one of its 小类",
                         field="category")
    if row.admitted_on is not None and row.admitted_on > on:
        raise InputError(f"事项 {row.code} {row.name} 自 {row.admitted_on} 起才纳入清单 / is admitted to the list only "
                         f"on {row.admitted_on}", field="category")
    if row.exited_on is not None and row.exited_on <= on:
        raise InputError(f"事项 {row.code} {row.name} 已于 {row.exited_on} 退出清单，不能用于新事件 / left the matter "
                         f"list on {row.exited_on}: it cannot be used for new events", field="category")
    return row
