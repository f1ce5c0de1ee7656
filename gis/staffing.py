"""Staffing rules of grids (Jiangsu art. 11-15; city regulation art. 8): pure, no database.

Who a grid needs:

- every comprehensive grid (综合网格) a grid chief (网格长);
- every urban comprehensive grid (城市社区网格) at least one full-time member (专职网格员);
- every micro-grid a micro-grid chief (微网格长);
- and nobody serves more grids than the county allows (a part-time member often serves two or three).

Also the phone formats of mainland China (mobile 1[3-9]x, landline with area code) and how a phone
is masked on public pages when the county chooses to.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gis.errors import InputError

ROLES = ("grid_chief", "full_time", "part_time", "instructor", "micro_chief")
ROLE_NAMES = {"grid_chief": "网格长", "full_time": "专职网格员", "part_time": "兼职网格员",
              "instructor": "网格指导员", "micro_chief": "微网格长"}
EMPLOYMENTS = ("full_time", "part_time", "volunteer")
EMPLOYMENT_NAMES = {"full_time": "专职", "part_time": "兼职", "volunteer": "志愿者"}
#: Roles that bind to a grid code (15 digits) and to a micro-grid code (17 digits).
GRID_ROLES = ("grid_chief", "full_time", "part_time", "instructor")
MICRO_ROLES = ("micro_chief",)
DEFAULT_MAX_GRIDS = 3

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area code 0 + 2-3 digits (010, 020-029 are 3 digits; the rest 4), then a 7-8 digit number, optional extension.
_LANDLINE = re.compile(r"0(?:10|2[0-9]|[3-9][0-9]{2})[0-9]{7,8}(?:-[0-9]{1,5})?")


def normalise_phone(value: str, field_name: str = "phone") -> str:
    """A mainland mobile (``13812345678``) or landline (``0512-68123456``) in its canonical form.

    Spaces, dashes between groups and a ``+86``/``86`` prefix are accepted; a landline is returned as
    ``area-number`` (with ``-ext``), a mobile as 11 digits.

    Raises
    ------
    InputError
        Naming ``field_name`` when the number is neither.
    """
    raw = (value or "").strip()
    digits = re.sub(r"[\s()（）]", "", raw)
    digits = re.sub(r"^(?:\+?86)(?=1[3-9][0-9]{9}$|0)", "", digits.replace("—", "-"))
    ext = ""
    if digits.count("-") and re.search(r"-[0-9]{1,5}$", digits) and len(re.sub(r"-", "", digits)) > 12:
        digits, ext = digits.rsplit("-", 1)
        ext = "-" + ext
    plain = digits.replace("-", "")
    if _MOBILE.fullmatch(plain) and not ext:
        return plain
    if _LANDLINE.fullmatch(plain + ext):
        area = 3 if plain[1] in "12" else 4
        return f"{plain[:area]}-{plain[area:]}{ext}"
    raise InputError(f"手机或座机号码格式不对：{raw!r}（手机 11 位，座机带区号） / not a mainland mobile "
                     f"(11 digits) or landline (with area code): {raw!r}", field=field_name)


def mask_phone(phone: str | None) -> str | None:
    """The phone as the public sees it when masked: ``138****5678``, ``0512-****3456``."""
    if not phone:
        return phone
    if "-" in phone:
        area, rest = phone.split("-", 1)
        return f"{area}-{'*' * max(0, len(rest) - 4)}{rest[-4:]}"
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:]


@dataclass(frozen=True)
class GridInfo:
    """A grid (or micro-grid) to staff: its code, type (comprehensive/exclusive), subtype (urban/rural)."""

    code: str
    type: str = "comprehensive"
    subtype: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Post:
    """One assignment in force: a person serving a code in a role, with the person's employment."""

    person: int
    code: str
    role: str
    employment: str = "full_time"
    name: str = ""


@dataclass(frozen=True)
class Finding:
    """A staffing problem: ``kind`` (no_chief, no_full_time, no_micro_chief, too_many_grids), the code or
    person it is about, and a Chinese message naming them as the screen does.
    """

    kind: str
    message: str
    code: str | None = None
    person: int | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"kind": self.kind, "message": self.message, "code": self.code, "person": self.person}


@dataclass
class Coverage:
    """How many grids are fully staffed, and which are not (with their findings)."""

    grids: int = 0
    staffed: int = 0
    unstaffed: dict[str, list[str]] = field(default_factory=dict)  # code -> kinds

    @property
    def share(self) -> float:
        """Share of grids fully staffed (1.0 when there are no grids: nothing is missing)."""
        return 1.0 if self.grids == 0 else self.staffed / self.grids

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"grids": self.grids, "staffed": self.staffed, "share": round(self.share, 4),
                "unstaffed": [{"code": c, "kinds": k} for c, k in sorted(self.unstaffed.items())]}


