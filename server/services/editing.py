"""Editing a draft division: load it, apply one edit of :mod:`gis.edits`, store it as a new revision.

A draft is an assignment of its atom layer's atoms to grid labels plus each grid's attributes. Every
save is one transaction that checks the revision the client last saw (optimistic concurrency: a
stale save is refused with 409 and changes nothing), applies the edit, brings ``grid_atom`` and the
touched grids' cached geometry and counts up to date, and stores a full snapshot as the next
``division_revision`` — which is what undo and redo restore.

Atom layers are immutable, so the per-community :class:`~gis.edits.EditContext` (about 50-90 ms to
build for 2,000 atoms) is cached per layer id in each process and never goes stale.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from sqlalchemy import Connection, Engine

from gis import edits, reshape
from gis.checks import LiveChecks, live_checks
from gis.errors import InputError
from gis.partition import Band, PartitionSettings
from server.errors import BadRequest, Conflict, NotFound
from server.services import edit_text, staff
from server.store import divisions as store
from server.store.features import SRID, geom_value

log = logging.getLogger(__name__)

#: Statuses in which a division may still be changed; submitted and approved versions are read-only.
EDITABLE = ("draft",)
GRID_ATTRIBUTES = store.GRID_ATTRIBUTES
BLANK_GRID = {"name": None, "type": "comprehensive", "subtype": None, "locked": False, "code": None}
STATUS_ZH = {"draft": "是草稿", "submitted": "提交审核", "approved": "批准备案", "returned": "退回",
             "superseded": "被取代"}


@dataclass(frozen=True)
class LayerContext:
    """An atom layer ready for editing: the edit context and the atoms' primary keys by position."""

    context: edits.EditContext
    atom_pk: np.ndarray  # atom.id at each position (positions are atom_no order)
    crs: CRS


@dataclass
class Draft:
    """One division as the editor sees it."""

    id: int
    community_code: str
    version: int
    status: str
    revision: int
    band: Band
    settings: dict
    layer: LayerContext
    labels: edits.Assignment
    grids: dict[int, dict[str, Any]] = field(default_factory=dict)  # label -> attributes

    @property
    def locked(self) -> set[int]:
        """Labels of locked grids."""
        return {label for label, g in self.grids.items() if g.get("locked")}

    @property
    def exclusive(self) -> set[int]:
        """Labels of exclusive grids (专属网格)."""
        return {label for label, g in self.grids.items() if g.get("type") == "exclusive"}

    def checks(self) -> LiveChecks:
        """Live checks of the current assignment."""
        present = set(np.unique(self.labels.labels[self.labels.labels >= 0]).tolist())
        return live_checks(self.layer.context, self.labels, self.band, exclusive=self.exclusive & present)


# -- loading ----------------------------------------------------------------------------------------

_cache_lock = threading.Lock()


@functools.lru_cache(maxsize=32)
def _layer_context(url: str, layer_id: int, crs_text: str) -> LayerContext:
    from server.store.db import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            atoms, edges = store.read_atom_layer(conn, layer_id)
    finally:
        engine.dispose()
    crs = CRS.from_user_input(crs_text)
    atoms = atoms.to_crs(crs).rename_geometry("geometry")
    if not np.array_equal(atoms["atom_id"].to_numpy(), np.arange(len(atoms))):
        raise RuntimeError(f"atom layer {layer_id} is not numbered 0..n-1")  # save_division guarantees it
    pk = atoms.pop("pk").to_numpy()
    return LayerContext(edits.EditContext.build(atoms, edges), pk, crs)


def layer_context(conn: Connection, layer_id: int, crs: CRS) -> LayerContext:
    """The (cached) editing context of an atom layer."""
    url = conn.engine.url.render_as_string(hide_password=False)
    with _cache_lock:  # one build per layer even when requests race
        return _layer_context(url, layer_id, crs.to_string())


def division_row(conn: Connection, division_id: int, *, for_update: bool = False):
    """The division's row, or 404."""
    row = store.load_division(conn, division_id, lock=for_update)
    if row is None:
        raise NotFound(f"没有编号为 {division_id} 的划分 / no division with id {division_id}")
    return row


