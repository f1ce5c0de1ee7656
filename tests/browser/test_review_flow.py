"""Review and filing in a real Chromium, every step checked in PostGIS afterwards.

The county editor submits a draft from the editor; the municipal reviewer opens it from the review
queue, sees the diff, pins a comment on the map and returns it with a reason; the editor sees the
comment in the editor, starts a new draft from the returned version, fixes it (one atom moved, chosen
so the live checks still pass) and submits; the reviewer sees the change and approves it; anyone then
opens the public notice board of one of its grids. Screenshots of each stage go to test-artifacts/.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from server import engine_of
from server.config import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.db]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"  # where the page fixture puts its screenshots too

COMMUNITY = "320499001005"  # its engine draft passes the live checks; no other test files it


def sql(app, query: str, **params):
    with engine_of(app).connect() as conn:
        return conn.execute(text(query), params).all()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"test_review_{name}.png"))


def sign_in(page, base: str, user: str) -> None:
    if page.locator("#logout").count():
        page.click("#logout")
        page.wait_for_selector("#login-link")
    page.goto(base + "/login")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")


def open_editor(page, base: str, division_id: int) -> None:
    page.goto(f"{base}/communities/{COMMUNITY}/editor?division={division_id}")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    page.wait_for_selector("#review-comments[data-ready=true]", timeout=20000)


def submit_in_editor(page, base: str, division_id: int) -> None:
    open_editor(page, base, division_id)
    with page.expect_navigation(timeout=30000):  # the section reloads the page once submitted: now read-only
        page.click("#submit-review")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    page.wait_for_selector("#review-comments[data-ready=true]", timeout=20000)


def api(app, tokens, method: str, url: str, **kwargs):
    response = getattr(app.test_client(), method)(url, headers={"Authorization": f"Bearer {tokens['editor']}"},
                                                  **kwargs)
    return response


def fix_one_atom(app, tokens, division_id: int) -> int:
    """Move one boundary atom to its neighbour so both grids stay in the band; returns the atom number."""
    candidates = sql(app, """
        SELECT a1.atom_no, g2.label FROM division d JOIN atom_edge e ON e.layer_id = d.atom_layer_id
        JOIN atom a1 ON a1.layer_id = d.atom_layer_id AND a1.atom_no = e.a
        JOIN atom a2 ON a2.layer_id = d.atom_layer_id AND a2.atom_no = e.b
        JOIN grid_atom ga1 ON ga1.division_id = d.id AND ga1.atom_id = a1.id JOIN grid g1 ON g1.id = ga1.grid_id
        JOIN grid_atom ga2 ON ga2.division_id = d.id AND ga2.atom_id = a2.id JOIN grid g2 ON g2.id = ga2.grid_id
        WHERE d.id = :d AND g1.label <> g2.label AND g1.type = 'comprehensive' AND g2.type = 'comprehensive'
          AND a1.households > 0 AND g1.households - a1.households >= d.band_min
          AND g2.households + a1.households <= d.band_max
        ORDER BY a1.households, a1.atom_no LIMIT 40""", d=division_id)
    revision = sql(app, "SELECT revision FROM division WHERE id = :d", d=division_id)[0][0]
    for atom, target in candidates:
        answer = api(app, tokens, "post", f"/api/v1/divisions/{division_id}/edits",
                     json={"op": "paint", "atoms": [atom], "grid": target, "revision": revision})
        if answer.status_code != 200:
            continue
        if answer.json["checks"]["ok"]:
            return atom
        revision = answer.json["revision"]
        undo = api(app, tokens, "post", f"/api/v1/divisions/{division_id}/edits",
                   json={"op": "restore", "to_revision": revision - 1, "revision": revision})
        assert undo.status_code == 200
        revision = undo.json["revision"]
    pytest.fail("no atom could be moved with the checks still passing")


def test_submit_review_comment_return_fix_approve_and_notice(page, editor_live_server, editor_app, editor_tokens):
    from server.services.review import ensure_demo_staff

    base = editor_live_server
    first = sql(editor_app, "SELECT id FROM division WHERE community_code = :c AND version = 1", c=COMMUNITY)[0][0]
    created = api(editor_app, editor_tokens, "post", f"/api/v1/communities/{COMMUNITY}/divisions",
                  json={"from": first})
    assert created.status_code == 201
    draft = created.json["division"]["id"]
    n_grids = len(created.json["division"]["grids"])

    # 1. The county editor submits the draft from the editor.
    sign_in(page, base, "editor")
    submit_in_editor(page, base, draft)
    assert sql(editor_app, "SELECT status FROM division WHERE id = :d", d=draft)[0][0] == "submitted"
    assert page.locator("#read-only").is_visible()
    assert page.locator("#submit-review").is_hidden()
    shot(page, "1_submitted_in_editor")

    # 2. The reviewer opens it from the queue: the diff against its parent, then pins a comment and returns it.
    sign_in(page, base, "reviewer")
    page.goto(base + "/review")
    page.click(f"tr[data-division='{draft}'] a.open-review")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    assert page.locator("#grid-table tbody tr").count() == n_grids
    assert page.locator("#grid-table tbody tr[data-status=unchanged]").count() == n_grids
    assert "1" in page.text_content("#against-label")  # version 1, the parent
    # The staffing warnings of the live checks reach the reviewer too (issue 16), as many as the API gives.
    checks = api(editor_app, editor_tokens, "get", f"/api/v1/divisions/{draft}").json["checks"]["problems"]
    staffing = [p["message"] for p in checks if p["code"].startswith("staffing")]
    assert page.locator("#staffing-warnings li").count() == len(staffing)
    assert page.locator("#staffing-warnings").is_visible() == bool(staffing)
    lon, lat = sql(editor_app, "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
                               "WHERE division_id = :d AND label = 1", d=draft)[0]
    page.click("#comment-pin")
    assert "picking" in page.get_attribute("#map", "class")
    point = page.evaluate("([lat, lon]) => { const p = window.wanggeReview.map.latLngToContainerPoint([lat, lon]);"
                          " return [p.x, p.y]; }", [lat, lon])
    page.click("#map", position={"x": point[0], "y": point[1]})
    page.wait_for_selector("#comment-point[data-set=true]")
    page.select_option("#comment-grid", "1")
    page.fill("#comment-text", "网格1东侧边界应沿道路调整")
    page.click("#comment-add")
    page.wait_for_selector("#comments li[data-comment]")
    comment = sql(editor_app, "SELECT grid_label, ST_X(geom), ST_Y(geom), text FROM review_comment "
                              "WHERE division_id = :d", d=draft)
    assert len(comment) == 1 and comment[0][0] == 1 and comment[0][3] == "网格1东侧边界应沿道路调整"
    assert comment[0][1] == pytest.approx(lon, abs=2e-4) and comment[0][2] == pytest.approx(lat, abs=2e-4)
    assert page.locator(".comment-pin").count() == 1
    page.fill("#return-reason", "请按意见调整网格1边界")
    page.click("#return")
    page.wait_for_selector("body[data-decided=returned]")
    assert page.locator("#decision").is_hidden() and page.locator("#comment-form").is_hidden()
    assert sql(editor_app, "SELECT status, review_note FROM division WHERE id = :d", d=draft)[0] == \
        ("returned", "请按意见调整网格1边界")
    shot(page, "2_returned_with_comment")

    # 3. The editor sees the comment and the reason, starts a new draft from the returned version, fixes, submits.
    sign_in(page, base, "editor")
    open_editor(page, base, draft)
    assert "网格1东侧边界应沿道路调整" in page.text_content("#review-comments .comments")
    assert "请按意见调整网格1边界" in page.text_content("#review-comments .return-reason")
    with page.expect_navigation(timeout=30000):  # editor.js opens the new draft
        page.click("#new-draft")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    page.wait_for_selector("#review-comments[data-ready=true]", timeout=20000)
    fixed = int(re.search(r"division=(\d+)", page.url).group(1))
    assert fixed != draft
    assert sql(editor_app, "SELECT parent_id, status FROM division WHERE id = :d", d=fixed)[0] == (draft, "draft")
    assert "网格1东侧边界应沿道路调整" in page.text_content("#review-comments .comments")  # the parent's comment
    fix_one_atom(editor_app, editor_tokens, fixed)
    shot(page, "3_new_draft_shows_comments")
    submit_in_editor(page, base, fixed)
    assert sql(editor_app, "SELECT status FROM division WHERE id = :d", d=fixed)[0][0] == "submitted"

    # 4. The reviewer sees what changed and approves it.
    sign_in(page, base, "reviewer")
    page.goto(f"{base}/review/{fixed}")
    page.wait_for_selector("body[data-ready=true]", timeout=20000)
    assert page.locator("#grid-table tbody tr[data-status=changed]").count() == 2
    assert "1" in page.inner_text("#diff-summary")
    page.fill("#approve-note", "同意备案")
    page.click("#approve")
    page.wait_for_selector("body[data-decided=approved]")
    assert page.locator("#packet-link").is_visible()
    row = sql(editor_app, "SELECT status, effective_from IS NOT NULL, review_note FROM division WHERE id = :d",
              d=fixed)[0]
    assert row == ("approved", True, "同意备案")
    assert [t for t, in sql(editor_app, "SELECT to_status FROM division_transition WHERE division_id = :d "
                                        "ORDER BY id", d=fixed)] == ["submitted", "approved"]
    shot(page, "4_approved")

    # 5. The public notice board of one of its grids, signed out.
    ensure_demo_staff(engine_of(editor_app))
    code, name, households = sql(editor_app, "SELECT code, name, households FROM grid WHERE division_id = :d "
                                             "ORDER BY code LIMIT 1", d=fixed)[0]
    chief = sql(editor_app, """SELECT s.name, s.phone FROM staff_assignment a JOIN staff s ON s.id = a.staff_id
                               WHERE a.grid_code = :c AND a.role = 'grid_chief'""", c=code)[0]
    page.click("#logout")
    page.wait_for_selector("#login-link")
    page.goto(f"{base}/notice/{code}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.text_content("#grid-code").strip() == code
    community = sql(editor_app, "SELECT name FROM admin_area WHERE code = :c", c=code[:12])[0][0]
    # A grid with no name of its own is named after its community and sequence, never by repeating the code.
    assert page.text_content("#grid-name").strip() == (name or f"{community}第{int(code[12:])}网格")
    assert page.text_content("#grid-households").strip() == str(households)
    assert chief[0] in page.text_content(".staff-grid_chief")
    assert page.text_content(".staff-grid_chief .phone").strip() == chief[1]
    assert re.fullmatch(r"138\d{8}", chief[1])
    assert page.locator(".staff-full_time").count() == 1
    assert "12345" in page.text_content("#supervision")
    assert page.locator("#map .leaflet-interactive").count() == 1  # the grid's outline
    shot(page, "5_notice_board")