def _label(grid: GridInfo) -> str:
    return f"{grid.name}（{grid.code}）" if grid.name else grid.code


def grid_findings(grids: Iterable[GridInfo], posts: Iterable[Post]) -> list[Finding]:
    """The missing posts of each grid and micro-grid, in code order.

    A grid's posts are those bound to its own code; a micro-grid (17 digits) needs a micro-grid chief.
    Exclusive grids have their own staffing rules (city regulation art. 8) and need no chief here.
    """
    by_code: dict[str, set[str]] = {}
    for p in posts:
        by_code.setdefault(p.code, set()).add(p.role)
    out: list[Finding] = []
    for g in sorted(grids, key=lambda g: g.code):
        roles = by_code.get(g.code, set())
        if len(g.code) == 17:
            if "micro_chief" not in roles:
                out.append(Finding("no_micro_chief", f"微网格 {g.code} 没有微网格长", g.code))
            continue
        if g.type != "comprehensive":
            continue
        if "grid_chief" not in roles:
            out.append(Finding("no_chief", f"综合网格 {_label(g)} 没有网格长", g.code))
        if g.subtype == "urban" and "full_time" not in roles:
            out.append(Finding("no_full_time", f"城市社区网格 {_label(g)} 没有专职网格员", g.code))
    return out


def overload_findings(posts: Iterable[Post], max_grids: int = DEFAULT_MAX_GRIDS) -> list[Finding]:
    """People serving more than ``max_grids`` distinct grids (micro-grids count toward their grid)."""
    grids: dict[int, set[str]] = {}
    names: dict[int, str] = {}
    for p in posts:
        grids.setdefault(p.person, set()).add(p.code[:15])
        names[p.person] = p.name
    return [Finding("too_many_grids", f"{names[person] or person} 同时在 {len(codes)} 个网格任职，超过上限 "
                                      f"{max_grids} 个", person=person)
            for person, codes in sorted(grids.items()) if len(codes) > max_grids]


def coverage(grids: Iterable[GridInfo], posts: Iterable[Post]) -> Coverage:
    """Share of grids (15-digit codes) with every post they need, their micro-grids included."""
    grids = list(grids)
    findings = grid_findings(grids, posts)
    missing: dict[str, list[str]] = {}
    for f in findings:
        missing.setdefault(f.code[:15], []).append(f.kind)
    top = [g for g in grids if len(g.code) == 15]
    result = Coverage(grids=len(top))
    for g in top:
        if g.code in missing:
            result.unstaffed[g.code] = sorted(set(missing[g.code]))
        else:
            result.staffed += 1
    return result


def check_dates(start, end, field_name: str = "end_date") -> None:
    """Refuse an end before the start (an end on the start day means the post never took effect)."""
    if start is not None and end is not None and end < start:
        raise InputError(f"结束日期 {end} 早于开始日期 {start} / the end date {end} is before the start date "
                         f"{start}", field=field_name)


def role_allowed_on(role: str, code: str, field_name: str = "role") -> None:
    """A micro-grid chief serves a micro-grid (17 digits); the other roles a grid (15 digits)."""
    if role not in ROLES:
        raise InputError(f"未知角色 {role!r}，应为 {'、'.join(ROLE_NAMES.values())} 之一 / unknown role {role!r}",
                         field=field_name)
    wanted = 17 if role in MICRO_ROLES else 15
    if len(code) != wanted:
        kind = "微网格编码（17 位）" if wanted == 17 else "网格编码（15 位）"
        raise InputError(f"{ROLE_NAMES[role]}须对应{kind}，收到 {code} / a {role} serves a "
                         f"{'micro-grid' if wanted == 17 else 'grid'} code of {wanted} digits; got {code}",
                         field=field_name)


def role_from_text(value: str) -> str | None:
    """A role from its Chinese name or its identifier (as typed in a spreadsheet)."""
    value = (value or "").strip()
    if value in ROLES:
        return value
    for key, name in ROLE_NAMES.items():
        if value == name:
            return key
    return None


def employment_from_text(value: str) -> str | None:
    """An employment from 专职/兼职/志愿者 or its identifier; ``None`` when unknown."""
    value = (value or "").strip()
    if value in EMPLOYMENTS:
        return value
    for key, name in EMPLOYMENT_NAMES.items():
        if value in (name, name + "人员"):
            return key
    return None