def load_draft(conn: Connection, division_id: int, *, for_update: bool = False) -> Draft:
    """A division with its current assignment and grid attributes."""
    row = division_row(conn, division_id, for_update=for_update)
    crs = CRS.from_user_input(row["settings"]["crs"])
    layer = layer_context(conn, row["atom_layer_id"], crs)
    snap = store.snapshot(conn, division_id, row["revision"])
    if snap is None:
        raise RuntimeError(f"division {division_id} has no snapshot of revision {row['revision']}")
    grids = {int(label): attrs for label, attrs in snap.grids.items()}
    target = int(row["settings"].get("band", {}).get("target", (row["band_min"] + row["band_max"]) // 2))
    band = Band(row["band_min"], row["band_max"], min(max(target, row["band_min"]), row["band_max"]))
    return Draft(row["id"], row["community_code"], row["version"], row["status"], row["revision"], band,
                 row["settings"], layer, edits.Assignment(np.asarray(snap.labels, dtype=np.int32)), grids)


# -- saving -----------------------------------------------------------------------------------------

def _quality(checks: LiveChecks) -> dict[int, dict]:
    return {row["label"]: {k: v for k, v in row.items() if k != "label"} for row in checks.to_dict()["grids"]}


def _grid_row(attrs: dict) -> dict:
    row = {k: attrs.get(k) for k in GRID_ATTRIBUTES}
    row["locked"], row["type"] = bool(row["locked"]), row["type"] or "comprehensive"
    return row


def store_revision(conn: Connection, draft: Draft, labels: edits.Assignment, grids: dict[int, dict], *,
                   op: str, description: str, user_id: int | None = None) -> int:
    """Write a new assignment and grid attributes as the next revision of ``draft``.

    Runs in ``conn``'s transaction; returns the new revision number.
    """
    old, new = draft.labels.labels, labels.labels
    present = set(np.unique(new[new >= 0]).tolist())
    grids = {label: grids.get(label, dict(BLANK_GRID)) for label in sorted(present)}
    ids = store.grid_ids(conn, draft.id)
    created = sorted(present - ids.keys())
    if created:
        ids.update(store.insert_grids(conn, [{"division_id": draft.id, "label": label, **_grid_row(grids[label])}
                                             for label in created]))
    moved = np.flatnonzero(old != new)
    if len(moved):
        store.move_atoms(conn, draft.id, draft.layer.atom_pk[moved].tolist(), [ids[int(g)] for g in new[moved]])
    removed = sorted(set(ids) - present)
    if removed:
        store.delete_grids(conn, draft.id, removed)
    touched = {int(g) for g in old[moved]} | {int(g) for g in new[moved]} | set(created)
    touched_ids = [ids[label] for label in sorted(touched) if label in present]
    if touched_ids:
        store.refresh_grid_geometry(conn, draft.id, touched_ids)
    store.update_grid_attributes(conn, [{"gid": ids[label], **_grid_row(grids[label])} for label in sorted(present)])
    after = Draft(**{**draft.__dict__, "labels": labels, "grids": grids})
    quality = _quality(after.checks())
    store.update_grid_quality(conn, [{"gid": ids[label], "q": quality.get(label, {})} for label in sorted(present)])
    revision = draft.revision + 1
    store.set_revision(conn, draft.id, revision)
    store.insert_revision(conn, division_id=draft.id, revision=revision, op=op, description=description,
                          labels=new.tolist(), grids={str(k): v for k, v in grids.items()}, user_id=user_id)
    store.audit(conn, user_id=user_id, action=f"division.{op}", division_id=draft.id,
                before={"revision": draft.revision}, after={"revision": revision, "description": description})
    return revision


# -- undo and redo: walking the stored revisions ----------------------------------------------------

def undo_redo_stacks(ops: list[tuple[int, str]]) -> tuple[list[int], list[int]]:
    """The undo and redo stacks (revision numbers, top last) that the stored revisions imply.

    Replaying the history makes undo survive a reload and work the same for every client: an edit
    pushes the revision it started from and clears redo; an ``undo`` moves the current revision to
    the redo stack, a ``redo`` back to the undo stack. Each undo/redo is itself a stored revision
    (a copy of the snapshot it returns to), so nothing is ever lost.
    """
    undo: list[int] = []
    redo: list[int] = []
    current = None
    for revision, op in ops:
        if current is not None:
            if op == "undo" and undo:
                undo.pop()
                redo.append(current)
            elif op == "redo" and redo:
                redo.pop()
                undo.append(current)
            else:
                undo.append(current)
                redo = []
        current = revision
    return undo, redo


# -- the edit operations ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Edit:
    """One edit, parsed and range-checked by the API (:mod:`server.api.params`).

    ``geometry`` is a valid shapely geometry in lon/lat (EPSG:4490): the split line or the new outline.
    ``attrs`` holds only the grid attributes ``set_grid`` was given.
    """

    op: str
    revision: int
    grid: int | None = None
    a: int | None = None
    b: int | None = None
    into: int | None = None
    atoms: tuple[int, ...] = ()
    to_revision: int | None = None
    seed: int | None = None
    geometry: shapely.Geometry | None = None
    attrs: dict = field(default_factory=dict)


def _grid_label(draft: Draft, label: int | None, field_name: str = "grid") -> int:
    if label not in draft.grids:
        raise BadRequest(f"此版本中没有该网格，请刷新页面 / field '{field_name}': grid {label} is not in this draft; "
                         "reload the page")
    return label


def _projected(geom: shapely.Geometry, crs: CRS) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=SRID).to_crs(crs).iloc[0]


def _set_grid(draft: Draft, edit: Edit) -> tuple[dict[int, dict], str]:
    label = _grid_label(draft, edit.grid)
    if not edit.attrs:
        raise BadRequest("请至少修改名称、类型、子类或锁定中的一项 / "
                         "set_grid needs at least one of name, type, subtype, locked")
    attrs = {**draft.grids[label], **edit.attrs}
    zh, en = edit_text.display_names(draft.grids)[label]
    words = {"name": ("名称", "name"), "type": ("类型", "type"), "subtype": ("子类", "subtype")}
    parts_zh, parts_en = [], []
    for key, value in edit.attrs.items():
        if key == "locked":
            parts_zh.append("锁定" if value else "解锁")
            parts_en.append("locked" if value else "unlocked")
        else:
            shown = {"comprehensive": ("综合网格", "comprehensive"), "exclusive": ("专属网格", "exclusive")}.get(
                value, (value or "（空）", value or "(none)"))
            parts_zh.append(f"{words[key][0]}改为「{shown[0]}」")
            parts_en.append(f"{words[key][1]} set to {shown[1]!r}")
    return {**draft.grids, label: attrs}, edit_text.both(f"{zh}：{'，'.join(parts_zh)}", f"{en}: {', '.join(parts_en)}")


def _attrs_after(draft: Draft, result: edits.EditResult) -> dict[int, dict]:
    """Grid attributes after an edit: created grids start blank (no code until filed)."""
    grids = {label: dict(attrs) for label, attrs in draft.grids.items() if label not in result.change.removed}
    for label in result.change.created:
        grids[label] = dict(BLANK_GRID)
    for label in result.change.exclusive:
        sites = draft.layer.context.atoms["site"].to_numpy()[result.assignment.labels == label]
        grids[label] = {**grids.get(label, {}), "type": "exclusive",
                        "subtype": next((s for s in sites if isinstance(s, str)), None)}
    return grids


def _reshape(draft: Draft, grid: int, outline: shapely.Geometry) -> edits.EditResult:
    """A grid's outline dragged to ``outline`` (layer CRS): the boundary with one neighbour follows it."""
    ctx = draft.layer.context
    plan = reshape.plan_reshape(_grid_label(draft, grid), reshape.valid_outline(outline), draft.labels.labels,
                                ctx.rep_x, ctx.rep_y, ctx.households, ctx.geometry, ctx.edge_a, ctx.edge_b,
                                ctx.edge_length)
    return edits.move_boundary(ctx, draft.labels, plan.grid, plan.neighbour, plan.swept, locked=draft.locked)


def _run(draft: Draft, edit: Edit) -> tuple[edits.EditResult, dict]:
    """Run the engine's edit; returns the result and what the description needs."""
    ctx, labels, locked, op = draft.layer.context, draft.labels, draft.locked, edit.op
    crs = draft.layer.crs
    if op == "paint":
        return edits.paint(ctx, labels, list(edit.atoms), _grid_label(draft, edit.grid), locked=locked), \
            {"grid": edit.grid}
    if op == "new_grid":
        return edits.new_grid(ctx, labels, list(edit.atoms), locked=locked), {}
    if op == "merge":
        return edits.merge(ctx, labels, _grid_label(draft, edit.a, "a"), _grid_label(draft, edit.b, "b"),
                           locked=locked), {"a": edit.a}
    if op == "delete_grid":
        return edits.delete_grid(ctx, labels, _grid_label(draft, edit.grid), _grid_label(draft, edit.into, "into"),
                                 locked=locked), {"into": edit.into}
    if op == "split":
        return edits.split_by_line(ctx, labels, _grid_label(draft, edit.grid), _projected(edit.geometry, crs),
                                   locked=locked), {"grid": edit.grid}
    if op == "move_boundary":
        return edits.move_boundary(ctx, labels, _grid_label(draft, edit.a, "a"), _grid_label(draft, edit.b, "b"),
                                   _projected(edit.geometry, crs), locked=locked), {}
    if op == "reshape":
        return _reshape(draft, edit.grid, _projected(edit.geometry, crs)), {}
    if op == "auto_divide":
        seed = edit.seed if edit.seed is not None else int(draft.settings.get("seed", 0))
        result = edits.auto_divide(ctx, labels, PartitionSettings(band=draft.band, seed=seed), locked=locked)
        return result, {"grids": len(result.assignment.grids)}
    if op == "rebalance":
        return edits.rebalance_unlocked(ctx, labels, draft.band, locked=locked,
                                        exclusive=draft.exclusive & set(labels.grids.tolist())), {}
    raise BadRequest(f"不支持的编辑操作 {op!r} / field 'op': unknown operation {op!r}")


def apply_edit(draft: Draft, edit: Edit, planned: dict[int, str] | None = None
               ) -> tuple[edits.Assignment, dict[int, dict], str, dict]:
    """Apply ``edit`` to ``draft``; nothing is stored here.

    Returns the new assignment, the new grid attributes, a description ("zh / en", grids named as the
    map showed them when the edit was made: ``planned`` are the codes the map labels grids with) and a
    JSON-ready summary. Refusals raise :class:`BadRequest` in the same words.
    """
    if edit.op == "set_grid":
        grids, description = _set_grid(draft, edit)
        return draft.labels, grids, description, {"op": "set_grid"}
    before = edit_text.display_names({k: {**v, "label": (planned or {}).get(k)} for k, v in draft.grids.items()})
    try:
        result, extra = _run(draft, edit)
    except InputError as exc:
        raise BadRequest(edit_text.refusal(exc.message, before), details={"field": exc.field}) from None
    grids = _attrs_after(draft, result)
    c = result.change
    names = {**edit_text.display_names(grids), **{k: v for k, v in before.items() if k not in c.created}}
    summary = {"op": c.op, "atoms_moved": list(c.atoms_moved), "households_moved": c.households_moved,
               "grids_touched": list(c.grids_touched), "created": list(c.created), "removed": list(c.removed),
               "attached": list(c.attached), "findings": [f.message for f in c.findings]}
    return result.assignment, grids, edit_text.describe(c.op, c, names, extra), summary


def _check_writable(draft: Draft, revision: int) -> None:
    if draft.status not in EDITABLE:
        raise Conflict(f"第 {draft.version} 版已{STATUS_ZH.get(draft.status, draft.status)}，"
                       f"不能再修改；请从它新建草稿 / "
                       f"version {draft.version} is {draft.status} and can no longer be edited; start a new draft "
                       "from it instead")
    if revision != draft.revision:
        raise Conflict(f"您打开后，他人已修改此草稿（您编辑的是修订 {revision}，现在是修订 {draft.revision}）；"
                       f"您的修改未保存，请刷新后重做 / "
                       "the draft was changed by someone else since you loaded it (you edited revision "
                       f"{revision}, it is now at revision {draft.revision}); your edit was not applied: reload to "
                       "see their changes, then redo yours")


def _walk(conn: Connection, draft: Draft, edit: Edit) -> tuple[edits.Assignment, dict[int, dict], str, dict]:
    """Undo, redo or restore: the assignment and attributes of a stored revision."""
    if edit.op == "restore":
        target = edit.to_revision
        zh, en = f"恢复到修订 {target}", f"restored revision {target}"
    else:
        undo, redo = undo_redo_stacks(store.revision_ops(conn, draft.id))
        stack = undo if edit.op == "undo" else redo
        if not stack:
            word = ("撤销", "undo") if edit.op == "undo" else ("重做", "redo")
            raise Conflict(edit_text.both(f"没有可{word[0]}的操作", f"there is nothing to {word[1]}"))
        target = stack[-1]
        zh, en = (f"撤销：回到修订 {target}", f"undo: back to revision {target}") if edit.op == "undo" else \
            (f"重做：回到修订 {target}", f"redo: back to revision {target}")
    snap = store.snapshot(conn, draft.id, target)
    if snap is None:
        raise BadRequest(f"此草稿没有修订 {target} / field 'to_revision': the draft has no revision {target}")
    labels = edits.Assignment(np.asarray(snap.labels, dtype=np.int32))
    grids = {int(k): v for k, v in snap.grids.items()}
    return labels, grids, edit_text.both(zh, en), {"op": edit.op, "to_revision": target}


def edit_division(engine: Engine, division_id: int, edit: Edit, *, user_id: int | None = None) -> dict:
    """Apply one edit as a new revision, all or nothing; return the JSON answer for the editor.

    An edit that changes nothing (a rebalance with nothing to move, a name set to what it was) stores
    no revision and says so (``change.stored`` is false).
    """
    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        _check_writable(draft, edit.revision)
        if edit.op in ("undo", "redo", "restore"):
            labels, grids, description, change = _walk(conn, draft, edit)
        else:
            from server.services.review import planned_codes  # review imports this module: import when called

            labels, grids, description, change = apply_edit(draft, edit, planned_codes(conn, draft.id))
            if np.array_equal(labels.labels, draft.labels.labels) and grids == draft.grids:
                return {**client_state(conn, draft),
                        "change": {**change, "description": edit_text.nothing_changed(edit.op), "stored": False}}
        revision = store_revision(conn, draft, labels, grids, op=change["op"], description=description,
                                  user_id=user_id)
        after = load_draft(conn, division_id)
        return {**client_state(conn, after), "change": {**change, "description": description, "stored": True},
                "revision": revision}


def client_state(conn: Connection, draft: Draft) -> dict:
    """What the editor needs after loading or editing: the header, checks, and undo/redo depth."""
    from server.services.review import planned_codes  # review imports this module: import when called

    undo, redo = undo_redo_stacks(store.revision_ops(conn, draft.id))
    checks = staff.with_staffing_warnings(conn, draft.id, checks_for_client(draft))  # issue 16: staffing
    return {"division": division_summary(draft, planned_codes(conn, draft.id)), "checks": checks,
            "revision": draft.revision,
            "undo": {"available": len(undo), "target": undo[-1] if undo else None},
            "redo": {"available": len(redo), "target": redo[-1] if redo else None}}


def read_division(conn: Connection, division_id: int) -> dict:
    """A division for the editor: header, grid attributes, checks, undo/redo and revision history."""
    draft = load_draft(conn, division_id)
    history = [{**h, "created_at": h["created_at"].isoformat()} for h in store.history(conn, division_id)]
    return {**client_state(conn, draft), "history": history}


def checks_for_client(draft: Draft) -> dict:
    """Live checks with every ``bbox`` in lon/lat (EPSG:4490), so the map can zoom to a problem."""
    from pyproj import Transformer

    checks = draft.checks().to_dict()
    to_lonlat = Transformer.from_crs(draft.layer.crs, SRID, always_xy=True)
    for item in [*checks["grids"], *checks["problems"]]:
        box = item.get("bbox")
        if box and all(v is not None for v in box):
            xs, ys = to_lonlat.transform([box[0], box[2]], [box[1], box[3]])
            item["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    return checks


def grid_colours(draft: Draft) -> dict[int, int]:
    """A colour index per grid such that grids sharing a boundary never share a colour.

    Greedy colouring of the grid adjacency, largest degree first (planar maps need few colours; the
    editor's palette has twelve).
    """
    ctx, lab = draft.layer.context, draft.labels.labels
    a, b = lab[ctx.edge_a], lab[ctx.edge_b]
    cross = (a != b) & (a >= 0) & (b >= 0)
    neighbours: dict[int, set[int]] = {int(g): set() for g in draft.grids}
    for x, y in zip(a[cross].tolist(), b[cross].tolist(), strict=True):
        neighbours.setdefault(x, set()).add(y)
        neighbours.setdefault(y, set()).add(x)
    colours: dict[int, int] = {}
    for grid in sorted(neighbours, key=lambda g: (-len(neighbours[g]), g)):
        used = {colours[n] for n in neighbours[grid] if n in colours}
        colours[grid] = next(c for c in range(len(used) + 1) if c not in used)
    return colours


def division_summary(draft: Draft, planned: dict[int, str] | None = None) -> dict:
    """The division's header for the editor; each grid carries ``display``, the one text the map shows.

    ``planned`` (label -> the code filing will give, from review's code planning) is the label source.
    """
    names = edit_text.display_names({k: {**v, "label": (planned or {}).get(k)} for k, v in draft.grids.items()})
    colours = grid_colours(draft)
    return {"id": draft.id, "community_code": draft.community_code, "version": draft.version,
            "status": draft.status, "revision": draft.revision,
            "band": {"min": draft.band.min, "max": draft.band.max, "target": draft.band.target},
            "grids": {str(k): {**v, "display": names[k][0], "display_en": names[k][1], "colour": colours.get(k, 0)}
                      for k, v in sorted(draft.grids.items())}}


# -- new draft from a version -----------------------------------------------------------------------

def copy_division(engine: Engine, community_code: str, source_id: int, *, user_id: int | None = None) -> int:
    """A new draft of ``community_code`` holding exactly what division ``source_id`` holds now.

    Grids keep their labels and codes, so codes carry through review. Returns the new division id.
    """
    with engine.begin() as conn:
        source = division_row(conn, source_id)
        if source["community_code"] != community_code:
            raise BadRequest(f"划分 {source_id} 不属于社区 {community_code} / "
                             f"field 'from': division {source_id} belongs to community "
                             f"{source['community_code']}, not {community_code}")
        snap = store.snapshot(conn, source_id, source["revision"])
        version = store.next_version(conn, community_code)
        new_id = store.copy_division_rows(conn, source, version, user_id)
        store.insert_revision(conn, division_id=new_id, revision=1, op="copy",
                              description=edit_text.both(f"由第 {source['version']} 版新建草稿",
                                                         f"new draft from version {source['version']}"),
                              labels=list(snap.labels), grids=snap.grids, user_id=user_id)
        store.audit(conn, user_id=user_id, action="division.copy", division_id=new_id, before={"from": source_id},
                    after={"version": version, "status": "draft"})
    return new_id


# -- micro-grids ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _layer_parcels(url: str, layer_id: int, crs_text: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    from server.store.db import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            parcels, edges = store.read_parcel_layer(conn, layer_id)
    finally:
        engine.dispose()
    return parcels.to_crs(CRS.from_user_input(crs_text)).rename_geometry("geometry"), edges


def _micro_rows(draft: Draft, parcels: gpd.GeoDataFrame, edges: pd.DataFrame, bare: dict[int, int], first: int):
    """Divide the ``bare`` grids into micro-grids: (micro-grid rows, parcel rows keyed by micro label)."""
    from gis.codes import micro_codes, order_grids
    from gis.microgrids import divide_micro

    grid_of_parcel = pd.Series(draft.labels.labels[parcels["atom_no"].to_numpy()], index=parcels["parcel_id"])
    wanted = grid_of_parcel[grid_of_parcel.isin(list(bare))]
    mine = parcels[parcels["parcel_id"].isin(wanted.index)]
    ids = set(mine["parcel_id"])
    mine_edges = edges[edges["a"].isin(ids) & edges["b"].isin(ids)]
    micro = divide_micro(mine, mine_edges, wanted, band=Band.micro(), seed=int(draft.settings.get("seed", 0)))
    grid_of_micro = micro.attrs["grid"]
    frame = mine.assign(micro=mine["parcel_id"].map(micro))
    dissolved = frame.dissolve(by="micro", aggfunc={"households": "sum", "population": "sum"})
    codes: dict[int, str | None] = {}
    for grid_label, group in dissolved.groupby(dissolved.index.map(grid_of_micro)):
        code = draft.grids.get(int(grid_label), {}).get("code")
        if code:
            codes.update(micro_codes(code, order_grids(group.assign(label=group.index))).to_dict())
    geoms = dissolved.geometry.to_crs(SRID)
    rows = [{"grid_id": bare[int(grid_of_micro[label])], "label": first + int(label),
             "code": codes.get(label), "households": int(r.households), "population": int(r.population),
             "geom": geom_value(geoms.loc[label])} for label, r in dissolved.iterrows()]
    pk = dict(zip(mine["parcel_id"], mine["pk"], strict=True))
    members = [(first + int(label), int(pk[p])) for p, label in micro.items()]
    return rows, members


def rebuild_micro_grids(engine: Engine, division_id: int, revision: int | None = None, *,
                        user_id: int | None = None) -> int:
    """Divide every grid of a draft that has no micro-grids (its atoms changed) into micro-grids.

    Returns how many micro-grids were made. Micro-grids are derived from the assignment, so this
    does not make a new revision; it refuses read-only divisions.
    """
    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        _check_writable(draft, draft.revision if revision is None else revision)
        bare = store.grids_without_micro(conn, division_id)
        if not bare:
            return 0
        url = conn.engine.url.render_as_string(hide_password=False)
        layer_id = division_row(conn, division_id)["atom_layer_id"]
        with _cache_lock:
            parcels, edges = _layer_parcels(url, layer_id, draft.layer.crs.to_string())
        rows, members = _micro_rows(draft, parcels, edges, bare, store.next_micro_label(conn, division_id))
        made = store.insert_micro_grids(conn, rows)
        store.insert_micro_grid_parcels(conn, [{"micro_grid_id": made[label], "parcel_id": parcel}
                                               for label, parcel in members])
        store.audit(conn, user_id=user_id, action="division.micro_grids", division_id=division_id, before=None,
                    after={"grids": sorted(int(g) for g in bare), "micro_grids": len(rows)})
    return len(rows)


# -- import of a hand-drawn division ----------------------------------------------------------------

def _read_drawing(path: Path) -> gpd.GeoDataFrame:
    import pyogrio

    _declared_crs(path)
    source = f"/vsizip/{path}" if path.suffix == ".zip" else str(path)
    try:
        layers = pyogrio.list_layers(source)
    except Exception as exc:  # GDAL says why it cannot read the file
        raise BadRequest(f"无法读取图形文件 {path.name} / cannot read the drawing {path.name}: {exc}") from None
    polygon_layers = [name for name, kind in layers if kind and "Polygon" in kind] or [name for name, _ in layers]
    if not polygon_layers:
        raise BadRequest(f"图形文件 {path.name} 中没有图层 / the drawing {path.name} holds no layer")
    try:
        drawn = gpd.read_file(source, layer=polygon_layers[0], engine="pyogrio")
    except Exception as exc:  # a broken geometry or CRS GDAL cannot read
        raise BadRequest(f"无法读取图形文件 {path.name} / cannot read the drawing {path.name}: {exc}") from None
    if drawn.crs is None:
        raise BadRequest(f"图形文件 {path.name} 未声明坐标系，请以 EPSG:4490 等坐标系保存 / the drawing {path.name} "
                         "declares no coordinate system: save it with one (e.g. EPSG:4490)")
    if drawn.crs.to_epsg() is None and not drawn.crs.is_geographic and not drawn.crs.is_projected:
        raise BadRequest(f"无法识别图形文件的坐标系 {drawn.crs.name} / unknown coordinate system {drawn.crs.name}")
    for row, geom in enumerate(drawn.geometry, start=1):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = getattr(geom, "geom_type", None)
            raise BadRequest(f"第 {row} 个要素不是多边形（{kind}）：请把每个网格画成多边形 / "
                             f"feature {row} of {path.name} is not a polygon (got {kind}); draw each grid as a polygon")
        coords = shapely.get_coordinates(geom)
        if not np.isfinite(coords).all() or (np.abs(coords) > MAX_COORDINATE).any():
            raise BadRequest(f"第 {row} 个要素的坐标不是有效数值（最大 {np.abs(coords).max():.3g}）："
                             "坐标系是否有误？ / "
                             f"feature {row} of {path.name} has coordinates no CRS can hold "
                             f"(up to {np.abs(coords).max():.3g}); is the CRS right?")
        if not geom.is_valid:
            try:
                shapely.make_valid(geom)
            except shapely.errors.GEOSException as exc:
                raise BadRequest(f"第 {row} 个要素的多边形无效且无法修复（{shapely.is_valid_reason(geom)}） / "
                                 f"feature {row} "
                                 f"of {path.name} is an invalid polygon that cannot be repaired ({exc})") from None
    return drawn.assign(geometry=shapely.make_valid(drawn.geometry.to_numpy()))


#: Larger than any coordinate of any CRS (metres of the widest projection are below 1e8).
MAX_COORDINATE = 1e9


def _declared_crs(path: Path) -> None:
    """Refuse a GeoJSON whose ``crs`` member names a CRS no registry knows (GDAL falls back to WGS 84)."""
    import json

    from pyproj.exceptions import CRSError

    if path.suffix not in (".geojson", ".json"):
        return
    try:
        with path.open("rb") as handle:
            declared = json.load(handle).get("crs")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return  # GDAL reports what is wrong with the file itself
    name = declared.get("properties", {}).get("name") if isinstance(declared, dict) else None
    if isinstance(name, str):
        try:
            CRS.from_user_input(name)
        except CRSError:
            code = name.rsplit(":", 1)[-1]
            raise BadRequest(f"图形文件声明的坐标系 {code} 无法识别：请以 EPSG:4490 等已知坐标系保存 / "
                             "the drawing declares an "
                             f"unknown coordinate system {name!r}; save it with a known one (e.g. EPSG:4490)") from None


def _drawing_key(drawn: gpd.GeoDataFrame, key: str | None) -> str:
    """The column naming the drawn grids: ``key``, else the first name/code column that names every grid.

    wangge's own export has ``name`` empty for unnamed grids and a ``code`` or ``label`` for each, so it
    re-imports keyed by the first complete one.
    """
    if key is not None:
        if key not in drawn.columns:
            columns = ", ".join(c for c in drawn.columns if c != "geometry")
            raise BadRequest(f"图形文件中没有字段 {key!r}（现有字段：{columns}） / field 'key': the drawing has no "
                             f"column {key!r} (columns: {columns})")
        return key
    for candidate in ("name", "网格名称", "code", "网格编码", "grid", "label"):
        if candidate in drawn.columns:
            values = drawn[candidate]
            if values.notna().all() and (values.astype(str).str.strip() != "").all():
                return candidate
    return ""


def _check_placement(draft: Draft, drawn: gpd.GeoDataFrame, extent, name: str) -> None:
    """Refuse a drawing that cannot be of this community (another CRS, swapped axes, absurd numbers).

    Raises :class:`BadRequest` saying what was found when the drawing's coordinates are not finite in
    lon/lat, lie outside the community's bounding box, or cover less than half of its atoms.
    """
    try:
        lonlat = drawn.geometry.to_crs(SRID)
        box = lonlat.total_bounds
    except Exception:  # pyproj refuses values no CRS can hold
        box = np.array([np.nan] * 4)
    if not np.isfinite(box).all() or abs(box[0]) > 180 or abs(box[2]) > 180 or abs(box[1]) > 90 or abs(box[3]) > 90:
        raise BadRequest(f"{name} 的坐标换算为经纬度后无效：经纬度是否颠倒，或坐标系声明有误？ / "
                         f"the coordinates of {name} are "
                         f"not valid longitude/latitude in its declared CRS ({drawn.crs.name}): are latitude and "
                         "longitude swapped, or is the CRS wrong?")
    if extent is not None:
        from pyproj import Geod

        west, south, east, north = extent
        gap_x = max(west - box[2], box[0] - east, 0.0)
        gap_y = max(south - box[3], box[1] - north, 0.0)
        if gap_x > 0 or gap_y > 0:
            cx, cy = (west + east) / 2, (south + north) / 2
            dx, dy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            km = Geod(ellps="GRS80").inv(cx, cy, dx, dy)[2] / 1000
            raise BadRequest(f"{name} 距本社区约 {km:,.0f} 公里：坐标是否属于其他坐标系，或经纬度颠倒？ / "
                             f"the drawing lies {km:,.0f} km from the community; are the "
                             "coordinates in another CRS, or are "
                             "latitude and longitude swapped?")
    ctx = draft.layer.context
    covered = shapely.union_all(drawn.geometry.to_crs(draft.layer.crs).to_numpy())
    share = float(shapely.contains_xy(covered, ctx.rep_x, ctx.rep_y).mean()) if ctx.n else 1.0
    if share < MIN_DRAWING_COVER:
        raise BadRequest(f"{name} 只覆盖本社区 {share:.0%} 的基础单元（至少需 {MIN_DRAWING_COVER:.0%}）："
                         f"坐标系或范围可能有误 / the drawing covers {share:.0%} of the community's atoms (at least "
                         f"{MIN_DRAWING_COVER:.0%} needed): is it in another CRS, or of another area?")


#: A drawing must cover at least this share of the community's atoms, or it is refused.
MIN_DRAWING_COVER = 0.5


def import_drawing(engine: Engine, division_id: int, path: Path, revision: int, *, key: str | None = None,
                   user_id: int | None = None, filename: str | None = None) -> dict:
    """Snap a hand-drawn division onto the draft's atoms and store it as the next revision.

    Each atom goes to the drawn grid covering most of it. The answer's ``change.report`` lists atoms
    the drawing cuts, atoms no drawn grid covers, drawn grids that got no atom, and failing grids.
    A drawing that cannot be of this community is refused and nothing is stored.
    """
    from gis.snap import snap_division

    name = filename or Path(path).name
    drawn = _read_drawing(Path(path))
    column = _drawing_key(drawn, key)
    if not column:
        drawn, column = drawn.assign(_key=[f"{i}" for i in range(1, len(drawn) + 1)]), "_key"
    drawn = drawn.assign(**{column: drawn[column].astype(str)})
    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        _check_writable(draft, revision)
        _check_placement(draft, drawn, store.community_extent(conn, draft.community_code), name)
        ctx = draft.layer.context
        try:
            snapped = snap_division(ctx.atoms[["atom_id", "households", "geometry"]], drawn, key=column)
        except InputError as exc:
            raise BadRequest(edit_text.both("图形文件有误", str(exc))) from None
        keys = snapped.labels.reindex(ctx.atom_ids).to_numpy()
        new, grids = _labels_for_keys(draft, keys, names=column in ("name", "网格名称"))
        report = _import_report(drawn, column, snapped)
        description = edit_text.both(
            f"导入 {name}：{len(grids)} 个网格；{len(snapped.split_atoms)} 个单元被图形切分（其 "
            f"{report['households_in_split_atoms']} 户按面积多数归属）",
            f"imported {name}: {len(grids)} grids; {len(snapped.split_atoms)} atoms cut by the drawing "
            f"({report['households_in_split_atoms']} households placed by majority area)")
        new_revision = store_revision(conn, draft, edits.Assignment(new), grids, op="import",
                                      description=description, user_id=user_id)
        after = load_draft(conn, division_id)
        report["failing_grids"] = sorted({p.grid for p in after.checks().errors if p.grid is not None})
        return {**client_state(conn, after), "revision": new_revision,
                "change": {"op": "import", "description": description, "report": report, "stored": True}}


def _import_report(drawn: gpd.GeoDataFrame, column: str, snapped) -> dict:
    split = snapped.split_atoms
    return {
        "drawn_grids": int(drawn[column].nunique()),
        "split_atoms": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items() if k != "others"}
                        for r in split.to_dict("records")],
        "households_in_split_atoms": int(split["households"].sum()) if len(split) else 0,
        "unmatched_atoms": [int(a) for a in snapped.unmatched_atoms["atom_id"]],
        "empty_grids": [str(k) for k in snapped.empty_grids],
    }


