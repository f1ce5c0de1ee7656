"""The county overview and the community editor in a real Chromium, each edit checked in PostGIS afterwards.

Every test signs in as the demo county editor, starts its own draft (a copy of the engine's version 1
of a demo community) and drives the page with the mouse: clicks on atoms, lines and polygons drawn
with Leaflet-Geoman, a dragged vertex. Which atom or line to use is chosen beforehand with the same
pure functions the server applies, so the test exercises the page, not luck. The ``page`` fixture
saves a screenshot of the end state to ``test-artifacts/`` and fails on any console error.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import shapely.affinity
from sqlalchemy import text

from gis import edits
from gis.errors import InputError
from server import engine_of
from server.config import PROJECT_ROOT
from server.errors import BadRequest
from server.services.editing import _reshape, load_draft

pytestmark = [pytest.mark.browser, pytest.mark.db]

COMMUNITY = "320499001001"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def sql(app, query: str, **params):
    with engine_of(app).connect() as conn:
        return conn.execute(text(query), params).all()


@pytest.fixture
def division(editor_app, editor_tokens):
    """A fresh draft of COMMUNITY; returns its id."""
    client = editor_app.test_client()
    first = sql(editor_app, "SELECT id FROM division WHERE community_code = :c AND version = 1", c=COMMUNITY)[0][0]
    response = client.post(f"/api/v1/communities/{COMMUNITY}/divisions", json={"from": first},
                           headers={"Authorization": f"Bearer {editor_tokens['editor']}"})
    assert response.status_code == 201
    return response.json["division"]["id"]


@pytest.fixture
def editor(page, editor_live_server):
    """The page, signed in as the demo county editor."""
    page.goto(editor_live_server + "/login")
    page.fill("#username", "editor")
    page.fill("#password", "editor-demo-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")
    return page


def open_editor(page, base: str, division_id: int) -> None:
    page.goto(f"{base}/communities/{COMMUNITY}/editor?division={division_id}")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)


def wait_revision(page, revision: int) -> None:
    page.wait_for_selector(f"body[data-revision='{revision}']", timeout=20000)


def draft_of(app, division_id: int):
    with engine_of(app).connect() as conn:
        return load_draft(conn, division_id)


def grid_of_atom(app, division_id: int, atom_no: int) -> int:
    return sql(app, """SELECT g.label FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                       JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND a.atom_no = :n""",
               d=division_id, n=atom_no)[0][0]


def atoms_of_grid(app, division_id: int, label: int) -> list:
    return sql(app, """SELECT a.atom_no FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                       JOIN grid g ON g.id = ga.grid_id WHERE ga.division_id = :d AND g.label = :l ORDER BY 1""",
               d=division_id, l=label)


def paintable(app, division_id: int) -> tuple[int, int, int]:
    """(atom, its grid, a neighbouring grid it can be painted into without cutting either grid)."""
    draft = draft_of(app, division_id)
    ctx, lab = draft.layer.context, draft.labels.labels
    for a, b in sorted(zip(ctx.edge_a.tolist(), ctx.edge_b.tolist(), strict=True), key=lambda e: ctx.households[e[0]]):
        for x, y in ((a, b), (b, a)):
            if lab[x] == lab[y] or {lab[x], lab[y]} & draft.exclusive:
                continue
            try:
                edits.paint(ctx, draft.labels, [int(ctx.atom_ids[x])], int(lab[y]))
            except InputError:
                continue
            return int(ctx.atom_ids[x]), int(lab[x]), int(lab[y])
    pytest.fail("no paintable atom")


def to_screen(page, lon: float, lat: float, zoom: bool = False) -> tuple[float, float]:
    """Pixel position of a lon/lat on the page (optionally centring the map there first)."""
    if zoom:
        page.evaluate("([lat, lon]) => { window.wanggeEditor.map.setView([lat, lon], 18, {animate: false}); }",
                      [lat, lon])
    point = page.evaluate("""([lat, lon]) => {
        const m = window.wanggeEditor.map; const p = m.latLngToContainerPoint([lat, lon]);
        const r = m.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", [lat, lon])
    return point[0], point[1]


def fit(page, bounds: list) -> None:
    """Show ``[[south, west], [north, east]]`` at once, with room around it so clicks land inside the map."""
    page.evaluate("(b) => { window.wanggeEditor.map.fitBounds(b, {animate: false, padding: [80, 80]}); }", bounds)


def atom_point(page, atom_no: int) -> tuple[float, float]:
    """Lon/lat of an atom's representative point as the page knows it."""
    return tuple(page.evaluate("""(n) => { const f = window.wanggeEditor.state.atoms.features.find(
        (x) => x.properties.atom === n); return [f.properties.px, f.properties.py]; }""", atom_no))


def click_atom(page, atom_no: int) -> None:
    lon, lat = atom_point(page, atom_no)
    page.mouse.click(*to_screen(page, lon, lat, zoom=True))


def choose_grid(page, label: int) -> None:
    page.click("#tool-select")
    page.click(f"#grid-table tr[data-grid='{label}']")
    page.wait_for_function(f"window.wanggeEditor.state.current === {label}")


def test_overview_then_open_a_community(editor, editor_live_server):
    page = editor
    page.goto(editor_live_server + "/")
    page.click("#nav-divisions")  # the header leads to the first county's overview
    page.wait_for_selector("body[data-ready=true]")
    rows = page.locator("#overview-table tbody tr")
    assert rows.count() == 12
    assert "草稿" in page.text_content(f"#overview-table tr[data-code='{COMMUNITY}']")
    page.click(f"#overview-table tr[data-code='{COMMUNITY}'] a")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    assert f"/communities/{COMMUNITY}/editor" in page.url
    assert page.locator("#grid-table tbody tr").count() > 5
    assert page.locator("#problems li").count() >= 1


def test_paint_an_atom(editor, editor_live_server, editor_app, division):
    page = editor
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.click("#tool-paint")
    click_atom(page, atom)
    wait_revision(page, 2)
    assert grid_of_atom(editor_app, division, atom) == target
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division)[0][0] == 2


