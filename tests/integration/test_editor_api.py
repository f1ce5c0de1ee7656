"""The editing API over a real PostGIS: every edit endpoint, its bad input, concurrency, undo/redo, import, export.

Each test starts its own draft copied from the engine's version 1 of a demo community, so tests do not
see each other's edits. Every assertion about an edit is checked against the database afterwards.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import subprocess
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from sqlalchemy import text

from server import engine_of

pytestmark = pytest.mark.db

COMMUNITY = "320499001001"


@pytest.fixture
def api(editor_app, editor_tokens):
    """Call the API as a demo user: ``api("post", url, user="editor", json=...)``."""
    client = editor_app.test_client()

    def call(method: str, url: str, *, user: str | None = "editor", **kwargs):
        headers = kwargs.pop("headers", {})
        if user is not None:
            headers["Authorization"] = f"Bearer {editor_tokens[user]}"
        return getattr(client, method)(url, headers=headers, **kwargs)
    return call


def sql(app, query: str, **params):
    with engine_of(app).connect() as conn:
        return conn.execute(text(query), params).all()


@pytest.fixture
def draft(api, editor_app):
    """A fresh draft of COMMUNITY: (division id, revision)."""
    first = sql(editor_app, "SELECT id FROM division WHERE community_code = :c AND version = 1", c=COMMUNITY)[0][0]
    response = api("post", f"/api/v1/communities/{COMMUNITY}/divisions", json={"from": first})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["division"]["status"] == "draft" and body["division"]["revision"] == 1
    return body["division"]["id"], 1


def grid_of_atom(app, division_id: int, atom_no: int) -> int:
    return sql(app, """SELECT g.label FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                       JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND a.atom_no = :n""",
               d=division_id, n=atom_no)[0][0]


def boundary_pairs(app, division_id: int):
    """(atom_no, its grid, the neighbouring grid) along internal boundaries, smallest atoms first."""
    return sql(app, """
        SELECT a1.atom_no, g1.label, g2.label FROM division d
        JOIN atom_edge e ON e.layer_id = d.atom_layer_id
        JOIN atom a1 ON a1.layer_id = d.atom_layer_id AND a1.atom_no = e.a
        JOIN atom a2 ON a2.layer_id = d.atom_layer_id AND a2.atom_no = e.b
        JOIN grid_atom ga1 ON ga1.division_id = d.id AND ga1.atom_id = a1.id JOIN grid g1 ON g1.id = ga1.grid_id
        JOIN grid_atom ga2 ON ga2.division_id = d.id AND ga2.atom_id = a2.id JOIN grid g2 ON g2.id = ga2.grid_id
        WHERE d.id = :d AND g1.label <> g2.label AND g1.type = 'comprehensive' AND g2.type = 'comprehensive'
        ORDER BY a1.households, a1.atom_no""", d=division_id)


def paint_one(api, app, division_id: int, revision: int):
    """Paint one boundary atom into its neighbour; returns (atom, from, to, answer)."""
    for atom, source, target in boundary_pairs(app, division_id):
        response = api("post", f"/api/v1/divisions/{division_id}/edits",
                       json={"op": "paint", "atoms": [atom], "grid": target, "revision": revision})
        if response.status_code == 200:
            return atom, source, target, response
        assert response.status_code == 400, response.json  # refused: it would cut its grid in two
    pytest.fail("no atom could be painted")


def test_read_a_draft_with_checks_and_history(api, draft):
    division_id, _ = draft
    response = api("get", f"/api/v1/divisions/{division_id}")
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    body = response.json
    assert body["checks"]["grids"] and "problems" in body["checks"]
    assert [h["op"] for h in body["history"]] == ["copy"]
    grids = api("get", f"/api/v1/divisions/{division_id}/grids").json
    atoms = api("get", f"/api/v1/divisions/{division_id}/atoms").json
    assert len(grids["features"]) == len(body["division"]["grids"])
    assert {f["properties"]["grid"] for f in atoms["features"]} == {f["properties"]["label"] for f in grids["features"]}
    micro = api("get", f"/api/v1/divisions/{division_id}/micro-grids").json
    assert len(micro["features"]) > len(grids["features"])  # copied with the draft


def test_paint_moves_the_atom_in_postgis_and_bumps_the_revision(api, editor_app, draft):
    division_id, revision = draft
    atom, source, target, response = paint_one(api, editor_app, division_id, revision)
    body = response.json
    assert body["revision"] == 2 and response.headers["ETag"] == '"2"'
    assert body["change"]["atoms_moved"] == [atom]
    assert grid_of_atom(editor_app, division_id, atom) == target
    # Cached counts and geometry of both grids follow their atoms.
    rows = sql(editor_app, """
        SELECT g.label, g.households, (SELECT sum(a.households) FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                                        WHERE ga.grid_id = g.id) AS atoms,
               ST_Area(ST_SymDifference(g.geom, (SELECT ST_Union(a.geom) FROM grid_atom ga JOIN atom a
                                                 ON a.id = ga.atom_id WHERE ga.grid_id = g.id))::geography)
        FROM grid g WHERE g.division_id = :d AND g.label IN (:a, :b)""", d=division_id, a=source, b=target)
    assert all(hh == atoms and diff < 1.0 for _, hh, atoms, diff in rows)
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == 2
    assert sql(editor_app, "SELECT max(revision) FROM division_revision WHERE division_id = :d",
               d=division_id)[0][0] == 2
    # The touched grids lost their micro-grids; rebuilding makes them again and nests them.
    assert sql(editor_app, """SELECT count(*) FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id
                              WHERE g.division_id = :d AND g.label IN (:a, :b)""",
               d=division_id, a=source, b=target)[0][0] == 0
    made = api("post", f"/api/v1/divisions/{division_id}/micro-grids", json={})
    assert made.status_code == 200 and made.json["micro_grids_made"] >= 2
    assert sql(editor_app, """SELECT count(*) FROM grid g WHERE g.division_id = :d
                              AND NOT EXISTS (SELECT 1 FROM micro_grid mg WHERE mg.grid_id = g.id)""",
               d=division_id)[0][0] == 0
    micro_total = sql(editor_app, """SELECT sum(mg.households) FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id
                                     WHERE g.division_id = :d""", d=division_id)[0][0]
    assert micro_total == sql(editor_app, "SELECT sum(households) FROM grid WHERE division_id = :d",
                              d=division_id)[0][0]


def test_a_stale_save_gets_409_and_changes_nothing(api, editor_app, draft):
    division_id, revision = draft
    paint_one(api, editor_app, division_id, revision)  # someone else saved revision 2
    before = sql(editor_app, "SELECT ga.atom_id, ga.grid_id FROM grid_atom ga WHERE ga.division_id = :d ORDER BY 1",
                 d=division_id)
    atom, _, target = boundary_pairs(editor_app, division_id)[0]
    stale = api("post", f"/api/v1/divisions/{division_id}/edits",
                json={"op": "paint", "atoms": [atom], "grid": target, "revision": revision})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json["error"]["message"]
    assert "revision 2" in stale.json["error"]["message"]
    # If-Match works the same way.
    stale = api("post", f"/api/v1/divisions/{division_id}/edits", json={"op": "merge", "a": 0, "b": 1},
                headers={"If-Match": '"1"'})
    assert stale.status_code == 409
    after = sql(editor_app, "SELECT ga.atom_id, ga.grid_id FROM grid_atom ga WHERE ga.division_id = :d ORDER BY 1",
                d=division_id)
    assert before == after
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == 2


def _grid_line(app, division_id: int, label: int, horizontal: bool = True) -> dict:
    """A GeoJSON line across grid ``label`` through its representative point (lon/lat)."""
    x, y, minx, miny, maxx, maxy = sql(app, """
        SELECT ST_X(p), ST_Y(p), ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
        FROM (SELECT geom, ST_PointOnSurface(geom) AS p FROM grid WHERE division_id = :d AND label = :l) g""",
                                       d=division_id, l=label)[0]
    coords = [[minx - 0.001, y], [maxx + 0.001, y]] if horizontal else [[x, miny - 0.001], [x, maxy + 0.001]]
    return {"type": "LineString", "coordinates": coords}


def test_split_merge_and_delete(api, editor_app, draft):
    division_id, revision = draft
    biggest = sql(editor_app, """SELECT g.label FROM grid g JOIN grid_atom ga ON ga.grid_id = g.id
                                 WHERE g.division_id = :d AND g.type = 'comprehensive'
                                 GROUP BY g.label ORDER BY count(*) DESC LIMIT 1""", d=division_id)[0][0]
    n_before = len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division_id))
    for horizontal in (True, False):
        split = api("post", f"/api/v1/divisions/{division_id}/edits",
                    json={"op": "split", "grid": biggest, "revision": revision,
                          "line": _grid_line(editor_app, division_id, biggest, horizontal)})
        if split.status_code == 200:
            break
    assert split.status_code == 200, split.json
    new_label = split.json["change"]["created"][0]
    revision = split.json["revision"]
    assert len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division_id)) == n_before + 1
    assert sql(editor_app, "SELECT code FROM grid WHERE division_id = :d AND label = :l",
               d=division_id, l=new_label)[0][0] is None  # a new grid has no code until it is filed
    merged = api("post", f"/api/v1/divisions/{division_id}/edits",
                 json={"op": "merge", "a": biggest, "b": new_label, "revision": revision})
    assert merged.status_code == 200, merged.json
    revision = merged.json["revision"]
    assert len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division_id)) == n_before
    atom, source, target = boundary_pairs(editor_app, division_id)[0]
    deleted = api("post", f"/api/v1/divisions/{division_id}/edits",
                  json={"op": "delete_grid", "grid": source, "into": target, "revision": revision})
    assert deleted.status_code == 200, deleted.json
    assert sql(editor_app, "SELECT count(*) FROM grid WHERE division_id = :d AND label = :l",
               d=division_id, l=source)[0][0] == 0
    assert grid_of_atom(editor_app, division_id, atom) == target


def test_move_a_boundary_by_a_swept_area(api, editor_app, draft):
    division_id, revision = draft
    for atom, source, target in boundary_pairs(editor_app, division_id):
        (area,) = sql(editor_app, """SELECT ST_AsGeoJSON(ST_Buffer(ST_PointOnSurface(a.geom), 0.00001))
                                     FROM division d JOIN atom a ON a.layer_id = d.atom_layer_id AND a.atom_no = :n
                                     WHERE d.id = :d""", d=division_id, n=atom)[0]
        moved = api("post", f"/api/v1/divisions/{division_id}/edits",
                    json={"op": "move_boundary", "a": source, "b": target, "shape": json.loads(area),
                          "revision": revision})
        if moved.status_code == 200:
            break
    assert moved.status_code == 200, moved.json
    assert atom in moved.json["change"]["atoms_moved"]
    assert grid_of_atom(editor_app, division_id, atom) == target


def test_undo_and_redo_restore_revisions(api, editor_app, draft):
    division_id, revision = draft
    original = sql(editor_app, "SELECT labels FROM division_revision WHERE division_id = :d AND revision = 1",
                   d=division_id)[0][0]
    atom, source, target, _ = paint_one(api, editor_app, division_id, revision)
    undo = api("post", f"/api/v1/divisions/{division_id}/edits", json={"op": "restore", "to_revision": 1,
                                                                      "revision": 2})
    assert undo.status_code == 200 and undo.json["revision"] == 3
    assert grid_of_atom(editor_app, division_id, atom) == source
    assert sql(editor_app, "SELECT labels FROM division_revision WHERE division_id = :d AND revision = 3",
               d=division_id)[0][0] == original
    redo = api("post", f"/api/v1/divisions/{division_id}/edits", json={"op": "restore", "to_revision": 2,
                                                                      "revision": 3})
    assert redo.status_code == 200
    assert grid_of_atom(editor_app, division_id, atom) == target
    history = api("get", f"/api/v1/divisions/{division_id}").json["history"]
    assert [h["op"] for h in history] == ["copy", "paint", "restore", "restore"]
    assert all(h["username"] == "editor" for h in history[1:])


def test_lock_then_rebalance_leaves_the_locked_grid_alone(api, editor_app, draft):
    division_id, revision = draft
    atom, source, target, response = paint_one(api, editor_app, division_id, revision)
    locked = api("post", f"/api/v1/divisions/{division_id}/edits",
                 json={"op": "set_grid", "grid": target, "locked": True, "name": "锁定网格",
                       "revision": response.json["revision"]})
    assert locked.status_code == 200
    assert sql(editor_app, "SELECT locked, name FROM grid WHERE division_id = :d AND label = :l",
               d=division_id, l=target)[0] == (True, "锁定网格")
    before = sql(editor_app, """SELECT a.atom_no FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                                JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND g.label = :l
                                ORDER BY 1""", d=division_id, l=target)
    rebalanced = api("post", f"/api/v1/divisions/{division_id}/edits",
                     json={"op": "rebalance", "revision": locked.json["revision"]})
    assert rebalanced.status_code == 200, rebalanced.json
    after = sql(editor_app, """SELECT a.atom_no FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                               JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND g.label = :l
                               ORDER BY 1""", d=division_id, l=target)
    assert before == after
    painted = api("post", f"/api/v1/divisions/{division_id}/edits",
                  json={"op": "paint", "atoms": [after[0][0]], "grid": source,
                        "revision": rebalanced.json["revision"]})
    assert painted.status_code == 400 and "locked" in painted.json["error"]["message"]
    auto = api("post", f"/api/v1/divisions/{division_id}/edits",
               json={"op": "auto_divide", "revision": rebalanced.json["revision"]})
    assert auto.status_code == 200, auto.json
    assert sql(editor_app, """SELECT a.atom_no FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                              JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND g.label = :l
                              ORDER BY 1""", d=division_id, l=target) == before


@pytest.mark.parametrize(("edit", "message"), [
    ({"op": "paint", "atoms": [0], "grid": 999}, "999"),
    ({"op": "paint", "atoms": [99999], "grid": 0}, "atom 99999 is not in this community"),
    ({"op": "paint", "atoms": "all", "grid": 0}, "field 'atoms'"),
    ({"op": "merge", "a": 0, "b": 0}, ""),
    ({"op": "split", "grid": 0, "line": {"type": "LineString", "coordinates": [[100.0, 10.0], [100.1, 10.0]]}},
     "line"),
    ({"op": "split", "grid": 0, "line": {"type": "Point", "coordinates": [120.0, 31.7]}}, "LineString"),
    ({"op": "split", "grid": 0, "line": "across"}, "field 'line'"),
    ({"op": "teleport"}, "field 'op'"),
    ({"op": "set_grid", "grid": 0, "type": "secret"}, "field 'type'"),
    ({"op": "restore", "to_revision": 77}, "no revision 77"),
])
def test_bad_edits_are_400_naming_the_problem_and_change_nothing(api, editor_app, draft, edit, message):
    division_id, revision = draft
    response = api("post", f"/api/v1/divisions/{division_id}/edits", json={**edit, "revision": revision})
    assert response.status_code == 400, response.json
    assert message in response.json["error"]["message"]
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == revision


def test_merge_of_grids_that_do_not_touch_is_refused(api, editor_app, draft):
    division_id, revision = draft
    far = sql(editor_app, """SELECT g1.label, g2.label FROM grid g1 JOIN grid g2 ON g1.division_id = g2.division_id
                             AND g1.label < g2.label AND NOT ST_Intersects(g1.geom, g2.geom)
                             WHERE g1.division_id = :d LIMIT 1""", d=division_id)[0]
    response = api("post", f"/api/v1/divisions/{division_id}/edits",
                   json={"op": "merge", "a": far[0], "b": far[1], "revision": revision})
    assert response.status_code == 400 and "neighbour" in response.json["error"]["message"]


def test_unknown_division_and_missing_revision(api):
    assert api("post", "/api/v1/divisions/999999/edits",
               json={"op": "merge", "a": 0, "b": 1, "revision": 1}).status_code == 404
    assert api("get", "/api/v1/divisions/999999").status_code == 404


def test_missing_revision_is_400(api, draft):
    division_id, _ = draft
    response = api("post", f"/api/v1/divisions/{division_id}/edits", json={"op": "merge", "a": 0, "b": 1})
    assert response.status_code == 400 and "revision" in response.json["error"]["message"]


def test_a_submitted_division_is_read_only(api, editor_app, draft):
    division_id, revision = draft
    with engine_of(editor_app).begin() as conn:
        conn.execute(text("UPDATE division SET status = 'submitted' WHERE id = :d"), {"d": division_id})
    response = api("post", f"/api/v1/divisions/{division_id}/edits",
                   json={"op": "merge", "a": 0, "b": 1, "revision": revision})
    assert response.status_code == 409 and "submitted" in response.json["error"]["message"]


# Anonymous writes are refused by the CSRF check (403) before anything else runs.
@pytest.mark.parametrize(("user", "status"), [(None, 401), ("reviewer", 403), ("staff", 403)])
def test_only_editors_in_scope_may_edit(api, draft, user, status):
    division_id, revision = draft
    response = api("post", f"/api/v1/divisions/{division_id}/edits", user=user,
                   json={"op": "merge", "a": 0, "b": 1, "revision": revision})
    assert response.status_code == status


def test_drafts_are_not_public(api, draft):
    division_id, _ = draft
    assert api("get", f"/api/v1/divisions/{division_id}", user=None).status_code == 401
    assert api("get", f"/api/v1/divisions/{division_id}", user="reviewer").status_code == 200


def test_export_every_format(api, draft, tmp_path):
    division_id, _ = draft
    n_grids = len(api("get", f"/api/v1/divisions/{division_id}").json["division"]["grids"])
    geojson = api("get", f"/api/v1/divisions/{division_id}/export?format=geojson")
    assert geojson.status_code == 200 and len(geojson.json["features"]) == n_grids
    gpkg = tmp_path / "d.gpkg"
    gpkg.write_bytes(api("get", f"/api/v1/divisions/{division_id}/export?format=gpkg").data)
    assert {name for name, _ in pyogrio.list_layers(gpkg)} == {"grids", "micro_grids"}
    assert len(gpd.read_file(gpkg, layer="grids")) == n_grids
    shp = api("get", f"/api/v1/divisions/{division_id}/export?format=shp")
    names = zipfile.ZipFile(io.BytesIO(shp.data)).namelist()
    assert any(n.endswith("grids.shp") for n in names) and any(n.endswith(".prj") for n in names)
    png = api("get", f"/api/v1/divisions/{division_id}/export?format=png")
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = api("get", f"/api/v1/divisions/{division_id}/export?format=pdf")
    assert pdf.data[:5] == b"%PDF-" and pdf.data.count(b"/Type /Page\n") + pdf.data.count(b"/Type /Page ") >= 2
    assert api("get", f"/api/v1/divisions/{division_id}/export?format=dwg").status_code == 400


def _export(api, division_id: int, fmt: str, crs: str | None = None):
    response = api("get", f"/api/v1/divisions/{division_id}/export?format={fmt}" + (f"&crs={crs}" if crs else ""))
    assert response.status_code == 200, response.json
    return response


def _layer_file(tmp_path, response, fmt: str):
    """The export saved: the GeoPackage, or the grids Shapefile unzipped."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    if fmt == "gpkg":
        path = tmp_path / "division.gpkg"
        path.write_bytes(response.data)
        return path
    zipfile.ZipFile(io.BytesIO(response.data)).extractall(tmp_path / "shp")
    return tmp_path / "shp" / "grids.shp"


