"""All SQL of divisions: the one division loader, atom layers, revisions, grids, micro-grids, exports.

Services (:mod:`server.services.editing`, :mod:`server.services.divisions`, review) call these
functions inside the transaction they hold; nothing here commits. Statements are SQLAlchemy
expressions, or ``text()`` with bound parameters where PostGIS aggregates read better as SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Integer

from server.store import models as m
from server.store.features import feature_collection, geom_value

log = logging.getLogger(__name__)

SRID = m.SRID
GRID_ATTRIBUTES = ("name", "type", "subtype", "locked", "code")


# -- the division row -----------------------------------------------------------------------------

def load_division(conn: Connection, division_id: int, *, lock: bool = False) -> Mapping[str, Any] | None:
    """The division row (every column) or None: the one loader editing, review and the API share.

    ``lock`` takes a row lock (``SELECT ... FOR UPDATE``) so concurrent saves serialise on it.
    """
    query = select(m.Division).where(m.Division.id == division_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().one_or_none()


def community_name(conn: Connection, code: str) -> str | None:
    """The name of an administrative area."""
    return conn.execute(select(m.AdminArea.name).where(m.AdminArea.code == code)).scalar_one_or_none()


def next_version(conn: Connection, community_code: str) -> int:
    """The version number a new division of the community gets."""
    return conn.execute(select(func.coalesce(func.max(m.Division.version), 0) + 1)
                        .where(m.Division.community_code == community_code)).scalar_one()


def set_revision(conn: Connection, division_id: int, revision: int) -> None:
    """Point the division at its newest revision."""
    conn.execute(update(m.Division).where(m.Division.id == division_id).values(revision=revision))


def audit(conn: Connection, *, user_id: int | None, action: str, division_id: int, before: Any, after: Any) -> None:
    """One audit row about a division."""
    conn.execute(insert(m.AuditLog).values(user_id=user_id, action=action, entity="division",
                                           entity_id=str(division_id), before=before, after=after))


# -- atom layers -----------------------------------------------------------------------------------

def read_atom_layer(conn: Connection, layer_id: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Atoms (``pk``, ``atom_id``, counts, ``geom`` in EPSG:4490) in atom_no order, and their edges."""
    atoms = gpd.read_postgis(select(m.Atom.id.label("pk"), m.Atom.atom_no.label("atom_id"), m.Atom.kind,
                                    m.Atom.households, m.Atom.population, m.Atom.site, m.Atom.compound,
                                    m.Atom.geom).where(m.Atom.layer_id == layer_id).order_by(m.Atom.atom_no),
                             conn, geom_col="geom")
    edges = pd.read_sql(select(m.AtomEdge.a, m.AtomEdge.b, m.AtomEdge.length, m.AtomEdge.barrier_length)
                        .where(m.AtomEdge.layer_id == layer_id), conn)
    return atoms.set_crs(SRID, allow_override=True), edges