def _labels_for_keys(draft: Draft, keys: np.ndarray, *, names: bool = True) -> tuple[np.ndarray, dict[int, dict]]:
    """Labels for drawn grids, keeping what can be kept.

    A drawn grid that is essentially an existing grid (80% of households both ways) keeps its
    label, code and attributes; the others get new labels, named after the key when the key is a
    name column (a code or a label is not a name).
    """
    old = draft.labels.labels
    hh = draft.layer.context.households.astype(float) + 1e-9  # empty atoms still count a little
    grids: dict[int, dict] = {}
    new = np.full(len(keys), -1, dtype=np.int32)
    taken: set[int] = set()
    next_label = int(old.max()) + 1 if len(old) else 0
    for key in sorted(set(keys.tolist())):
        members = keys == key
        best, best_share = None, 0.0
        for label in np.unique(old[members]).tolist():
            inter = hh[members & (old == label)].sum()
            share = min(inter / hh[members].sum(), inter / hh[old == label].sum())
            if share > best_share and label not in taken:
                best, best_share = label, share
        if best is not None and best_share >= 0.8:
            label = int(best)
            kept = draft.grids.get(label, {})
            grids[label] = {**kept, "name": kept.get("name") or (key if names else None)}
        else:
            label, next_label = next_label, next_label + 1
            grids[label] = {**BLANK_GRID, "name": key if names else None}
        taken.add(label)
        new[members] = label
    return new, grids


