"""The public lookup page on a phone-sized screen in a real Chromium: search an address, tap the map."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from server.config import PROJECT_ROOT
from server.services.divisions import divisions_in_force

pytestmark = [pytest.mark.browser, pytest.mark.db]

PHONE = {"width": 390, "height": 844}
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def _open(page, live_server, query: str = "") -> None:
    page.set_viewport_size(PHONE)
    page.goto(live_server + "/lookup" + query)
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)


def test_search_an_address_on_a_phone(page, live_server, client):
    _open(page, live_server)
    expected = client.get("/api/v1/lookup/address", query_string={"q": "榆林巷32号2幢2单元"}).get_json()
    page.fill("#lookup-q", "示范县榆林巷３２号２栋２单元")
    page.press("#lookup-q", "Enter")
    card = page.locator("#grid-card")
    card.wait_for(state="visible", timeout=10_000)
    page.wait_for_function("document.getElementById('grid-card').dataset.grid", timeout=10_000)
    assert card.get_attribute("data-grid") == expected["results"][0]["grid"]["code"]
    assert "榆林巷32号2幢2单元" in card.text_content()
    assert "网格编码" in card.text_content()
    # Phone layout: the search box spans the screen, the map sits below the card.
    box = page.locator("#lookup-q").bounding_box()
    assert box["width"] > PHONE["width"] * 0.6
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lookup-phone-address.png"), full_page=True)


def test_tap_the_map_shows_the_grid(page, live_server, client, demo_engine):
    with demo_engine.connect() as conn:
        ids = sorted(divisions_in_force(conn).values())
        lon, lat = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM grid g, ST_PointOnSurface(g.geom) p
            WHERE g.division_id = ANY(:ids) ORDER BY ST_Area(g.geom) DESC LIMIT 1"""), {"ids": ids}).one()
    expected = client.get(f"/api/v1/lookup/point?lon={lon}&lat={lat}").get_json()["grid"]["code"]
    _open(page, live_server, "?lang=en")
    page.locator("#lookup-map").scroll_into_view_if_needed()
    xy = page.evaluate("""([lat, lon]) => {
        const map = window.wanggeLookupMap;
        map.setView([lat, lon], 17, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]);
        return [p.x, p.y];
    }""", [lat, lon])
    page.locator("#lookup-map").click(position={"x": xy[0], "y": xy[1]})
    page.wait_for_function("document.body.dataset.lookup === 'found'", timeout=10_000)
    card = page.locator("#grid-card")
    assert card.get_attribute("data-grid") == expected
    assert "Grid code" in card.text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "lookup-phone-map-tap.png"), full_page=True)


def test_staff_card_has_call_links(page, live_server, client):
    # The demo has no staff yet: the API answer is stubbed so the card's contact list can be checked.
    interior = client.get("/api/v1/lookup/address", query_string={"q": "榆林巷32号2幢2单元"}).get_json()["results"][0]
    answer = {**{k: interior[k] for k in ("grid", "micro_grid", "community", "township", "point")},
              "staff": [{"name": "张网格", "role": "grid_chief", "phone": "138-0000-0001", "grid_code": "x"},
                        {"name": "李专职", "role": "full_time", "phone": "13800000002", "grid_code": "x"}]}
    page.route("**/api/v1/lookup/point*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer, ensure_ascii=False)))
    _open(page, live_server)
    page.fill("#lookup-q", "榆林巷32号2幢2单元")
    page.click("#lookup-form button")
    page.wait_for_function("document.body.dataset.lookup === 'found'", timeout=10_000)
    links = page.locator("#grid-card a.call")
    assert links.count() == 2
    assert links.first.get_attribute("href") == "tel:13800000001"
    assert "网格长" in page.text_content("#grid-card")


def test_phone_header_folds_into_a_menu(page, live_server):
    """Issue 12 #9: on a 390 px phone the header is one bar; the links open from the menu button."""
    _open(page, live_server)
    bar = page.locator("header.topbar").bounding_box()
    assert bar["height"] <= 44 and bar["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    assert not page.locator("#nav-lookup").is_visible()
    page.click("#menu-toggle")
    assert page.get_attribute("#menu-toggle", "aria-expanded") == "true"
    assert page.locator("#nav-lookup").is_visible() and page.locator("#nav-report").is_visible()
    assert page.get_attribute("#nav-lookup", "aria-current") == "page"
    page.screenshot(path=str(ARTIFACTS / "lookup-phone-menu.png"))
    page.keyboard.press("Escape")
    assert not page.locator("#nav-lookup").is_visible()


def test_a_tap_replaces_the_search_list(page, live_server, client, demo_engine):
    """The list of a previous search goes when the map is tapped: it would read as the tap's answer."""
    _open(page, live_server)
    page.fill("#lookup-q", "榆林巷32号")
    page.press("#lookup-q", "Enter")
    page.wait_for_function("document.body.dataset.lookup === 'found'", timeout=10_000)
    assert page.locator("#lookup-results").is_visible()
    assert page.locator("#lookup-results li").count() >= 2
    page.locator("#lookup-map").scroll_into_view_if_needed()
    box = page.locator("#lookup-map").bounding_box()
    page.evaluate("() => { document.body.dataset.lookup = ''; }")
    page.locator("#lookup-map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    page.wait_for_function("document.body.dataset.lookup !== ''", timeout=10_000)
    assert not page.locator("#lookup-results").is_visible()
    assert page.locator("#lookup-results li").count() == 0


def test_the_card_links_to_the_notice_board_and_dials(page, live_server, client):
    """A filed grid's card links to its notice board (公示牌); each phone number is a tel: link."""
    interior = client.get("/api/v1/lookup/address", query_string={"q": "榆林巷32号2幢2单元"}).get_json()["results"][0]
    answer = {**{k: interior[k] for k in ("grid", "micro_grid", "community", "township", "point")},
              "division": {"id": 1, "version": 1, "status": "approved"},
              "staff": [{"name": "张网格", "role": "grid_chief", "phone": "0512-6800 0001", "grid_code": "x"}]}
    page.route("**/api/v1/lookup/point*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer, ensure_ascii=False)))
    _open(page, live_server)
    page.fill("#lookup-q", "榆林巷32号2幢2单元")
    page.press("#lookup-q", "Enter")
    page.wait_for_function("document.body.dataset.lookup === 'found'", timeout=10_000)
    assert page.get_attribute("#notice-link", "href") == "/notice/" + interior["grid"]["code"]
    phones = page.locator('#grid-card a[href^="tel:"]')
    assert phones.count() == 2  # the number itself and the call button
    assert {phones.nth(i).get_attribute("href") for i in range(2)} == {"tel:051268000001"}