def test_split_a_grid_by_drawing_a_line(editor, editor_live_server, editor_app, division):
    page = editor
    draft = draft_of(editor_app, division)
    grids = gpd.GeoDataFrame.from_features(
        editor_app.test_client().get(f"/api/v1/divisions/{division}/grids", headers=_auth(editor_app)).json["features"],
        crs="EPSG:4490")
    sizes = np.bincount(draft.labels.labels[draft.labels.labels >= 0])
    # Grids of many atoms: a line through the middle then splits them whatever a pixel of rounding does.
    comprehensive = grids[(grids["type"] == "comprehensive") & ~grids["label"].isin(list(draft.locked))
                          & (sizes[grids["label"].to_numpy()] >= 6)]
    n_before = len(grids)
    open_editor(page, editor_live_server, division)
    plan = None
    for _, grid in comprehensive.sort_values("households", ascending=False).iterrows():
        minx, miny, maxx, maxy = grid.geometry.bounds
        point = grid.geometry.representative_point()
        for (x0, y0), (x1, y1) in (((minx - 0.0005, point.y), (maxx + 0.0005, point.y)),
                                   ((point.x, miny - 0.0005), (point.x, maxy + 0.0005))):
            fit(page, [[y0, x0], [y1, x1]])
            # The line the mouse will really draw: whole pixels, read back as lon/lat by the map.
            start = [round(v) for v in to_screen(page, x0, y0)]
            end = [round(v) for v in to_screen(page, x1, y1)]
            drawn = page.evaluate("""([a, b]) => { const m = window.wanggeEditor.map;
                const r = m.getContainer().getBoundingClientRect();
                return [a, b].map((p) => { const ll = m.containerPointToLatLng([p[0] - r.left, p[1] - r.top]);
                                           return [ll.lng, ll.lat]; }); }""", [start, end])
            metric = gpd.GeoSeries([shapely.LineString(drawn)], crs=4490).to_crs(draft.layer.crs).iloc[0]
            try:
                for shift in (-3.0, 0.0, 3.0):  # metres either side: the split must not hinge on one atom
                    edits.split_by_line(draft.layer.context, draft.labels, int(grid["label"]),
                                        shapely.affinity.translate(metric, shift, shift))
            except InputError:
                continue
            plan = int(grid["label"]), start, end, [[y0, x0], [y1, x1]]
            break
        if plan is not None:
            break
    assert plan is not None
    label, start, end, bounds = plan
    choose_grid(page, label)
    fit(page, bounds)
    page.click("#tool-split")
    zoom = page.evaluate("window.wanggeEditor.map.getZoom()")
    page.mouse.click(*start)
    page.mouse.click(*end)
    page.mouse.dblclick(*end)
    wait_revision(page, 2)
    # issue 12 #5: the double-click that finishes the line does not zoom the map.
    assert page.evaluate("window.wanggeEditor.map.getZoom()") == zoom
    assert len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division)) == n_before + 1
    # every atom still in exactly one grid
    assert sql(editor_app, """SELECT count(*) FROM division d JOIN atom a ON a.layer_id = d.atom_layer_id
                              LEFT JOIN grid_atom ga ON ga.atom_id = a.id AND ga.division_id = d.id
                              WHERE d.id = :d AND ga.grid_id IS NULL""", d=division)[0][0] == 0