def read_parcel_layer(conn: Connection, layer_id: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Building parcels of an atom layer (EPSG:4490) in parcel_no order, and their edges."""
    parcels = gpd.read_postgis(select(m.Parcel.id.label("pk"), m.Parcel.parcel_no.label("parcel_id"),
                                      m.Parcel.atom_no, m.Parcel.households, m.Parcel.population, m.Parcel.geom)
                               .where(m.Parcel.layer_id == layer_id).order_by(m.Parcel.parcel_no),
                               conn, geom_col="geom")
    edges = pd.read_sql(select(m.ParcelEdge.a, m.ParcelEdge.b, m.ParcelEdge.length, m.ParcelEdge.barrier_length)
                        .where(m.ParcelEdge.layer_id == layer_id), conn)
    return parcels.set_crs(SRID, allow_override=True), edges


def community_extent(conn: Connection, code: str) -> tuple[float, float, float, float] | None:
    """The bounding box (lon/lat) of a community's outline."""
    row = conn.execute(select(func.ST_XMin(func.ST_Extent(m.AdminArea.geom)),
                              func.ST_YMin(func.ST_Extent(m.AdminArea.geom)),
                              func.ST_XMax(func.ST_Extent(m.AdminArea.geom)),
                              func.ST_YMax(func.ST_Extent(m.AdminArea.geom)))
                       .where(m.AdminArea.code == code)).one_or_none()
    return None if row is None or row[0] is None else tuple(float(v) for v in row)


# -- revisions -------------------------------------------------------------------------------------

def snapshot(conn: Connection, division_id: int, revision: int):
    """``(labels, grids)`` of one stored revision, or None."""
    return conn.execute(select(m.DivisionRevision.labels, m.DivisionRevision.grids).where(
        m.DivisionRevision.division_id == division_id, m.DivisionRevision.revision == revision)).one_or_none()


def revision_ops(conn: Connection, division_id: int) -> list[tuple[int, str]]:
    """``(revision, op)`` of every stored revision, oldest first: what undo and redo walk."""
    return [tuple(r) for r in conn.execute(
        select(m.DivisionRevision.revision, m.DivisionRevision.op)
        .where(m.DivisionRevision.division_id == division_id).order_by(m.DivisionRevision.revision)).all()]


def history(conn: Connection, division_id: int) -> list[dict]:
    """Every revision with who made it, oldest first."""
    rows = conn.execute(select(m.DivisionRevision.revision, m.DivisionRevision.op, m.DivisionRevision.description,
                               m.DivisionRevision.created_at, m.User.username)
                        .join(m.User, m.User.id == m.DivisionRevision.user_id, isouter=True)
                        .where(m.DivisionRevision.division_id == division_id)
                        .order_by(m.DivisionRevision.revision)).mappings().all()
    return [dict(r) for r in rows]


def insert_revision(conn: Connection, *, division_id: int, revision: int, op: str, description: str,
                    labels: list[int], grids: dict, user_id: int | None) -> None:
    """Store a full snapshot as a revision."""
    conn.execute(insert(m.DivisionRevision).values(division_id=division_id, revision=revision, op=op,
                                                   description=description, labels=labels, grids=grids,
                                                   user_id=user_id))


# -- grids of a draft ------------------------------------------------------------------------------

def grid_ids(conn: Connection, division_id: int) -> dict[int, int]:
    """``label -> grid.id`` of a division."""
    return dict(conn.execute(select(m.Grid.label, m.Grid.id).where(m.Grid.division_id == division_id)).all())


def insert_grids(conn: Connection, rows: list[dict]) -> dict[int, int]:
    """New grid rows; returns ``label -> id``."""
    return dict(conn.execute(insert(m.Grid).returning(m.Grid.label, m.Grid.id, sort_by_parameter_order=True),
                             rows).all())


def move_atoms(conn: Connection, division_id: int, atom_pks: list[int], grid_ids_: list[int]) -> None:
    """Point each atom (by primary key) at its new grid (by id)."""
    conn.execute(text("""
        UPDATE grid_atom ga SET grid_id = v.grid_id
        FROM unnest(CAST(:atoms AS bigint[]), CAST(:grids AS int[])) AS v(atom_id, grid_id)
        WHERE ga.division_id = :division AND ga.atom_id = v.atom_id"""),
                 {"atoms": atom_pks, "grids": grid_ids_, "division": division_id})


def delete_grids(conn: Connection, division_id: int, labels: Iterable[int]) -> None:
    """Remove grids (their atoms have moved away)."""
    conn.execute(delete(m.Grid).where(m.Grid.division_id == division_id, m.Grid.label.in_(list(labels))))


def refresh_grid_geometry(conn: Connection, division_id: int, grid_ids_: list[int]) -> None:
    """Recompute the outline and counts of grids from their atoms; drop their (now stale) micro-grids.

    Micro-grids of a grid whose atoms changed no longer fit it: they are rebuilt on request and
    before submission.
    """
    conn.execute(text("""
        UPDATE grid g SET geom = u.geom, households = u.households, population = u.population
        FROM (SELECT ga.grid_id, ST_Multi(ST_Union(a.geom)) AS geom, sum(a.households) AS households,
                     sum(a.population) AS population
              FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
              WHERE ga.division_id = :division AND ga.grid_id = ANY(:grids) GROUP BY ga.grid_id) u
        WHERE g.id = u.grid_id""").bindparams(bindparam("grids", type_=ARRAY(Integer))),
                 {"division": division_id, "grids": grid_ids_})
    conn.execute(delete(m.MicroGrid).where(m.MicroGrid.grid_id.in_(grid_ids_)))


def update_grid_attributes(conn: Connection, rows: list[dict]) -> None:
    """Rows of ``gid`` plus every attribute of :data:`GRID_ATTRIBUTES`."""
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(
        **{k: bindparam(k) for k in GRID_ATTRIBUTES}), rows)