def _shapes(document: dict) -> list:
    return [shapely.geometry.shape(f["geometry"]).normalize() for f in document["features"]]


def test_the_geojson_export_is_rfc_7946_by_default(api, draft):
    division_id, _ = draft
    response = _export(api, division_id, "geojson")
    document = response.json
    assert response.mimetype == "application/geo+json"
    assert "crs" not in document and all("crs" not in f["geometry"] for f in document["features"])
    west, south, east, north = shapely.union_all(_shapes(document)).bounds
    assert 119 < west < east < 121 and 31 < south < north < 32, "longitude, latitude"
    assert _shapes(_export(api, division_id, "geojson", "crs84").json) == _shapes(document)


@pytest.mark.parametrize("spelling", ["EPSG:4490", "cgcs2000"])
def test_a_cgcs2000_export_says_so_where_each_format_can(api, draft, tmp_path, spelling):
    division_id, _ = draft
    document = _export(api, division_id, "geojson", spelling).json
    assert document["crs"] == {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    assert all("crs" not in f["geometry"] for f in document["features"])
    default = _shapes(_export(api, division_id, "geojson").json)
    assert all(a.equals_exact(b, 1e-7) for a, b in zip(_shapes(document), default, strict=True)), "same numbers"
    for fmt in ("gpkg", "shp"):
        ours = _layer_file(tmp_path / spelling / fmt, _export(api, division_id, fmt, spelling), fmt)
        wgs84 = _layer_file(tmp_path / "default" / fmt, _export(api, division_id, fmt), fmt)
        assert pyproj.CRS(pyogrio.read_info(ours, layer="grids")["crs"]).to_epsg() == 4490, fmt
        assert pyproj.CRS(pyogrio.read_info(wgs84, layer="grids")["crs"]).to_epsg() == 4326, fmt


@pytest.mark.parametrize("crs", ["EPSG:3857", "gcj02", "4490", "EPSG:44900"])
def test_an_unknown_export_crs_is_a_400_naming_the_field(api, draft, crs):
    division_id, _ = draft
    response = api("get", f"/api/v1/divisions/{division_id}/export?format=gpkg&crs={crs}")
    assert response.status_code == 400, response.data[:200]
    error = response.json["error"]
    assert error["details"]["field"] == "crs" and "EPSG:4490" in error["message"] and "坐标系" in error["message"]


def test_a_geopackage_export_opens_in_gdal_3_6_without_a_warning(api, draft, tmp_path):
    division_id, _ = draft
    path = _layer_file(tmp_path, _export(api, division_id, "gpkg"), "gpkg")
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo (GDAL's command line tools) is needed: scripts/install-os-deps.sh installs it"
    shown = subprocess.run([ogrinfo, "-al", "-so", str(path)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "partially supported" not in shown.stdout + shown.stderr and "Warning" not in shown.stderr, shown.stderr
    assert "Layer name: grids" in shown.stdout and "Layer name: micro_grids" in shown.stdout
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10300  # GeoPackage 1.3
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # "GPKG"


def test_unnamed_and_blank_grid_names_are_null_in_every_export(api, editor_app, draft, tmp_path):
    division_id, _ = draft
    # Names set behind the API's back: the API trims names, but older rows or a drawing may hold blanks.
    with engine_of(editor_app).begin() as conn:
        conn.execute(text("UPDATE grid SET name = CASE label WHEN 0 THEN '' WHEN 1 THEN '   ' WHEN 2 THEN '和平路网格' "
                          "END WHERE division_id = :d"), {"d": division_id})
    wanted = {0: None, 1: None, 2: "和平路网格", 3: None}
    document = _export(api, division_id, "geojson").json
    assert {f["properties"]["label"]: f["properties"]["name"] for f in document["features"]
            if f["properties"]["label"] < 4} == wanted
    with sqlite3.connect(_layer_file(tmp_path, _export(api, division_id, "gpkg"), "gpkg")) as db:
        assert dict(db.execute("SELECT label, name FROM grids WHERE label < 4")) == wanted
    shp = pyogrio.read_dataframe(_layer_file(tmp_path, _export(api, division_id, "shp"), "shp"))
    assert {int(r.label): (None if pd.isna(r.name) else r.name) for r in shp.itertuples() if r.label < 4} == wanted


def test_import_a_hand_drawn_division(api, editor_app, draft, tmp_path):
    division_id, revision = draft
    exported = api("get", f"/api/v1/divisions/{division_id}/export?format=geojson").json
    drawing = gpd.GeoDataFrame.from_features(exported["features"], crs="EPSG:4490")
    # A hand drawing: the grids a little off (buffered by ~1 m), two of them drawn as one.
    metric = drawing.to_crs(drawing.estimate_utm_crs())
    metric["geometry"] = metric.buffer(1.0)
    first, second = boundary_pairs(editor_app, division_id)[0][1:]
    metric["name"] = [f"手绘{label}" if label != second else f"手绘{first}" for label in metric["label"]]
    path = tmp_path / "drawing.geojson"
    metric[["name", "geometry"]].to_crs(4490).to_file(path, driver="GeoJSON")
    with path.open("rb") as handle:
        response = api("post", f"/api/v1/divisions/{division_id}/import",
                       data={"file": (handle, "drawing.geojson"), "revision": str(revision), "key": "name"},
                       content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    report = response.json["change"]["report"]
    assert report["drawn_grids"] == len(drawing) - 1
    assert isinstance(report["households_in_split_atoms"], int) and "failing_grids" in report
    grids = sql(editor_app, "SELECT name, code FROM grid WHERE division_id = :d ORDER BY label", d=division_id)
    assert len(grids) == len(drawing) - 1
    assert f"手绘{first}" in {name for name, _ in grids}
    # Unchanged grids kept their codes; the merged one is new or kept one of its two codes.
    assert sum(code is not None for _, code in grids) >= len(grids) - 1
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "x"}, '
                   '"geometry": {"type": "Point", "coordinates": [120.0, 31.7]}}]}')
    with bad.open("rb") as handle:
        refused = api("post", f"/api/v1/divisions/{division_id}/import",
                      data={"file": (handle, "bad.geojson"), "revision": str(response.json["revision"])},
                      content_type="multipart/form-data")
    assert refused.status_code == 400 and "feature 1" in refused.json["error"]["message"]


def test_county_overview_and_versions(api):
    overview = api("get", "/api/v1/areas/320499000000/overview", user=None).json
    assert len(overview["features"]) == 12
    assert {f["properties"]["status"] for f in overview["features"]} <= {"none", "draft", "submitted", "approved",
                                                                        "returned"}
    versions = api("get", f"/api/v1/communities/{COMMUNITY}/divisions").json["divisions"]
    assert versions[-1]["version"] == 1 and versions[-1]["n_grids"] > 0
    assert api("get", f"/api/v1/communities/{COMMUNITY}/divisions", user=None).json["divisions"] == []


def test_scope_decides_for_township_operators(api, editor_app):
    """The operator of 城关街道 (320499001000) may edit its communities' drafts, not a village of 青石镇."""
    for community, allowed in (("320499001001", True), ("320499101203", False)):
        first = sql(editor_app, "SELECT id FROM division WHERE community_code = :c AND version = 1", c=community)[0][0]
        made = api("post", f"/api/v1/communities/{community}/divisions", user="operator", json={"from": first})
        assert made.status_code == (201 if allowed else 403), made.json
        if not allowed:
            assert "320499101203" in made.json["error"]["message"]


# -- issue 12 #5: undo and redo walk the revisions stored on the server ---------------------------

def _edit(api, division_id, **body):
    return api("post", f"/api/v1/divisions/{division_id}/edits", json=body)


def _labels(app, division_id):
    return sql(app, """SELECT r.labels FROM division d JOIN division_revision r ON r.division_id = d.id
                       AND r.revision = d.revision WHERE d.id = :d""", d=division_id)[0][0]


def test_undo_and_redo_after_a_reload_walk_the_stored_revisions(api, editor_app, draft):
    division_id, revision = draft
    first = _labels(editor_app, division_id)
    atom, source, target, painted = paint_one(api, editor_app, division_id, revision)
    second = _labels(editor_app, division_id)
    named = _edit(api, division_id, op="set_grid", grid=target, name="和平路网格", revision=painted.json["revision"])
    assert named.status_code == 200
    # A reload: nothing but what the server holds.
    loaded = api("get", f"/api/v1/divisions/{division_id}").json
    assert loaded["undo"]["available"] == 2 and loaded["redo"]["available"] == 0
    undone = _edit(api, division_id, op="undo", revision=loaded["revision"])
    assert undone.status_code == 200, undone.json
    assert undone.json["division"]["grids"][str(target)]["name"] is None
    assert undone.json["undo"]["available"] == 1 and undone.json["redo"]["available"] == 1
    undone = _edit(api, division_id, op="undo", revision=undone.json["revision"])
    assert _labels(editor_app, division_id) == first and grid_of_atom(editor_app, division_id, atom) == source
    assert undone.json["undo"]["available"] == 0
    loaded = api("get", f"/api/v1/divisions/{division_id}").json
    assert loaded["redo"]["available"] == 2
    redone = _edit(api, division_id, op="redo", revision=loaded["revision"])
    assert _labels(editor_app, division_id) == second and redone.json["redo"]["available"] == 1
    assert "重做" in redone.json["change"]["description"]
    # A new edit clears what could be redone.
    relocked = _edit(api, division_id, op="set_grid", grid=target, locked=True, revision=redone.json["revision"])
    assert relocked.json["redo"]["available"] == 0 and relocked.json["undo"]["available"] == 2
    assert _edit(api, division_id, op="redo", revision=relocked.json["revision"]).status_code == 409


# -- issue 12 #6: the editor speaks Chinese and names grids as the map shows them -----------------

def test_messages_name_grids_as_the_map_shows_them(api, editor_app, draft):
    division_id, revision = draft
    shown = api("get", f"/api/v1/divisions/{division_id}").json["division"]["grids"]  # what the map shows
    atom, source, target, painted = paint_one(api, editor_app, division_id, revision)
    grids = shown
    description = painted.json["change"]["description"]
    zh = description.split(" / ")[0]
    assert zh.startswith("将 1 个单元") and grids[str(source)]["display"] in zh and grids[str(target)]["display"] in zh
    assert not re.search(rf"grid {target}\b", description) and "网格 *" not in description
    planned = api("get", f"/api/v1/divisions/{division_id}/grids").json["features"]
    code = next(f["properties"]["planned_code"] for f in planned if f["properties"]["label"] == target)
    # The map names a grid by the code it will be filed under, as the division is now: codes run west to
    # east, north to south, so the painted grids may have changed places in that order.
    assert painted.json["division"]["grids"][str(target)]["display"] == f"网格 {code[-3:]}"
    far = sql(editor_app, """SELECT g1.label, g2.label FROM grid g1 JOIN grid g2 ON g1.division_id = g2.division_id
                             AND g1.label < g2.label AND NOT ST_Intersects(g1.geom, g2.geom)
                             WHERE g1.division_id = :d LIMIT 1""", d=division_id)[0]
    refused = _edit(api, division_id, op="merge", a=far[0], b=far[1], revision=painted.json["revision"])
    message = refused.json["error"]["message"]
    assert refused.status_code == 400 and message.split(" / ")[0].endswith("不相邻，只有相邻网格才能合并")
    assert painted.json["division"]["grids"][str(far[0])]["display"] in message  # as the map shows it now


def test_a_new_grid_without_a_code_is_never_shown_as_a_star(api, editor_app, draft):
    division_id, revision = draft
    for atom, _, _ in boundary_pairs(editor_app, division_id):
        made = _edit(api, division_id, op="new_grid", atoms=[atom], revision=revision)
        if made.status_code == 200:
            break
    assert made.status_code == 200, made.json
    (label,) = made.json["change"]["created"]
    assert "新网格 1" in made.json["change"]["description"]  # named before it has a code
    shown = made.json["division"]["grids"][str(label)]["display"]
    assert shown == "新网格 1" or re.fullmatch(r"网格 \d{3}", shown)  # then by the code filing will give it
    assert all("*" not in g["display"] for g in made.json["division"]["grids"].values())


def test_a_rebalance_that_moves_nothing_says_so_and_stores_no_revision(api, editor_app, draft):
    division_id, revision = draft
    first = _edit(api, division_id, op="rebalance", revision=revision)
    assert first.status_code == 200, first.json
    current = first.json["revision"]
    count = sql(editor_app, "SELECT count(*) FROM division_revision WHERE division_id = :d", d=division_id)[0][0]
    again = _edit(api, division_id, op="rebalance", revision=current)
    assert again.status_code == 200 and again.json["change"]["stored"] is False
    assert again.json["revision"] == current
    assert "未保存新版本" in again.json["change"]["description"]
    revisions = sql(editor_app, "SELECT count(*) FROM division_revision WHERE division_id = :d", d=division_id)
    assert revisions[0][0] == count
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == current


# -- issue 11 §3: drawings that cannot be right, and geometries GEOS cannot take ------------------

def _import(api, division_id, revision, path, **form):
    with path.open("rb") as handle:
        return api("post", f"/api/v1/divisions/{division_id}/import",
                   data={"file": (handle, path.name), "revision": str(revision), **form},
                   content_type="multipart/form-data")


def _own_export(api, division_id) -> gpd.GeoDataFrame:
    exported = api("get", f"/api/v1/divisions/{division_id}/export?format=geojson").json
    return gpd.GeoDataFrame.from_features(exported["features"], crs="EPSG:4490")


def _write_geojson(path, frame: gpd.GeoDataFrame, crs_name: str | None) -> None:
    data = json.loads(frame[["name", "geometry"]].to_json())
    if crs_name:
        data["crs"] = {"type": "name", "properties": {"name": crs_name}}
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("case", "message"), [
    ("swapped", "颠倒"), ("3857_on_degrees", "公里"), ("huge", "坐标"), ("unknown_epsg", "坐标系"),
    ("far_away", "公里"), ("one_corner", "覆盖"),
])
def test_a_drawing_that_cannot_be_of_this_community_is_refused(api, editor_app, draft, tmp_path, case, message):
    from shapely import affinity

    division_id, revision = draft
    drawing = _own_export(api, division_id).assign(name=lambda f: [f"手绘{i}" for i in range(len(f))])
    crs = "urn:ogc:def:crs:EPSG::4490"
    if case == "swapped":
        drawing["geometry"] = drawing.geometry.map(lambda g: affinity.affine_transform(g, [0, 1, 1, 0, 0, 0]))
    elif case == "3857_on_degrees":
        crs = "urn:ogc:def:crs:EPSG::3857"
    elif case == "huge":
        drawing["geometry"] = drawing.geometry.map(lambda g: affinity.scale(g, 1e298, 1e298, origin=(0, 0)))
    elif case == "unknown_epsg":
        crs = "urn:ogc:def:crs:EPSG::99999"
    elif case == "far_away":
        drawing["geometry"] = drawing.geometry.translate(-8.0, 0.0)
    elif case == "one_corner":
        drawing = drawing.iloc[:1]
    path = tmp_path / "drawing.geojson"
    _write_geojson(path, drawing, crs)
    response = _import(api, division_id, revision, path)
    assert response.status_code == 400, response.json
    text_ = response.json["error"]["message"]
    assert message in text_.split(" / ")[0], text_
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == revision
    assert sql(editor_app, "SELECT count(*) FROM division_revision WHERE division_id = :d", d=division_id)[0][0] == 1


def test_a_drawing_far_away_says_how_far(api, draft, tmp_path):
    division_id, revision = draft
    drawing = _own_export(api, division_id).assign(name="x")
    drawing["geometry"] = drawing.geometry.translate(0.0, -29.0)  # ~3,200 km south
    path = tmp_path / "far.geojson"
    _write_geojson(path, drawing, None)
    message = _import(api, division_id, revision, path).json["error"]["message"]
    km = int(message.split("约 ")[1].split(" 公里")[0].replace(",", ""))
    assert 3_000 < km < 3_400 and "another CRS" in message


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4490"])
def test_wangges_own_geojson_export_reimports_as_it_is(api, editor_app, draft, tmp_path, crs):
    division_id, revision = draft
    exported = api("get", f"/api/v1/divisions/{division_id}/export?format=geojson&crs={crs}")
    path = tmp_path / "division.geojson"
    path.write_bytes(exported.data)
    before = _labels(editor_app, division_id)
    codes = sql(editor_app, "SELECT label, code FROM grid WHERE division_id = :d ORDER BY label", d=division_id)
    response = _import(api, division_id, revision, path)
    assert response.status_code == 200, response.json
    assert _labels(editor_app, division_id) == before
    assert sql(editor_app, "SELECT label, code FROM grid WHERE division_id = :d ORDER BY label", d=division_id) == codes
    assert sql(editor_app, "SELECT count(*) FROM grid WHERE division_id = :d AND name IS NOT NULL",
               d=division_id)[0][0] == 0


def test_a_bow_tie_reshape_and_an_open_ring_are_400_naming_the_problem(api, editor_app, draft):
    division_id, revision = draft
    (x, y) = sql(editor_app, """SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM grid
                                WHERE division_id = :d AND label = 0""", d=division_id)[0]
    d = 0.001
    bow_tie = {"type": "Polygon", "coordinates": [[[x - d, y - d], [x + d, y + d], [x + d, y - d], [x - d, y + d],
                                                   [x - d, y - d]]]}
    response = _edit(api, division_id, op="reshape", grid=0, shape=bow_tie, revision=revision)
    assert response.status_code == 400, response.json
    assert "自相交" in response.json["error"]["message"] and response.json["error"]["details"]["field"] == "shape"
    open_ring = {"type": "Polygon", "coordinates": [[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d]]]}
    response = _edit(api, division_id, op="move_boundary", a=0, b=1, shape=open_ring, revision=revision)
    assert response.status_code == 400 and "未闭合" in response.json["error"]["message"]
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0] == revision