def _auth(app) -> dict:
    from server.services.users import create_token

    with engine_of(app).begin() as conn:
        return {"Authorization": f"Bearer {create_token(conn, 'editor', 'browser tests')}"}


def test_merge_two_grids(editor, editor_live_server, editor_app, division):
    page = editor
    atom, source, target = paintable(editor_app, division)
    n_before = len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division))
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.click("#tool-merge")
    click_atom(page, atom)  # an atom of the neighbouring grid
    wait_revision(page, 2)
    assert len(sql(editor_app, "SELECT id FROM grid WHERE division_id = :d", d=division)) == n_before - 1
    assert grid_of_atom(editor_app, division, atom) == target


def _drag_plan(app, division_id: int, outline_features: list[dict]):
    """A vertex of some grid's outline and a place to drag it to that moves the shared boundary."""
    draft = draft_of(app, division_id)
    ctx, lab = draft.layer.context, draft.labels.labels
    to_metric = gpd.GeoSeries([], crs=4490).to_crs(draft.layer.crs).crs
    for feature in outline_features:
        props, geometry = feature["properties"], feature["geometry"]
        if props["type"] != "comprehensive" or props["locked"]:
            continue
        if geometry["type"] == "MultiPolygon" and len(geometry["coordinates"]) == 1:
            geometry = {"type": "Polygon", "coordinates": geometry["coordinates"][0]}
        if geometry["type"] != "Polygon" or len(geometry["coordinates"]) != 1:
            continue
        ring = geometry["coordinates"][0][:-1]
        grid = int(props["label"])
        # neighbour atoms of this grid
        mine = lab == grid
        neighbours = set(ctx.edge_b[mine[ctx.edge_a]].tolist()) | set(ctx.edge_a[mine[ctx.edge_b]].tolist())
        for x in sorted(n for n in neighbours if lab[n] != grid and lab[n] not in draft.exclusive):
            rep = gpd.GeoSeries([shapely.Point(ctx.rep_x[x], ctx.rep_y[x])], crs=to_metric).to_crs(4490).iloc[0]
            order = np.argsort([shapely.Point(v).distance(rep) for v in ring])
            for i in order[:3]:
                vx, vy = ring[i]
                target = (rep.x + (rep.x - vx) * 0.6, rep.y + (rep.y - vy) * 0.6)
                new_ring = [*ring[:i], target, *ring[i + 1:]]
                outline = shapely.Polygon(new_ring)
                if not outline.is_valid:
                    continue
                metric = gpd.GeoSeries([outline], crs=4490).to_crs(draft.layer.crs).iloc[0]
                try:
                    result = _reshape(draft, grid, metric)
                except (BadRequest, InputError):
                    continue
                if int(ctx.atom_ids[x]) in result.change.atoms_moved:
                    return grid, (vx, vy), target, int(ctx.atom_ids[x])
    pytest.fail("no draggable vertex found")