def update_grid_quality(conn: Connection, rows: list[dict]) -> None:
    """Rows of ``gid`` and ``q`` (the grid's quality figures)."""
    conn.execute(update(m.Grid).where(m.Grid.id == bindparam("gid")).values(quality=bindparam("q")), rows)


# -- a new draft from a version --------------------------------------------------------------------

def copy_division_rows(conn: Connection, source: Mapping[str, Any], version: int, user_id: int | None) -> int:
    """Copy a division's row, grids, grid↔atom assignment and micro-grids into a new draft; its id."""
    new_id = conn.execute(insert(m.Division).values(
        community_code=source["community_code"], version=version, status="draft", parent_id=source["id"],
        atom_layer_id=source["atom_layer_id"], band_min=source["band_min"], band_max=source["band_max"],
        settings=source["settings"], report=source["report"], author_id=user_id).returning(m.Division.id)
    ).scalar_one()
    params = {"new": new_id, "old": source["id"]}
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
    return new_id


# -- micro-grids -----------------------------------------------------------------------------------

def grids_without_micro(conn: Connection, division_id: int) -> dict[int, int]:
    """``label -> id`` of a division's grids that have no micro-grids."""
    has_micro = select(m.MicroGrid.id).where(m.MicroGrid.grid_id == m.Grid.id).exists()
    return dict(conn.execute(select(m.Grid.label, m.Grid.id)
                             .where(m.Grid.division_id == division_id, ~has_micro)).all())


def next_micro_label(conn: Connection, division_id: int) -> int:
    """The first unused micro-grid label of a division."""
    return conn.execute(select(func.coalesce(func.max(m.MicroGrid.label), -1) + 1)
                        .join(m.Grid, m.Grid.id == m.MicroGrid.grid_id)
                        .where(m.Grid.division_id == division_id)).scalar_one()


def insert_micro_grids(conn: Connection, rows: list[dict]) -> dict[int, int]:
    """New micro-grid rows; returns ``label -> id``."""
    return dict(conn.execute(insert(m.MicroGrid).returning(m.MicroGrid.label, m.MicroGrid.id,
                                                           sort_by_parameter_order=True), rows).all())


def insert_micro_grid_parcels(conn: Connection, rows: list[dict]) -> None:
    """Which parcels each micro-grid holds."""
    conn.execute(insert(m.MicroGridParcel), rows)


# -- export ----------------------------------------------------------------------------------------