# -- export -----------------------------------------------------------------------------------------

#: The CRS the layers are written in, by the export CRS asked for. EPSG:4326 stands for CRS84: a GeoPackage
#: has no code for CRS84, GDAL stores both as longitude, latitude, and writes a GeoJSON in either as RFC 7946.
_FILE_CRS = {"CRS84": "EPSG:4326", "EPSG:4490": "EPSG:4490"}


def export_division(engine: Engine, division_id: int, fmt: str, crs: str = "CRS84") -> bytes:
    """The division as ``geojson``, ``gpkg``, ``shp`` (zipped), ``png`` or ``pdf`` bytes.

    The three GIS formats are written by :func:`gis.io.write_layers` from the same frames, so they hold
    the same columns, NULL for a missing name, and the CRS ``crs`` asks for: ``CRS84`` (RFC 7946 GeoJSON,
    WGS 84 layers) or ``EPSG:4490`` (CGCS2000, stated by the file). The coordinates are the stored ones
    either way: CGCS2000 and WGS 84 agree within a metre at grid scale, and PROJ's transformation between
    them is the identity. A GeoJSON holds the grids only; maps ignore ``crs``.
    """
    import tempfile

    from gis.io import write_layers

    with engine.connect() as conn:
        row = division_row(conn, division_id)
        grids, micro = store.export_frames(conn, division_id)
        community = store.community_name(conn, row["community_code"]) or row["community_code"]
    if fmt in ("png", "pdf"):
        from server.services.printing import division_map

        status = {"draft": "草稿", "submitted": "待审核", "approved": "已备案", "returned": "已退回"}.get(
            row["status"], row["status"])
        return division_map(grids, title=f"{community}（{row['community_code']}）第 {row['version']} 版 · {status}",
                            fmt=fmt, crs=CRS.from_user_input(row["settings"]["crs"]))
    suffix = {"geojson": ".geojson", "gpkg": ".gpkg", "shp": ".zip"}[fmt]
    grids, micro = grids.to_crs(_FILE_CRS[crs]), micro.to_crs(_FILE_CRS[crs])
    layers = {"grids": grids.astype({"locked": int}) if fmt == "shp" else grids}
    if len(micro) and fmt != "geojson":
        layers["micro_grids"] = micro
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"division{suffix}"
        write_layers(path, layers)
        return path.read_bytes()


def new_draft(engine: Engine, community_code: str, source_id: int, *, user_id: int | None = None) -> dict:
    """Copy version ``source_id`` into a new draft and answer it as the editor reads it."""
    division_id = copy_division(engine, community_code, source_id, user_id=user_id)
    with engine.connect() as conn:
        return read_division(conn, division_id)
