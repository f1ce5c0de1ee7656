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
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer

from gis import edits
from gis.checks import LiveChecks, live_checks
from gis.errors import InputError
from gis.partition import Band, PartitionSettings
from server.encoding import to_json
from server.errors import BadRequest, Conflict, NotFound
from server.store import models as m
from server.store.features import SRID, geom_value

log = logging.getLogger(__name__)

#: Statuses in which a division may still be changed; submitted and approved versions are read-only.
EDITABLE = ("draft",)
GRID_ATTRIBUTES = ("name", "type", "subtype", "locked", "code")


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
            return _read_layer(conn, layer_id, CRS.from_user_input(crs_text))
    finally:
        engine.dispose()


def _read_layer(conn: Connection, layer_id: int, crs: CRS) -> LayerContext:
    atoms = gpd.read_postgis(text("""
        SELECT id AS pk, atom_no AS atom_id, kind, households, population, site, compound, geom
        FROM atom WHERE layer_id = :layer ORDER BY atom_no"""), conn, geom_col="geom", params={"layer": layer_id})
    atoms = atoms.set_crs(SRID, allow_override=True).to_crs(crs).rename_geometry("geometry")
    edges = pd.read_sql(text("SELECT a, b, length, barrier_length FROM atom_edge WHERE layer_id = :layer"), conn,
                        params={"layer": layer_id})
    if not np.array_equal(atoms["atom_id"].to_numpy(), np.arange(len(atoms))):
        raise RuntimeError(f"atom layer {layer_id} is not numbered 0..n-1")  # save_division guarantees it
    pk = atoms.pop("pk").to_numpy()
    return LayerContext(edits.EditContext.build(atoms, edges), pk, crs)


def layer_context(conn: Connection, layer_id: int, crs: CRS) -> LayerContext:
    """The (cached) editing context of an atom layer."""
    url = conn.engine.url.render_as_string(hide_password=False)
    with _cache_lock:  # one build per layer even when requests race
        return _layer_context(url, layer_id, crs.to_string())