def export_frames(conn: Connection, division_id: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Grids and micro-grids of a division (EPSG:4490) as they are written to files; a missing name stays NULL."""
    grids = gpd.read_postgis(text("""
        SELECT code, label, name, type, subtype, households,
               population, locked, geom FROM grid WHERE division_id = :d ORDER BY label"""), conn, geom_col="geom",
                             params={"d": division_id}).set_crs(SRID, allow_override=True)
    micro = gpd.read_postgis(text("""
        SELECT mg.code, g.code AS grid_code, g.label AS grid, mg.households, mg.population, mg.geom
        FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d ORDER BY mg.label"""), conn,
                             geom_col="geom", params={"d": division_id}).set_crs(SRID, allow_override=True)
    return grids, micro


# -- maps and lists --------------------------------------------------------------------------------

def versions(conn: Connection, community_code: str) -> list[dict]:
    """Every version of a community's division, newest first, with its grid count and households."""
    rows = conn.execute(text("""
        SELECT d.id, d.version, d.status, d.revision, d.parent_id, d.created_at, d.updated_at, d.effective_from,
               d.effective_to, count(g.id) AS n_grids, coalesce(sum(g.households), 0) AS households
        FROM division d LEFT JOIN grid g ON g.division_id = d.id
        WHERE d.community_code = :c GROUP BY d.id ORDER BY d.version DESC"""), {"c": community_code}).mappings()
    return [dict(r) for r in rows]


def grids_geojson(conn: Connection, division_id: int) -> dict:
    """The grids of a division as GeoJSON."""
    return feature_collection(conn, """
        SELECT g.label, g.code, g.name, g.type, g.subtype, g.locked, g.households, g.population, g.quality,
               (SELECT count(*) FROM micro_grid mg WHERE mg.grid_id = g.id) AS n_micro_grids, g.geom
        FROM grid g WHERE g.division_id = :d ORDER BY g.label""", {"d": division_id})


def atoms_geojson(conn: Connection, division_id: int) -> dict:
    """The atoms of a division's layer with their grid label and a point inside each (``px``, ``py``)."""
    return feature_collection(conn, """
        SELECT a.atom_no AS atom, a.kind, a.households, a.site, g.label AS grid,
               round(ST_X(ST_PointOnSurface(a.geom))::numeric, 7) AS px,
               round(ST_Y(ST_PointOnSurface(a.geom))::numeric, 7) AS py, a.geom
        FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id JOIN grid g ON g.id = ga.grid_id
        WHERE ga.division_id = :d ORDER BY a.atom_no""", {"d": division_id})


def micro_grids_geojson(conn: Connection, division_id: int) -> dict:
    """Micro-grids of a division as GeoJSON."""
    return feature_collection(conn, """
        SELECT mg.code, mg.label, g.label AS grid, g.code AS grid_code, mg.households, mg.geom
        FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id WHERE g.division_id = :d ORDER BY mg.label""",
                              {"d": division_id})


def overview_geojson(conn: Connection, area_code: str) -> dict:
    """Communities below an area with the status of their latest division version."""
    return feature_collection(conn, """
        WITH RECURSIVE below AS (
            SELECT code, level FROM admin_area WHERE code = :code
            UNION ALL SELECT a.code, a.level FROM admin_area a JOIN below b ON a.parent_code = b.code)
        SELECT c.code, c.name, c.kind, c.geom,
               (SELECT coalesce(sum(households), 0) FROM building WHERE community_code = c.code) AS households,
               d.id AS division_id, d.version, coalesce(d.status, 'none') AS status,
               (SELECT count(*) FROM grid WHERE division_id = d.id) AS n_grids
        FROM below JOIN admin_area c ON c.code = below.code AND c.level = 'community'
        LEFT JOIN LATERAL (SELECT id, version, status FROM division WHERE community_code = c.code
                           ORDER BY version DESC LIMIT 1) d ON TRUE
        ORDER BY c.code""", {"code": area_code})


# -- which divisions are in force ------------------------------------------------------------------

def communities_below(conn: Connection, code: str) -> list[str]:
    """Codes of the communities below an area, in code order."""
    return list(conn.execute(text("""
        WITH RECURSIVE below AS (
            SELECT code, level FROM admin_area WHERE parent_code = :code
            UNION ALL
            SELECT a.code, a.level FROM admin_area a JOIN below b ON a.parent_code = b.code)
        SELECT code FROM below WHERE level = 'community' ORDER BY code"""), {"code": code}).scalars().all())


def in_force(conn: Connection, on, *, approved_only: bool, communities: list[str] | None) -> dict[str, int]:
    """``community code -> division id`` in force on ``on`` (see ``services.divisions.divisions_in_force``)."""
    rows = conn.execute(text("""
        SELECT DISTINCT ON (d.community_code) d.community_code, d.id FROM division d
        WHERE (CAST(:communities AS text[]) IS NULL OR d.community_code = ANY(CAST(:communities AS text[])))
          AND ((d.status = 'approved' AND d.effective_from <= :on
                AND (d.effective_to IS NULL OR d.effective_to > :on))
               OR (NOT :approved_only AND NOT EXISTS (
                   SELECT 1 FROM division a WHERE a.community_code = d.community_code AND a.status = 'approved'
                   AND a.effective_from <= :on AND (a.effective_to IS NULL OR a.effective_to > :on))))
        ORDER BY d.community_code, (d.status = 'approved') DESC, d.effective_from DESC NULLS LAST,
                 d.version DESC"""), {"on": on, "approved_only": approved_only, "communities": communities}).all()
    return dict(rows)


def retired_codes(conn: Connection, community_code: str) -> list[str]:
    """Codes of the community that were retired: never given again."""
    return list(conn.execute(select(m.GridCode.code).where(m.GridCode.community_code == community_code,
                                                           m.GridCode.retired_at.is_not(None))).scalars())


# -- divisions as jobs: what a community's division is computed from --------------------------------------

_INPUTS_FINGERPRINT = text("""
    WITH area AS (SELECT code, kind, geom FROM admin_area WHERE code = :c)
    SELECT md5(concat_ws('#',
        (SELECT md5(ST_AsBinary(geom)) || coalesce(kind, '') FROM area),
        (SELECT md5(string_agg(concat_ws(',', b.id, b.households, b.population, b.units, b.compound, b.site,
                                         md5(ST_AsBinary(b.geom))), '|' ORDER BY b.id))
         FROM building b WHERE b.community_code = :c),
        (SELECT md5(string_agg(concat_ws(',', r.id, r.kind, md5(ST_AsBinary(r.geom))), '|' ORDER BY r.id))
         FROM barrier r, area WHERE ST_Intersects(r.geom, area.geom)),
        (SELECT md5(string_agg(concat_ws(',', s.id, s.kind, md5(ST_AsBinary(s.geom))), '|' ORDER BY s.id))
         FROM site s, area WHERE s.community_code = :c OR ST_Intersects(s.geom, area.geom))))""")


def inputs_fingerprint(conn: Connection, community_code: str) -> str:
    """A digest of everything a division of the community is computed from (outline, buildings, barriers, sites)."""
    return conn.execute(_INPUTS_FINGERPRINT, {"c": community_code}).scalar_one()


def latest_fingerprint(conn: Connection, community_code: str) -> str | None:
    """The inputs digest kept with the community's newest division version, if any."""
    d = m.Division.__table__
    return conn.execute(select(d.c.settings["inputs"].astext).where(d.c.community_code == community_code)
                        .order_by(d.c.version.desc()).limit(1)).scalar_one_or_none()


def lock_community(conn: Connection, community_code: str) -> None:
    """Hold the community's division lock until the transaction ends (one writer per community)."""
    conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("wangge.divide:" + community_code))))


