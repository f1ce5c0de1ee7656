"""What the editor says: grids named as the screen names them, in Chinese first with English after " / ".

The engine (:mod:`gis.edits`) speaks English and names grids by their internal labels ("grid 13").
A county officer sees "网格 005" or the grid's name on the map, so every description and every refusal
the editor shows is written here from the grid's display name (:func:`display_names`), once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

#: How a grid is shown: its name, else "网格" and the last three digits of its code; a grid that has no
#: code yet is "新网格 N" (numbered in label order), never "网格 *".
GRID_WORD = ("网格", "grid")


def display_name(attrs: Mapping, ordinal: int | None = None) -> tuple[str, str]:
    """``(zh, en)`` display name of one grid from its attributes.

    The label source is this one function: a planned code (``attrs['label']``, set by review's code
    planning when present) wins over the stored code.
    """
    if attrs.get("name"):
        return attrs["name"], attrs["name"]
    code = attrs.get("label") or attrs.get("code")
    if code:
        return f"网格 {str(code)[-3:]}", f"grid {str(code)[-3:]}"
    n = ordinal if ordinal is not None else 1
    return f"新网格 {n}", f"new grid {n}"


def display_names(grids: Mapping[int, Mapping]) -> dict[int, tuple[str, str]]:
    """``label -> (zh, en)`` for every grid of a draft."""
    out, fresh = {}, 0
    for label in sorted(grids):
        attrs = grids[label]
        if not (attrs.get("name") or attrs.get("label") or attrs.get("code")):
            fresh += 1
        out[label] = display_name(attrs, fresh)
    return out


def both(zh: str, en: str) -> str:
    """One message in both languages, as the API carries it."""
    return f"{zh} / {en}"


def _join(labels, names, lang: int) -> str:
    return ("、" if lang == 0 else ", ").join(names.get(int(g), (f"网格 {g}", f"grid {g}"))[lang]
                                                for g in sorted(labels))


def describe(op: str, change, names: Mapping[int, tuple[str, str]], extra: Mapping | None = None) -> str:
    """A one-line description of an edit (``change`` is a :class:`gis.edits.Change`)."""
    extra = extra or {}
    n, hh = len(change.atoms_moved), change.households_moved
    created, removed = list(change.created), list(change.removed)
    touched = [g for g in change.grids_touched if g not in created]
    target = extra.get("grid")

    def j(labels, lang):
        return _join(labels, names, lang)
    if op == "paint":
        src = [g for g in touched if g != target]
        return both(f"将 {n} 个单元（{hh} 户）从 {j(src, 0) or '未划分区域'} 划入 {j([target], 0)}",
                    f"moved {n} atoms ({hh} households) from {j(src, 1) or 'no grid'} into {j([target], 1)}")
    if op == "new_grid":
        return both(f"用 {n} 个单元（{hh} 户）新建 {j(created, 0)}",
                    f"made {j(created, 1)} of {n} atoms ({hh} households)")
    if op == "merge":
        return both(f"将 {j(removed, 0)} 并入 {j([extra['a']], 0)}",
                    f"merged {j(removed, 1)} into {j([extra['a']], 1)}")
    if op == "delete_grid":
        return both(f"删除 {j(removed, 0)}，其单元并入 {j([extra['into']], 0)}",
                    f"deleted {j(removed, 1)}; its atoms went to {j([extra['into']], 1)}")
    if op == "split":
        return both(f"将 {j([target], 0)} 分割出 {j(created, 0)}（{n} 个单元，{hh} 户）",
                    f"split {j(created, 1)} off {j([target], 1)} ({n} atoms, {hh} households)")
    if op in ("move_boundary", "reshape"):
        return both(f"调整 {j(touched, 0)} 之间的边界：移动 {n} 个单元（{hh} 户）",
                    f"moved the boundary between {j(touched, 1)}: {n} atoms ({hh} households)")
    if op == "auto_divide":
        grids = extra.get("grids", 0)
        return both(f"自动划分：{grids} 个网格", f"divided automatically: {grids} grids")
    if op == "rebalance":
        return both(f"重新平衡：移动 {n} 个单元（{hh} 户）", f"rebalanced: {n} atoms ({hh} households) moved")
    return both("已修改", "changed")


NOTHING_TO_DO = {
    "rebalance": ("重新平衡：各网格已无可调整的单元，未保存新版本",
                  "rebalance: no atom can be moved to improve the grids; no revision was stored"),
}


def nothing_changed(op: str) -> str:
    """The message for an edit that changes nothing (and stores no revision)."""
    zh, en = NOTHING_TO_DO.get(op, ("没有任何变化，未保存新版本", "nothing changed; no revision was stored"))
    return both(zh, en)


# -- refusals of gis.edits, said as the screen says them -------------------------------------------

_GRID = re.compile(r"\bgrid (?:label )?(\d+)")
_RULES: list[tuple[re.Pattern, Callable[[re.Match, Callable[[str], str]], str]]] = [
    (re.compile(r"would leave grid (\d+) in (\d+) pieces"),
     lambda m, n: f"此操作会使 {n(m[1])} 分成 {m[2]} 块；每个网格必须连成一片"),
    (re.compile(r"grids? (.+?) (?:is|are) locked"), lambda m, n: f"{_names_in(m[1], n)} 已锁定，请先解锁"),
    (re.compile(r"grids (\d+) and (\d+) are not neighbours"),
     lambda m, n: f"{n(m[1])} 与 {n(m[2])} 不相邻，只有相邻网格才能合并"),
    (re.compile(r"grid (\d+) is not a neighbour of grid (\d+)"),
     lambda m, n: f"{n(m[1])} 与 {n(m[2])} 不相邻：请点击与之相邻的网格"),
    (re.compile(r"cannot merge grid (\d+) with itself"), lambda m, n: f"不能将 {n(m[1])} 与自身合并"),
    (re.compile(r"cannot delete grid (\d+) into itself"), lambda m, n: f"不能将 {n(m[1])} 并入自身"),
    (re.compile(r"the line does not cross grid (\d+)"),
     lambda m, n: f"分割线没有穿过 {n(m[1])}：请画一条横穿该网格的线"),
    (re.compile(r"the line does not cut the area in two"), lambda m, n: "分割线没有把网格分成两部分"),
    (re.compile(r"the line crosses itself"), lambda m, n: "分割线自相交：请画一条把网格分成两部分的线"),
    (re.compile(r"unknown grid label (\d+)"), lambda m, n: f"此版本中没有网格 {m[1]}，请刷新页面"),
    (re.compile(r"atoms? .+? (?:is|are) not in this community"), lambda m, n: "所选单元不属于本社区"),
    (re.compile(r"no atoms selected"), lambda m, n: "没有选中任何单元"),
    (re.compile(r"have no grid; paint them into a grid first"), lambda m, n: "有单元未划入网格：请先将其划入网格"),
    (re.compile(r"line has zero length|needs at least two finite points"), lambda m, n: "分割线太短"),
    (re.compile(r"swept polygon has no area"), lambda m, n: "拖动的区域没有面积"),
]


def _names_in(text: str, name: Callable[[str], str]) -> str:
    return "、".join(name(x) for x in re.findall(r"\d+", text)) or text


def refusal(message: str, names: Mapping[int, tuple[str, str]]) -> str:
    """An engine refusal (English, internal labels) → "zh / en", both naming grids as shown."""
    def zh(label: str) -> str:
        return names.get(int(label), (f"网格 {label}", ""))[0]

    def en(match: re.Match) -> str:
        return names.get(int(match[1]), ("", f"grid {match[1]}"))[1]
    english = _GRID.sub(en, message)
    for pattern, say in _RULES:
        found = pattern.search(message)
        if found:
            return both(say(found, zh), english)
    return both("无法完成此编辑", english)