def test_drag_a_shared_boundary(editor, editor_live_server, editor_app, division):
    page = editor
    grids = editor_app.test_client().get(f"/api/v1/divisions/{division}/grids", headers=_auth(editor_app)).json
    grid, vertex, target, atom = _drag_plan(editor_app, division, grids["features"])
    open_editor(page, editor_live_server, division)
    choose_grid(page, grid)
    page.evaluate("([a, b]) => { window.wanggeEditor.map.fitBounds([a, b], {maxZoom: 19, animate: false}); }",
                  [[min(vertex[1], target[1]), min(vertex[0], target[0])],
                   [max(vertex[1], target[1]), max(vertex[0], target[0])]])
    page.click("#tool-reshape")
    page.wait_for_function("window.wanggeEditor.reshapeLayer !== null")
    start, end = to_screen(page, *vertex), to_screen(page, *target)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    wait_revision(page, 2)
    assert grid_of_atom(editor_app, division, atom) == grid
    history = sql(editor_app, "SELECT op FROM division_revision WHERE division_id = :d ORDER BY revision", d=division)
    assert [h[0] for h in history] == ["copy", "move_boundary"]


def test_undo_and_redo(editor, editor_live_server, editor_app, division):
    page = editor
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.click("#tool-paint")
    click_atom(page, atom)
    wait_revision(page, 2)
    page.click("#undo")
    wait_revision(page, 3)
    assert grid_of_atom(editor_app, division, atom) == source
    page.click("#redo")
    wait_revision(page, 4)
    assert grid_of_atom(editor_app, division, atom) == target
    assert page.is_disabled("#redo") and not page.is_disabled("#undo")


def test_lock_then_rebalance(editor, editor_live_server, editor_app, division):
    page = editor
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.click("#lock")
    wait_revision(page, 2)
    assert sql(editor_app, "SELECT locked FROM grid WHERE division_id = :d AND label = :l", d=division, l=target)[0][0]
    before = atoms_of_grid(editor_app, division, target)
    page.click("#rebalance")
    # A rebalance with nothing to move says so and stores no revision (issue 12 #6).
    page.wait_for_function("document.body.dataset.revision === '3' || "
                           "document.querySelector('#status').textContent.includes('未保存新版本')", timeout=20000)
    stored = sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division)[0][0]
    assert stored == int(page.evaluate("document.body.dataset.revision"))
    assert atoms_of_grid(editor_app, division, target) == before
    assert "已锁定" in page.text_content(f"#grid-table tr[data-grid='{target}']")


def test_edits_are_saved_and_survive_a_reload(editor, editor_live_server, editor_app, division):
    page = editor
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.fill("#attr-name", "建设一网格")
    page.click("#attr-save")
    wait_revision(page, 2)
    page.click("#tool-paint")
    click_atom(page, atom)
    wait_revision(page, 3)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_attribute("body", "data-revision") == "3"
    grid_in_page = page.evaluate("(n) => window.wanggeEditor.state.atoms.features.find("
                                 "(x) => x.properties.atom === n).properties.grid", atom)
    assert grid_in_page == target == grid_of_atom(editor_app, division, atom)
    assert "建设一网格" in page.text_content("#grid-table")
    assert sql(editor_app, "SELECT name FROM grid WHERE division_id = :d AND label = :l",
               d=division, l=target)[0][0] == "建设一网格"