# -- a community's base data, and a division the engine made -------------------------------------------------

def _frame(conn: Connection, statement, params: dict, columns: list[str]) -> gpd.GeoDataFrame:
    frame = gpd.read_postgis(statement, conn, geom_col="geom", params=params)
    if frame.empty:  # read_postgis loses the CRS and columns of an empty result
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=m.SRID), crs=m.SRID)
    return frame.rename_geometry("geometry").set_crs(m.SRID, allow_override=True)


def area_level(conn: Connection, code: str) -> str | None:
    """The level of an administrative area, or None when no area has that code."""
    return conn.execute(select(m.AdminArea.level).where(m.AdminArea.code == code)).scalar_one_or_none()


def community_header(conn: Connection, code: str):
    """``(name, level, kind, outline WKB)`` of an area, or None."""
    return conn.execute(select(m.AdminArea.name, m.AdminArea.level, m.AdminArea.kind,
                               func.ST_AsBinary(m.AdminArea.geom)).where(m.AdminArea.code == code)).one_or_none()


_BUILDINGS = text("""SELECT b.id, b.households, b.population, b.compound, b.site, b.units, b.geom
                     FROM building b WHERE b.community_code = :code ORDER BY b.id""")
_BARRIERS = text("""SELECT r.kind, r.geom FROM barrier r JOIN admin_area a ON a.code = :code
                    WHERE ST_Intersects(r.geom, a.geom) ORDER BY r.id""")
_SITES = text("""SELECT s.source_id AS id, s.kind, s.name, s.geom FROM site s JOIN admin_area a ON a.code = :code
                 WHERE s.community_code = :code OR ST_Intersects(s.geom, a.geom) ORDER BY s.id""")


