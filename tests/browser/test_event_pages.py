"""Grid events in a real Chromium: a resident reports on a phone, grid staff act on their events, the map
and the statistics render with data. Runs on the editor database (events only; divisions untouched).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from server import engine_of
from server.config import PROJECT_ROOT
from server.services import events as ev
from server.services.divisions import divisions_in_force
from server.services.matters import ensure_demo_matters
from server.store import models as m

pytestmark = [pytest.mark.browser, pytest.mark.db]

PHONE = {"width": 390, "height": 844}
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
STAFF_COMMUNITY = "320499001001"


@pytest.fixture
def engine(editor_app):
    engine = engine_of(editor_app)
    ensure_demo_matters(engine)
    ev.report_limiter(editor_app).clear()
    return engine


def grid_point(engine, prefix: str):
    with engine.connect() as conn:
        ids = list(divisions_in_force(conn).values())
        return conn.execute(text("""
            SELECT g.code, ST_X(p) AS lon, ST_Y(p) AS lat FROM grid g, ST_PointOnSurface(g.geom) p
            WHERE g.division_id = ANY(CAST(:ids AS int[])) AND g.code LIKE :p
            ORDER BY ST_Area(g.geom) DESC LIMIT 1"""), {"ids": ids, "p": prefix + "%"}).one()


def sign_in(page, base: str, user: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", user)
    page.fill("#password", f"{user}-demo-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")


def test_public_report_on_a_phone(page, editor_live_server, engine):
    grid = grid_point(engine, "320499001002")
    page.set_viewport_size(PHONE)
    page.goto(editor_live_server + "/report")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    assert page.locator("#report-category option[value='0101']").count() == 1
    page.locator("#report-map").scroll_into_view_if_needed()
    xy = page.evaluate("""([lat, lon]) => {
        const map = window.wanggeReportMap;
        map.setView([lat, lon], 17, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]);
        return [p.x, p.y];
    }""", [grid.lat, grid.lon])
    page.locator("#report-map").click(position={"x": xy[0], "y": xy[1]})
    page.wait_for_selector("#report-point.chosen")
    page.select_option("#report-category", "0101")
    page.fill("#report-description", "早市摊贩占用人行道，行人只能走机动车道。")
    page.locator("#report-description").scroll_into_view_if_needed()
    page.click("#report-submit")
    page.wait_for_selector("#report-code", timeout=15_000)
    code = page.text_content("#report-code").strip()
    assert code.startswith("SJ")
    assert page.get_attribute("#report-result", "data-community") == "320499001002"
    # The editor database holds drafts only: the event reaches the draft's grid, whose code is not published.
    assert page.get_attribute("#report-result", "data-grid") == ""
    assert "占道经营" in page.text_content("#report-result")
    with engine.connect() as conn:
        row = conn.execute(select(m.Event).where(m.Event.code == code)).one()
    assert (row.source, row.grid_code, row.status) == ("public", grid.code, "reported")
    # The form is wide enough to use on a phone.
    assert page.locator("#report-description").bounding_box()["width"] > PHONE["width"] * 0.7
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "events-report-phone.png"), full_page=True)


def test_public_report_needs_a_location(page, editor_live_server, engine):
    page.goto(editor_live_server + "/report?lang=en")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    page.fill("#report-description", "something is broken")
    page.click("#report-submit")
    assert "Choose a point on the map" in page.text_content("#report-status")


def test_staff_act_on_their_events(page, editor_live_server, editor_app, editor_tokens, engine):
    grid = grid_point(engine, STAFF_COMMUNITY)
    client = editor_app.test_client()
    operator = {"Authorization": f"Bearer {editor_tokens['operator']}"}
    event = client.post("/api/v1/events", headers=operator, json={
        "description": "楼道堆放杂物", "title": "浏览器测试事件", "category": "0102", "lon": grid.lon,
        "lat": grid.lat}).get_json()
    for action in ("register", "dispatch"):
        assert client.post(f"/api/v1/events/{event['id']}/actions", json={"action": action},
                           headers=operator).status_code == 200
    page.set_viewport_size(PHONE)  # grid staff work on a phone
    sign_in(page, editor_live_server, "staff")
    page.goto(editor_live_server + "/events/mine")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    card = f"#mine-rows .ev-item[data-code='{event['code']}']"
    item = page.locator(card)
    assert item.get_attribute("data-status") == "dispatched"
    assert "乱堆乱放" in item.text_content()
    # A card, not a squeezed table: the title runs across the phone, the buttons are big enough to tap.
    assert item.locator("h2").bounding_box()["width"] > PHONE["width"] * 0.7
    assert item.locator("button[data-action=handle]").bounding_box()["height"] >= 40
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert page.locator(".ev-tabs a[href='/events/mine']").is_visible()  # the event pages' menu on a phone
    tel = item.locator("a.ev-tel")
    assert tel.count() == 1 and tel.get_attribute("href").startswith("tel:")
    assert "T" not in item.locator(".ev-deadline time").text_content()  # a local time, not an ISO string
    item.locator("button[data-action=handle]").click()
    page.wait_for_selector(f"{card}[data-status=handling]")
    page.locator(f"{card} .ev-note").fill("已清理杂物")
    page.locator(f"{card} button[data-action=feedback]").click()
    page.wait_for_selector(f"{card}[data-status=handled]")
    page.wait_for_selector(f"{card} .ev-history")
    assert "已清理杂物" in page.text_content(f"{card} .ev-history")
    # Not offered once handled: return; and verify, because the one who fed back does not check it.
    assert page.locator(f"{card} button[data-action=return]").count() == 0
    assert page.locator(f"{card} button[data-action=verify]").count() == 0
    assert "须由他人核查" in page.text_content(card)
    detail = client.get(f"/api/v1/events/{event['id']}", headers=operator).get_json()
    assert detail["status"] == "handled"
    assert [h["action"] for h in detail["history"]] == ["report", "register", "dispatch", "handle", "feedback"]
    assert detail["history"][-1]["user"] == "网格员"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "events-mine-staff.png"), full_page=True)


def test_event_map_and_statistics_render_with_data(page, editor_live_server, editor_app, editor_tokens, engine):
    grid = grid_point(engine, STAFF_COMMUNITY)
    client = editor_app.test_client()
    editor = {"Authorization": f"Bearer {editor_tokens['editor']}"}
    client.post("/api/v1/events", headers=editor, json={"description": "井盖缺失", "category": "0105",
                                                         "lon": grid.lon, "lat": grid.lat})
    sign_in(page, editor_live_server, "editor")
    page.goto(editor_live_server + "/events/map")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    assert int(page.get_attribute("#events-map", "data-grids")) > 50
    assert int(page.get_attribute("#map-list", "data-count")) >= 1
    assert page.locator("#map-legend i").count() >= 5
    page.select_option("#map-status", "reported")
    texts = page.locator("#map-list li").all_text_contents()
    assert texts and all("已上报" in t for t in texts)
    page.screenshot(path=str(ARTIFACTS / "events-map.png"))

    page.goto(editor_live_server + "/events/stats")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    assert page.locator(f"#stats-rows tr[data-grid='{grid.code}']").count() == 1
    assert "合计" in page.text_content("#stats-total")
    href = page.get_attribute("#stats-csv", "href")
    assert "format=csv" in href
    download = page.request.get(editor_live_server + href)
    assert download.status == 200 and download.headers["content-type"].startswith("text/csv")
    assert grid.code in download.text()
    page.screenshot(path=str(ARTIFACTS / "events-stats.png"), full_page=True)