def test_a_concurrent_save_is_refused_and_offers_a_reload(editor, editor_live_server, editor_app, division):
    page = editor
    page.expect_console_error("409")
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    # Someone else renames a grid in the meantime (revision 2).
    other = editor_app.test_client().post(f"/api/v1/divisions/{division}/edits", headers=_auth(editor_app),
                                          json={"op": "set_grid", "grid": source, "name": "别人改的", "revision": 1})
    assert other.status_code == 200
    choose_grid(page, target)
    page.click("#tool-paint")
    click_atom(page, atom)
    page.wait_for_selector("#banner:not([hidden])")
    assert "现在是修订 2" in page.text_content("#banner-text")
    assert grid_of_atom(editor_app, division, atom) == source  # the stale edit changed nothing
    assert sql(editor_app, "SELECT revision FROM division WHERE id = :d", d=division)[0][0] == 2
    page.click("#banner-reload")
    wait_revision(page, 2)
    assert "别人改的" in page.text_content("#grid-table")


def test_import_a_hand_drawn_file(editor, editor_live_server, editor_app, division, tmp_path):
    page = editor
    exported = editor_app.test_client().get(f"/api/v1/divisions/{division}/export?format=geojson",
                                            headers=_auth(editor_app)).json
    drawing = gpd.GeoDataFrame.from_features(exported["features"], crs="EPSG:4490")
    atom, source, target = paintable(editor_app, division)
    drawing["name"] = [f"手绘{target}" if label == source else f"手绘{label}" for label in drawing["label"]]
    path = tmp_path / "hand-drawn.geojson"
    drawing[["name", "geometry"]].to_file(path, driver="GeoJSON")
    open_editor(page, editor_live_server, division)
    page.set_input_files("#import-file", str(path))
    page.fill("#import-key", "name")
    page.click("#import-submit")
    wait_revision(page, 2)
    assert not page.is_hidden("#import-report")
    assert "未被任何网格覆盖的单元" in page.text_content("#import-report")
    names = {r[0] for r in sql(editor_app, "SELECT name FROM grid WHERE division_id = :d", d=division)}
    assert len(names) == len(drawing) - 1 and f"手绘{target}" in names
    # The two grids drawn as one are one grid now, holding the atoms of both.
    merged = grid_of_atom(editor_app, division, atom)
    assert sql(editor_app, "SELECT name FROM grid WHERE division_id = :d AND label = :l",
               d=division, l=merged)[0][0] == f"手绘{target}"