def _division_row(conn: Connection, division_id: int, *, for_update: bool = False):
    query = select(m.Division).where(m.Division.id == division_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFound(f"no division with id {division_id}")
    return row


def _snapshot(conn: Connection, division_id: int, revision: int):
    return conn.execute(select(m.DivisionRevision.labels, m.DivisionRevision.grids).where(
        m.DivisionRevision.division_id == division_id, m.DivisionRevision.revision == revision)).one_or_none()


def load_draft(conn: Connection, division_id: int, *, for_update: bool = False) -> Draft:
    """A division with its current assignment and grid attributes."""
    row = _division_row(conn, division_id, for_update=for_update)
    crs = CRS.from_user_input(row["settings"]["crs"])
    layer = layer_context(conn, row["atom_layer_id"], crs)
    snap = _snapshot(conn, division_id, row["revision"])
    if snap is None:
        raise RuntimeError(f"division {division_id} has no snapshot of revision {row['revision']}")
    grids = {int(label): attrs for label, attrs in snap.grids.items()}
    target = int(row["settings"].get("band", {}).get("target", (row["band_min"] + row["band_max"]) // 2))
    band = Band(row["band_min"], row["band_max"], min(max(target, row["band_min"]), row["band_max"]))
    return Draft(row["id"], row["community_code"], row["version"], row["status"], row["revision"], band,
                 row["settings"], layer, edits.Assignment(np.asarray(snap.labels, dtype=np.int32)), grids)


# -- saving -----------------------------------------------------------------------------------------

def _grid_ids(conn: Connection, division_id: int) -> dict[int, int]:
    return dict(conn.execute(select(m.Grid.label, m.Grid.id).where(m.Grid.division_id == division_id)).all())


def _quality(checks: LiveChecks) -> dict[int, dict]:
    return {row["label"]: {k: v for k, v in row.items() if k != "label"} for row in checks.to_dict()["grids"]}


def store_revision(conn: Connection, draft: Draft, labels: edits.Assignment, grids: dict[int, dict], *,
                   op: str, description: str, user_id: int | None = None) -> int:
    """Write a new assignment and grid attributes as the next revision of ``draft``.

    Runs in ``conn``'s transaction; returns the new revision number.
    """
    old, new = draft.labels.labels, labels.labels
    present = set(np.unique(new[new >= 0]).tolist())
    grids = {label: grids.get(label, {"name": None, "type": "comprehensive", "subtype": None, "locked": False,
                                      "code": None}) for label in sorted(present)}
    ids = _grid_ids(conn, draft.id)
    created = sorted(present - ids.keys())
    if created:
        rows = [{"division_id": draft.id, "label": label, **{k: grids[label].get(k) for k in GRID_ATTRIBUTES}}
                for label in created]
        for row in rows:
            row["locked"] = bool(row["locked"])
            row["type"] = row["type"] or "comprehensive"
        ids.update(conn.execute(insert(m.Grid).returning(m.Grid.label, m.Grid.id, sort_by_parameter_order=True),
                                rows).all())
    moved = np.flatnonzero(old != new)
    if len(moved):
        conn.execute(text("""
            UPDATE grid_atom ga SET grid_id = v.grid_id
            FROM unnest(CAST(:atoms AS bigint[]), CAST(:grids AS int[])) AS v(atom_id, grid_id)
            WHERE ga.division_id = :division AND ga.atom_id = v.atom_id"""),
                     {"atoms": draft.layer.atom_pk[moved].tolist(), "grids": [ids[int(g)] for g in new[moved]],
                      "division": draft.id})
    removed = sorted(set(ids) - present)
    if removed:
        conn.execute(delete(m.Grid).where(m.Grid.division_id == draft.id, m.Grid.label.in_(removed)))
    touched = sorted({int(g) for g in old[moved]} | {int(g) for g in new[moved]} | set(created)) if len(moved) \
        else sorted(created)
    touched = [ids[label] for label in touched if label in present]
    if touched:
        conn.execute(text("""
            UPDATE grid g SET geom = u.geom, households = u.households, population = u.population
            FROM (SELECT ga.grid_id, ST_Multi(ST_Union(a.geom)) AS geom, sum(a.households) AS households,
                         sum(a.population) AS population
                  FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                  WHERE ga.division_id = :division AND ga.grid_id = ANY(:grids) GROUP BY ga.grid_id) u
            WHERE g.id = u.grid_id""").bindparams(bindparam("grids", type_=ARRAY(Integer))),
                     {"division": draft.id, "grids": touched})
        # Micro-grids of a grid whose atoms changed no longer fit it: they are rebuilt on request
        # (op 'micro_grids') and before submission.
        conn.execute(delete(m.MicroGrid).where(m.MicroGrid.grid_id.in_(touched)))
    attrs = [{"gid": ids[label], **{k: grids[label].get(k) for k in ("name", "type", "subtype", "locked", "code")}}
             for label in sorted(present)]
    for row in attrs:
        row["locked"], row["type"] = bool(row["locked"]), row["type"] or "comprehensive"
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(
        name=bindparam("name"), type=bindparam("type"), subtype=bindparam("subtype"), locked=bindparam("locked"),
        code=bindparam("code")), attrs)
    after = Draft(**{**draft.__dict__, "labels": labels, "grids": grids})
    quality = _quality(after.checks())
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(quality=bindparam("q")),
                 [{"gid": ids[label], "q": quality.get(label, {})} for label in sorted(present)])
    revision = draft.revision + 1
    conn.execute(update(m.Division).where(m.Division.id == draft.id).values(revision=revision))
    conn.execute(insert(m.DivisionRevision).values(
        division_id=draft.id, revision=revision, op=op, description=description, labels=new.tolist(),
        grids={str(k): v for k, v in grids.items()}, user_id=user_id))
    conn.execute(insert(m.AuditLog).values(
        user_id=user_id, action=f"division.{op}", entity="division", entity_id=str(draft.id),
        before={"revision": draft.revision}, after={"revision": revision, "description": description}))
    return revision


# -- the edit operations ----------------------------------------------------------------------------

def _int(body: dict, name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"field '{name}' must be a whole number, got {value!r}")
    return value


def _ints(body: dict, name: str) -> list[int]:
    value = body.get(name)
    if not isinstance(value, list) or not value or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise BadRequest(f"field '{name}' must be a non-empty list of whole numbers, got {value!r}")
    return value


def _shape(body: dict, name: str, crs: CRS) -> shapely.Geometry:
    """A GeoJSON geometry in lon/lat (EPSG:4490) → shapely in the layer's metric CRS."""
    value = body.get(name)
    try:
        geom = shapely.geometry.shape(value)
    except (TypeError, ValueError, KeyError, AttributeError, shapely.errors.GEOSException):
        raise BadRequest(f"field '{name}' must be a GeoJSON geometry, got {str(value)[:80]!r}") from None
    if geom.is_empty:
        raise BadRequest(f"field '{name}' is an empty geometry")
    return gpd.GeoSeries([geom], crs=SRID).to_crs(crs).iloc[0]


def _grid_attrs(draft: Draft, body: dict) -> tuple[dict[int, dict], str]:
    label = _int(body, "grid")
    if label not in draft.grids:
        raise BadRequest(f"grid {label} is not in division {draft.id}")
    attrs = dict(draft.grids[label])
    changed = []
    for key in ("name", "type", "subtype", "locked"):
        if key not in body:
            continue
        value = body[key]
        if key == "locked" and not isinstance(value, bool):
            raise BadRequest(f"field 'locked' must be true or false, got {value!r}")
        if key == "type" and value not in m.GRID_TYPES:
            raise BadRequest(f"field 'type' must be one of {', '.join(m.GRID_TYPES)}, got {value!r}")
        if key in ("name", "subtype") and value is not None and (not isinstance(value, str) or len(value) > 64):
            raise BadRequest(f"field '{key}' must be a text of at most 64 characters, got {value!r}")
        attrs[key] = value.strip() if isinstance(value, str) else value
        changed.append(key)
    if not changed:
        raise BadRequest("set_grid needs at least one of name, type, subtype, locked")
    grids = {**draft.grids, label: attrs}
    return grids, f"grid {label}: set {', '.join(f'{k}={attrs[k]!r}' for k in changed)}"


def _attrs_after(draft: Draft, result: edits.EditResult) -> dict[int, dict]:
    """Grid attributes after an edit: created grids start blank (no code until filed)."""
    grids = {label: dict(attrs) for label, attrs in draft.grids.items() if label not in result.change.removed}
    for label in result.change.created:
        grids[label] = {"name": None, "type": "comprehensive", "subtype": None, "locked": False, "code": None}
    for label in result.change.exclusive:
        sites = draft.layer.context.atoms["site"].to_numpy()[result.assignment.labels == label]
        grids[label] = {**grids.get(label, {}), "type": "exclusive",
                        "subtype": next((s for s in sites if isinstance(s, str)), None)}
    return grids


def _reshape(draft: Draft, grid: int, outline: shapely.Geometry) -> edits.EditResult:
    """A grid's outline dragged to ``outline``: the boundary with one neighbour moves to follow it.

    The area between the old and the new outline is swept; the neighbour is the grid the new outline
    takes most households from, or, when the grid only shrinks, the one sharing the longest boundary
    with what it gives up. Atoms follow by their representative points (snapping to atom edges).
    """
    if not isinstance(outline, shapely.Polygon | shapely.MultiPolygon):
        raise BadRequest(f"field 'shape' must be the grid's new outline (a Polygon), got {outline.geom_type}")
    ctx, lab = draft.layer.context, draft.labels.labels
    if grid not in draft.grids:
        raise BadRequest(f"grid {grid} is not in division {draft.id}")
    inside = shapely.contains_xy(outline, ctx.rep_x, ctx.rep_y)
    gained, lost = inside & (lab != grid), ~inside & (lab == grid)
    if gained.any():
        weights = pd.Series(ctx.households[gained] + 1, index=lab[gained]).groupby(level=0).sum()
        neighbour = int(weights.idxmax())
    elif lost.any():
        ends = np.concatenate([ctx.edge_b[lost[ctx.edge_a]], ctx.edge_a[lost[ctx.edge_b]]])
        lengths = np.concatenate([ctx.edge_length[lost[ctx.edge_a]], ctx.edge_length[lost[ctx.edge_b]]])
        other = lab[ends] != grid
        if not other.any():
            raise BadRequest(f"the new outline of grid {grid} gives up atoms that touch no other grid")
        neighbour = int(pd.Series(lengths[other], index=lab[ends][other]).groupby(level=0).sum().idxmax())
    else:
        raise BadRequest(f"the new outline of grid {grid} takes in or gives up no atom: drag the boundary further, "
                         "past the middle of an atom")
    old = shapely.union_all(ctx.geometry[lab == grid])
    return edits.move_boundary(ctx, draft.labels, grid, neighbour, shapely.symmetric_difference(old, outline),
                               locked=draft.locked)


def apply_edit(draft: Draft, body: dict) -> tuple[edits.Assignment, dict[int, dict], str, dict]:
    """Apply the edit described by ``body`` (see the API docs) to ``draft``; nothing is stored here.

    Returns the new assignment, the new grid attributes, a description and a JSON-ready summary of
    the change. Bad requests raise :class:`~server.errors.BadRequest` naming the field.
    """
    op = body.get("op")
    ctx, labels, locked = draft.layer.context, draft.labels, draft.locked
    try:
        if op == "set_grid":
            grids, description = _grid_attrs(draft, body)
            return labels, grids, description, {"op": op}
        if op == "restore":
            raise BadRequest("op 'restore' is handled by restore_revision")  # kept out of the table below
        if op == "paint":
            result = edits.paint(ctx, labels, _ints(body, "atoms"), _int(body, "grid"), locked=locked)
        elif op == "new_grid":
            result = edits.new_grid(ctx, labels, _ints(body, "atoms"), locked=locked)
        elif op == "merge":
            result = edits.merge(ctx, labels, _int(body, "a"), _int(body, "b"), locked=locked)
        elif op == "delete_grid":
            result = edits.delete_grid(ctx, labels, _int(body, "grid"), _int(body, "into"), locked=locked)
        elif op == "split":
            line = _shape(body, "line", draft.layer.crs)
            if not isinstance(line, shapely.LineString):
                raise BadRequest(f"field 'line' must be a LineString, got {line.geom_type}")
            result = edits.split_by_line(ctx, labels, _int(body, "grid"), line, locked=locked)
        elif op == "move_boundary":
            result = edits.move_boundary(ctx, labels, _int(body, "a"), _int(body, "b"),
                                         _shape(body, "shape", draft.layer.crs), locked=locked)
        elif op == "reshape":
            result = _reshape(draft, _int(body, "grid"), _shape(body, "shape", draft.layer.crs))
        elif op == "auto_divide":
            seed = body.get("seed", draft.settings.get("seed", 0))
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise BadRequest(f"field 'seed' must be a whole number >= 0, got {seed!r}")
            result = edits.auto_divide(ctx, labels, PartitionSettings(band=draft.band, seed=seed), locked=locked)
        elif op == "rebalance":
            result = edits.rebalance_unlocked(ctx, labels, draft.band, locked=locked,
                                              exclusive=draft.exclusive & set(labels.grids.tolist()))
        else:
            raise BadRequest(f"field 'op' must be one of paint, new_grid, merge, delete_grid, split, move_boundary, "
                             f"reshape, auto_divide, rebalance, set_grid, restore; got {op!r}")
    except InputError as exc:
        raise BadRequest(str(exc)) from None
    c = result.change
    summary = {"op": c.op, "atoms_moved": list(c.atoms_moved), "households_moved": c.households_moved,
               "grids_touched": list(c.grids_touched), "created": list(c.created), "removed": list(c.removed),
               "attached": list(c.attached), "findings": [f.message for f in c.findings]}
    return result.assignment, _attrs_after(draft, result), c.description, summary


def _check_writable(draft: Draft, revision: object) -> None:
    if draft.status not in EDITABLE:
        raise Conflict(f"division {draft.id} (version {draft.version}) is {draft.status} and can no longer be "
                       "edited; start a new draft from it instead")
    if isinstance(revision, bool) or not isinstance(revision, int):
        raise BadRequest("field 'revision' (or an If-Match header) must give the revision you edited, "
                         f"got {revision!r}")
    if revision != draft.revision:
        raise Conflict(f"division {draft.id} was changed by someone else since you loaded it (you edited revision "
                       f"{revision}, it is now at revision {draft.revision}); your edit was not applied — reload to "
                       "see their changes, then redo yours")


def edit_division(engine: Engine, division_id: int, body: dict, *, user_id: int | None = None) -> dict:
    """Apply one edit as a new revision, all or nothing; return the JSON answer for the editor."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with 'op' and 'revision'")
    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        _check_writable(draft, body.get("revision"))
        if body.get("op") == "restore":
            target = _int(body, "to_revision")
            snap = _snapshot(conn, division_id, target)
            if snap is None:
                raise BadRequest(f"division {division_id} has no revision {target}")
            labels = edits.Assignment(np.asarray(snap.labels, dtype=np.int32))
            grids = {int(k): v for k, v in snap.grids.items()}
            description, change = f"restored revision {target}", {"op": "restore", "to_revision": target}
        else:
            labels, grids, description, change = apply_edit(draft, body)
        revision = store_revision(conn, draft, labels, grids, op=change["op"], description=description,
                                  user_id=user_id)
        after = load_draft(conn, division_id)
    return {"division": division_summary(after), "change": {**change, "description": description},
            "checks": checks_for_client(after), "revision": revision}


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


def division_summary(draft: Draft) -> dict:
    """The division's header for the editor."""
    return {"id": draft.id, "community_code": draft.community_code, "version": draft.version,
            "status": draft.status, "revision": draft.revision,
            "band": {"min": draft.band.min, "max": draft.band.max, "target": draft.band.target},
            "grids": {str(k): v for k, v in sorted(draft.grids.items())}}


# -- new draft from a version -----------------------------------------------------------------------

def copy_division(engine: Engine, community_code: str, source_id: int, *, user_id: int | None = None) -> int:
    """A new draft of ``community_code`` holding exactly what division ``source_id`` holds now.

    Grids keep their labels and codes, so codes carry through review. Returns the new division id.
    """
    with engine.begin() as conn:
        source = _division_row(conn, source_id)
        if source["community_code"] != community_code:
            raise BadRequest(f"division {source_id} belongs to community {source['community_code']}, "
                             f"not {community_code}")
        snap = _snapshot(conn, source_id, source["revision"])
        version = conn.execute(text("SELECT coalesce(max(version), 0) + 1 FROM division WHERE community_code = :c"),
                               {"c": community_code}).scalar_one()
        new_id = conn.execute(insert(m.Division).values(
            community_code=community_code, version=version, status="draft", parent_id=source_id,
            atom_layer_id=source["atom_layer_id"], band_min=source["band_min"], band_max=source["band_max"],
            settings=source["settings"], report=source["report"], author_id=user_id).returning(m.Division.id)
        ).scalar_one()
        params = {"new": new_id, "old": source_id}
        conn.execute(text("""
            INSERT INTO grid (division_id, label, code, name, type, subtype, locked, households, population,
                              quality, geom)
            SELECT :new, label, code, name, type, subtype, locked, households, population, quality, geom
            FROM grid WHERE division_id = :old"""), params)
        conn.execute(text("""
            INSERT INTO grid_atom (division_id, atom_id, grid_id)
            SELECT :new, ga.atom_id, ng.id FROM grid_atom ga JOIN grid og ON og.id = ga.grid_id
            JOIN grid ng ON ng.division_id = :new AND ng.label = og.label WHERE ga.division_id = :old"""), params)
        conn.execute(text("""
            INSERT INTO micro_grid (grid_id, label, code, name, households, population, geom)
            SELECT ng.id, mg.label, mg.code, mg.name, mg.households, mg.population, mg.geom
            FROM micro_grid mg JOIN grid og ON og.id = mg.grid_id
            JOIN grid ng ON ng.division_id = :new AND ng.label = og.label WHERE og.division_id = :old"""), params)
        conn.execute(text("""
            INSERT INTO micro_grid_parcel (micro_grid_id, parcel_id)
            SELECT nm.id, mp.parcel_id FROM micro_grid_parcel mp
            JOIN micro_grid om ON om.id = mp.micro_grid_id JOIN grid og ON og.id = om.grid_id
            JOIN grid ng ON ng.division_id = :new AND ng.label = og.label
            JOIN micro_grid nm ON nm.grid_id = ng.id AND nm.label = om.label
            WHERE og.division_id = :old"""), params)
        conn.execute(insert(m.DivisionRevision).values(
            division_id=new_id, revision=1, op="copy", description=f"new draft from version {source['version']}",
            labels=list(snap.labels), grids=snap.grids, user_id=user_id))
        conn.execute(insert(m.AuditLog).values(
            user_id=user_id, action="division.copy", entity="division", entity_id=str(new_id),
            before={"from": source_id}, after={"version": version, "status": "draft"}))
    return new_id


# -- micro-grids ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _layer_parcels(url: str, layer_id: int, crs_text: str) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    from server.store.db import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            parcels = gpd.read_postgis(text("""
                SELECT id AS pk, parcel_no AS parcel_id, atom_no, households, population, geom
                FROM parcel WHERE layer_id = :layer ORDER BY parcel_no"""), conn, geom_col="geom",
                                       params={"layer": layer_id})
            edges = pd.read_sql(text("SELECT a, b, length, barrier_length FROM parcel_edge WHERE layer_id = :layer"),
                                conn, params={"layer": layer_id})
    finally:
        engine.dispose()
    parcels = parcels.set_crs(SRID, allow_override=True).to_crs(CRS.from_user_input(crs_text))
    return parcels.rename_geometry("geometry"), edges


def rebuild_micro_grids(engine: Engine, division_id: int, revision: object = None, *,
                        user_id: int | None = None) -> int:
    """Divide every grid of a draft that has no micro-grids (its atoms changed) into micro-grids.

    Returns how many micro-grids were made. Micro-grids are derived from the assignment, so this
    does not make a new revision; it refuses read-only divisions.
    """
    from gis.codes import micro_codes, order_grids
    from gis.microgrids import divide_micro

    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        if draft.status not in EDITABLE:
            raise Conflict(f"division {division_id} is {draft.status}: its micro-grids are filed with it")
        if revision is not None and revision != draft.revision:
            _check_writable(draft, revision)
        bare = dict(conn.execute(text("""
            SELECT g.label, g.id FROM grid g WHERE g.division_id = :d
            AND NOT EXISTS (SELECT 1 FROM micro_grid mg WHERE mg.grid_id = g.id)"""), {"d": division_id}).all())
        if not bare:
            return 0
        url = conn.engine.url.render_as_string(hide_password=False)
        with _cache_lock:
            parcels, edges = _layer_parcels(url, conn.execute(select(m.Division.atom_layer_id).where(
                m.Division.id == division_id)).scalar_one(), draft.layer.crs.to_string())
        grid_of_parcel = pd.Series(draft.labels.labels[parcels["atom_no"].to_numpy()], index=parcels["parcel_id"])
        wanted = grid_of_parcel[grid_of_parcel.isin(list(bare))]
        mine = parcels[parcels["parcel_id"].isin(wanted.index)]
        ids = set(mine["parcel_id"])
        mine_edges = edges[edges["a"].isin(ids) & edges["b"].isin(ids)]
        micro = divide_micro(mine, mine_edges, wanted, band=Band.micro(), seed=int(draft.settings.get("seed", 0)))
        grid_of_micro = micro.attrs["grid"]
        frame = mine.assign(micro=mine["parcel_id"].map(micro))
        dissolved = frame.dissolve(by="micro", aggfunc={"households": "sum", "population": "sum"})
        first = conn.execute(text("""SELECT coalesce(max(mg.label), -1) + 1 FROM micro_grid mg
                                     JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d"""),
                             {"d": division_id}).scalar_one()
        codes: dict[int, str | None] = {}
        for grid_label, group in dissolved.groupby(dissolved.index.map(grid_of_micro)):
            code = draft.grids.get(int(grid_label), {}).get("code")
            if code:
                codes.update(micro_codes(code, order_grids(group.assign(label=group.index))).to_dict())
        geoms = dissolved.geometry.to_crs(SRID)
        rows = [{"grid_id": bare[int(grid_of_micro[label])], "label": first + int(label),
                 "code": codes.get(label), "households": int(r.households), "population": int(r.population),
                 "geom": geom_value(geoms.loc[label])} for label, r in dissolved.iterrows()]
        made = dict(conn.execute(insert(m.MicroGrid).returning(m.MicroGrid.label, m.MicroGrid.id,
                                                               sort_by_parameter_order=True), rows).all())
        pk = dict(zip(mine["parcel_id"], mine["pk"], strict=True))
        conn.execute(insert(m.MicroGridParcel), [{"micro_grid_id": made[first + int(label)], "parcel_id": int(pk[p])}
                                                 for p, label in micro.items()])
        conn.execute(insert(m.AuditLog).values(
            user_id=user_id, action="division.micro_grids", entity="division", entity_id=str(division_id),
            before=None, after={"grids": sorted(int(g) for g in bare), "micro_grids": len(rows)}))
    return len(rows)


# -- import of a hand-drawn division ----------------------------------------------------------------

def _read_drawing(path: Path) -> gpd.GeoDataFrame:
    import pyogrio

    source = f"/vsizip/{path}" if path.suffix == ".zip" else str(path)
    try:
        layers = pyogrio.list_layers(source)
    except Exception as exc:  # GDAL says why it cannot read the file
        raise BadRequest(f"cannot read the drawing {path.name}: {exc}") from None
    polygon_layers = [name for name, kind in layers if kind and "Polygon" in kind] or [name for name, _ in layers]
    if not polygon_layers:
        raise BadRequest(f"the drawing {path.name} holds no layer")
    drawn = gpd.read_file(source, layer=polygon_layers[0], engine="pyogrio")
    if drawn.crs is None:
        raise BadRequest(f"the drawing {path.name} declares no coordinate system: save it with one (e.g. EPSG:4490)")
    for row, geom in enumerate(drawn.geometry, start=1):
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise BadRequest(f"feature {row} of {path.name} is not a polygon "
                             f"(got {getattr(geom, 'geom_type', None)}); draw each grid as a polygon")
    return drawn.assign(geometry=shapely.make_valid(drawn.geometry.to_numpy()))


def _drawing_key(drawn: gpd.GeoDataFrame, key: str | None) -> str:
    if key is not None:
        if key not in drawn.columns:
            raise BadRequest(f"field 'key': the drawing has no column {key!r} "
                             f"(columns: {', '.join(c for c in drawn.columns if c != 'geometry')})")
        return key
    for candidate in ("name", "code", "grid", "网格名称", "网格编码"):
        if candidate in drawn.columns:
            return candidate
    return ""


def import_drawing(engine: Engine, division_id: int, path: Path, revision: int, *, key: str | None = None,
                   user_id: int | None = None) -> dict:
    """Snap a hand-drawn division onto the draft's atoms and store it as the next revision.

    Each atom goes to the drawn grid covering most of it. The answer's ``change.report`` lists atoms
    the drawing cuts (their households are the ones whose grid may differ from the drawing), atoms
    no drawn grid covers, drawn grids that got no atom, and the grids failing the checks.
    """
    from gis.snap import snap_division

    drawn = _read_drawing(Path(path))
    column = _drawing_key(drawn, key)
    if not column:
        drawn = drawn.assign(_key=[f"{i}" for i in range(1, len(drawn) + 1)])
        column = "_key"
    drawn = drawn.assign(**{column: drawn[column].astype(str)})
    with engine.begin() as conn:
        draft = load_draft(conn, division_id, for_update=True)
        _check_writable(draft, revision)
        ctx = draft.layer.context
        atoms = ctx.atoms[["atom_id", "households", "geometry"]]
        try:
            snapped = snap_division(atoms, drawn, key=column)
        except InputError as exc:
            raise BadRequest(str(exc)) from None
        keys = snapped.labels.reindex(ctx.atom_ids).to_numpy()
        new, grids = _labels_for_keys(draft, keys)
        split = snapped.split_atoms
        report = {
            "drawn_grids": int(drawn[column].nunique()),
            "split_atoms": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items() if k != "others"}
                            for r in split.to_dict("records")],
            "households_in_split_atoms": int(split["households"].sum()) if len(split) else 0,
            "unmatched_atoms": [int(a) for a in snapped.unmatched_atoms["atom_id"]],
            "empty_grids": [str(k) for k in snapped.empty_grids],
        }
        description = (f"imported {Path(path).name}: {len(grids)} grids; {len(split)} atoms cut by the drawing "
                       f"({report['households_in_split_atoms']} households placed by majority area)")
        new_revision = store_revision(conn, draft, edits.Assignment(new), grids, op="import",
                                      description=description, user_id=user_id)
        after = load_draft(conn, division_id)
    report["failing_grids"] = sorted({p.grid for p in after.checks().errors if p.grid is not None})
    return {"division": division_summary(after), "revision": new_revision, "checks": checks_for_client(after),
            "change": {"op": "import", "description": description, "report": report}}


def _labels_for_keys(draft: Draft, keys: np.ndarray) -> tuple[np.ndarray, dict[int, dict]]:
    """Labels for drawn grids, keeping what can be kept.

    A drawn grid that is essentially an existing grid (80% of households both ways) keeps its
    label, code and attributes; the others get new labels named after the key.
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
            grids[label] = {**draft.grids.get(label, {}), "name": draft.grids.get(label, {}).get("name") or key}
        else:
            label, next_label = next_label, next_label + 1
            grids[label] = {"name": key, "type": "comprehensive", "subtype": None, "locked": False, "code": None}
        taken.add(label)
        new[members] = label
    return new, grids


# -- export -----------------------------------------------------------------------------------------

def _export_frames(conn: Connection, division_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    grids = gpd.read_postgis(text("""
        SELECT code, label, coalesce(name, '') AS name, type, coalesce(subtype, '') AS subtype, households,
               population, locked, geom FROM grid WHERE division_id = :d ORDER BY label"""), conn, geom_col="geom",
                             params={"d": division_id}).set_crs(SRID, allow_override=True)
    micro = gpd.read_postgis(text("""
        SELECT mg.code, g.code AS grid_code, g.label AS grid, mg.households, mg.population, mg.geom
        FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d ORDER BY mg.label"""), conn,
                             geom_col="geom", params={"d": division_id}).set_crs(SRID, allow_override=True)
    return grids, micro


def export_division(engine: Engine, division_id: int, fmt: str) -> bytes:
    """The division as ``geojson``, ``gpkg``, ``shp`` (zipped), ``png`` or ``pdf`` bytes."""
    import tempfile

    from gis.io import write_layers

    with engine.connect() as conn:
        row = _division_row(conn, division_id)
        grids, micro = _export_frames(conn, division_id)
        if fmt == "geojson":
            from server.services.divisions import grids_geojson

            return to_json(grids_geojson(conn, division_id)).encode()
        community = conn.execute(select(m.AdminArea.name).where(m.AdminArea.code == row["community_code"])
                                 ).scalar_one_or_none() or row["community_code"]
    if fmt in ("png", "pdf"):
        from server.services.printing import STATUS_ZH, division_map

        return division_map(grids, title=f"{community}（{row['community_code']}）第 {row['version']} 版 · "
                                         f"{STATUS_ZH.get(row['status'], row['status'])}", fmt=fmt,
                            crs=CRS.from_user_input(row["settings"]["crs"]))
    suffix = {"gpkg": ".gpkg", "shp": ".zip"}[fmt]
    layers = {"grids": grids.astype({"locked": int}) if fmt == "shp" else grids}
    if len(micro):
        layers["micro_grids"] = micro
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"division{suffix}"
        write_layers(path, layers)
        return path.read_bytes()