def community_base_data(conn: Connection, code: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Buildings (indexed by id), barriers and sites of a community, in EPSG:4490."""
    params = {"code": code}
    buildings = _frame(conn, _BUILDINGS, params, ["id", "households", "population", "compound", "site", "units"])
    return (buildings.set_index("id"), _frame(conn, _BARRIERS, params, ["kind"]),
            _frame(conn, _SITES, params, ["id", "kind", "name"]))


def coded_grids(conn: Connection, division_id: int | None) -> gpd.GeoDataFrame:
    """Coded grids of a stored division (``code``, geometry in EPSG:4490); empty for None."""
    statement = select(m.Grid.code, m.Grid.geom).where(m.Grid.division_id == (-1 if division_id is None
                                                                              else division_id),
                                                      m.Grid.code.is_not(None)).order_by(m.Grid.code)
    return _frame(conn, statement, {}, ["code"])


def community_codes(conn: Connection) -> set[str]:
    """Codes of every community imported."""
    return set(conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "community")).scalars())


def divided_communities(conn: Connection) -> set[str]:
    """Codes of communities that have at least one division version."""
    return set(conn.execute(select(m.Division.community_code)).scalars())


def _storage(frame: gpd.GeoDataFrame) -> gpd.GeoSeries:
    return frame.geometry.to_crs(m.SRID)


def _json_ready(values: dict) -> dict:
    """Turn numpy scalars and NaN into plain JSON values."""
    out = {}
    for key, value in values.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and value != value:  # NaN
            value = None
        out[key] = value
    return out


def insert_engine_division(conn: Connection, result, *, settings: dict, parent_id: int | None = None,
                           author_id: int | None = None) -> tuple[int, int]:
    """Store the atom layer and a new draft version of a community's division (``gis.pipeline.CommunityDivision``).

    Returns
    -------
    tuple
        ``(division id, version)``.
    """
    layer_id, atom_pk, parcel_pk = _insert_atom_layer(conn, result)
    division_id, version = _insert_division_row(conn, result, layer_id, settings, parent_id, author_id)
    grid_pk = _insert_engine_grids(conn, result, division_id, atom_pk, settings, author_id)
    _insert_engine_micro_grids(conn, result, grid_pk, parcel_pk)
    log.info("stored division %s v%d of %s: %d grids, %d micro-grids, %d atoms", division_id, version,
             result.community_code, len(result.division.grids), len(result.micro_grids), len(result.atoms.atoms))
    return division_id, version


def _insert_atom_layer(conn: Connection, result) -> tuple[int, dict, dict]:
    layer = result.atoms
    code = result.community_code
    layer_id = conn.execute(insert(m.AtomLayer).values(community_code=code, params={
        "max_atom_households": result.band.max, "n_atoms": len(layer.atoms), "n_parcels": len(layer.parcels)})
        .returning(m.AtomLayer.id)).scalar_one()

    atoms = layer.atoms
    atom_rows = [{"layer_id": layer_id, "atom_no": int(a.atom_id), "kind": a.kind, "households": int(a.households),
                  "population": int(a.population), "n_buildings": int(a.n_buildings), "site": a.site,
                  "compound": a.compound, "block": None if pd.isna(a.block) else int(a.block),
                  "geom": geom_value(g, multi=False)}
                 for a, g in zip(atoms.itertuples(), _storage(atoms), strict=True)]
    atom_pk = dict(conn.execute(insert(m.Atom).returning(m.Atom.atom_no, m.Atom.id, sort_by_parameter_order=True),
                                atom_rows).all())
    if len(layer.edges):
        conn.execute(insert(m.AtomEdge), [
            {"layer_id": layer_id, "a": int(e.a), "b": int(e.b), "length": float(e.length),
             "barrier_length": float(e.barrier_length)} for e in layer.edges.itertuples()])
    if len(layer.parcel_edges):
        conn.execute(insert(m.ParcelEdge), [
            {"layer_id": layer_id, "a": int(e.a), "b": int(e.b), "length": float(e.length),
             "barrier_length": float(e.barrier_length)} for e in layer.parcel_edges.itertuples()])
    parcels = layer.parcels
    parcel_pk = dict(conn.execute(
        insert(m.Parcel).returning(m.Parcel.parcel_no, m.Parcel.id, sort_by_parameter_order=True),
        [{"layer_id": layer_id, "parcel_no": int(p.parcel_id), "atom_no": int(p.atom_id),
          "households": int(p.households), "population": int(p.population), "geom": geom_value(g, multi=False)}
         for p, g in zip(parcels.itertuples(), _storage(parcels), strict=True)]).all())
    return layer_id, atom_pk, parcel_pk


def _insert_division_row(conn: Connection, result, layer_id: int, settings: dict, parent_id: int | None,
                         author_id: int | None) -> tuple[int, int]:
    code = result.community_code
    version = conn.execute(select(func.coalesce(func.max(m.Division.version), 0) + 1)
                           .where(m.Division.community_code == code)).scalar_one()
    report = {"summary": _json_ready({k: v for k, v in result.summary.items()
                                      if isinstance(v, int | float | str | bool) or hasattr(v, "item")}),
              "findings": [{"code": f.code, "severity": f.severity, "message": f.message,
                            "atoms": [int(a) for a in f.atom_ids],
                            "grid_code": result.grid_codes.get(f.grid) if f.grid is not None else None}
                           for f in result.findings]}
    division_id = conn.execute(insert(m.Division).values(
        community_code=code, version=version, status="draft", parent_id=parent_id, atom_layer_id=layer_id,
        band_min=result.band.min, band_max=result.band.max, settings=settings, report=report,
        author_id=author_id).returning(m.Division.id)).scalar_one()
    return division_id, version


def _insert_engine_grids(conn: Connection, result, division_id: int, atom_pk: dict, settings: dict,
                         author_id: int | None) -> dict:
    division = result.division
    quality = result.quality
    grids = division.grids
    grid_rows = []
    for g, geom in zip(grids.itertuples(), _storage(grids), strict=True):
        q = _json_ready(quality.loc[g.label].to_dict()) if g.label in quality.index else {}
        grid_rows.append({"division_id": division_id, "label": int(g.label), "code": result.grid_codes[g.label],
                          "type": g.kind, "subtype": None if pd.isna(g.subtype) else g.subtype,
                          "locked": bool(g.locked),
                          "households": int(g.households), "population": int(g.population), "quality": q,
                          "geom": geom_value(geom)})
    grid_pk = dict(conn.execute(insert(m.Grid).returning(m.Grid.label, m.Grid.id, sort_by_parameter_order=True),
                                grid_rows).all())
    conn.execute(insert(m.GridAtom), [{"division_id": division_id, "atom_id": atom_pk[int(a)],
                                       "grid_id": grid_pk[int(label)]} for a, label in division.labels.items()])
    conn.execute(insert(m.DivisionRevision).values(
        division_id=division_id, revision=1, op="divide",
        description=f"divided by the engine (seed {settings['seed']})",
        labels=division.labels.sort_index().astype(int).tolist(),
        grids={str(r["label"]): {k: r.get(k) for k in ("name", "type", "subtype", "locked", "code")}
               for r in grid_rows},
        user_id=author_id))
    return grid_pk


def _insert_engine_micro_grids(conn: Connection, result, grid_pk: dict, parcel_pk: dict) -> None:
    micro = result.micro_grids
    grid_of_code = {c: grid_pk[int(label)] for label, c in result.grid_codes.items()}
    micro_pk = dict(conn.execute(
        insert(m.MicroGrid).returning(m.MicroGrid.label, m.MicroGrid.id, sort_by_parameter_order=True),
        [{"grid_id": grid_of_code[mg.grid_code], "label": int(mg.label), "code": mg.code,
          "households": int(mg.households), "population": int(mg.population), "geom": geom_value(geom)}
         for mg, geom in zip(micro.itertuples(), _storage(micro), strict=True)]).all())
    conn.execute(insert(m.MicroGridParcel), [{"micro_grid_id": micro_pk[int(label)], "parcel_id": parcel_pk[int(p)]}
                                             for p, label in result.micro_labels.items()])