def test_export_offers_cgcs2000_beside_the_default(editor, editor_live_server, division):
    page = editor
    open_editor(page, editor_live_server, division)
    section = page.locator("section", has=page.locator("#export-geojson"))
    said = section.inner_text()
    assert "WGS 84 经纬度" in said and "2000国家大地坐标系（CGCS2000，EPSG:4490）" in said
    section.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    section.screenshot(path=str(ARTIFACTS / "editor-export-crs.png"))
    with page.expect_download() as download:
        page.click("#export-geojson-cgcs2000")
    document = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert document["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4490"
    with page.expect_download() as download:
        page.click("#export-geojson")
    assert "crs" not in json.loads(Path(download.value.path()).read_text(encoding="utf-8"))


def test_brush_paints_the_atoms_swept_over(editor, editor_live_server, editor_app, division):
    page = editor
    draft = draft_of(editor_app, division)
    ctx, lab = draft.layer.context, draft.labels.labels
    atoms = gpd.GeoDataFrame.from_features(
        editor_app.test_client().get(f"/api/v1/divisions/{division}/atoms", headers=_auth(editor_app)).json["features"],
        crs="EPSG:4490")
    shapes = shapely.STRtree(atoms.geometry.to_numpy())
    plan = None
    # A stroke from an atom of grid T to a neighbouring atom of another grid: every atom under the
    # stroke (sampled along it) must be paintable into T in one edit.
    for a, b in zip(ctx.edge_a.tolist(), ctx.edge_b.tolist(), strict=True):
        for y, x in ((a, b), (b, a)):
            target = int(lab[y])
            if lab[x] == target or {int(lab[x]), target} & draft.exclusive or target in draft.locked:
                continue
            start = atoms.loc[atoms["atom"] == int(ctx.atom_ids[y]), ["px", "py"]].iloc[0].to_numpy(float)
            end = atoms.loc[atoms["atom"] == int(ctx.atom_ids[x]), ["px", "py"]].iloc[0].to_numpy(float)
            samples = [shapely.Point(*(start + (end - start) * t)) for t in np.linspace(0, 1, 25)]
            hit = {int(atoms["atom"].iloc[i]) for p in samples for i in shapes.query(p, predicate="within")}
            swept = sorted(h for h in hit if lab[ctx.positions([h])[0]] != target)
            if len(swept) != 1:  # one atom outside T under the whole stroke: what the mouse passes is certain
                continue
            try:
                edits.paint(ctx, draft.labels, swept, target)
            except InputError:
                continue
            plan = target, start, end, swept
            break
        if plan is not None:
            break
    assert plan is not None
    target, start, end, swept = plan
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    fit(page, [[min(start[1], end[1]), min(start[0], end[0])], [max(start[1], end[1]), max(start[0], end[0])]])
    page.click("#tool-brush")
    begin, finish = to_screen(page, *start), to_screen(page, *end)
    page.mouse.move(*begin)
    page.mouse.down()
    page.mouse.move(*finish, steps=25)
    page.mouse.up()
    wait_revision(page, 2)
    for atom in swept:
        assert grid_of_atom(editor_app, division, atom) == target
    assert sql(editor_app, "SELECT op FROM division_revision WHERE division_id = :d AND revision = 2",
               d=division)[0][0] == "paint"


def test_undo_after_a_reload_with_the_keyboard(editor, editor_live_server, editor_app, division):
    """issue 12 #5: Ctrl+Z after a reload walks the revisions stored on the server; Ctrl+Y redoes; Esc cancels."""
    page = editor
    atom, source, target = paintable(editor_app, division)
    open_editor(page, editor_live_server, division)
    choose_grid(page, target)
    page.click("#tool-paint")
    click_atom(page, atom)
    wait_revision(page, 2)
    status = page.inner_text("#status")
    assert "将 1 个单元" in status and " / " not in status and "grid" not in status
    page.keyboard.press("Escape")
    assert page.evaluate("document.body.dataset.tool") == "select"
    open_editor(page, editor_live_server, division)  # a reload: the page keeps nothing
    assert not page.is_disabled("#undo") and page.is_disabled("#redo")
    page.keyboard.press("Control+z")
    wait_revision(page, 3)
    assert grid_of_atom(editor_app, division, atom) == source
    page.keyboard.press("Control+y")
    wait_revision(page, 4)
    assert grid_of_atom(editor_app, division, atom) == target
    page.keyboard.press("Control+z")
    wait_revision(page, 5)
    page.keyboard.press("Control+Shift+z")
    wait_revision(page, 6)
    assert grid_of_atom(editor_app, division, atom) == target


def assert_no_overlap(page) -> None:
    """No two visible grid labels cover each other."""
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('.grid-label'))
        .filter(e => getComputedStyle(e).visibility !== 'hidden')
        .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert boxes
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]), (a, b)


def test_neighbours_differ_in_colour_and_labels_do_not_overlap(editor, editor_live_server, editor_app, division):
    """issue 12 #6: greedy colouring of the grid adjacency; colliding labels are hidden."""
    page = editor
    open_editor(page, editor_live_server, division)
    page.wait_for_timeout(300)
    assert_no_overlap(page)
    page.evaluate("() => { const m = window.wanggeEditor.map; m.setZoom(m.getZoom() - 1, {animate: false}); }")
    page.wait_for_timeout(300)
    assert_no_overlap(page)
    pairs = sql(editor_app, """SELECT DISTINCT g1.label, g2.label FROM grid g1 JOIN grid g2
                               ON g1.division_id = g2.division_id AND g1.label < g2.label
                               AND ST_Intersects(g1.geom, g2.geom) WHERE g1.division_id = :d""", d=division)
    colours = page.evaluate("""() => { const s = window.wanggeEditor.state, out = {};
        Object.keys(s.grids).forEach(k => { out[k] = s.grids[k].colour; }); return out; }""")
    assert pairs and all(colours[str(a)] != colours[str(b)] for a, b in pairs)
    labels = page.inner_text("#map")
    assert "网格 *" not in labels and "*" not in page.inner_text("#grid-table")
