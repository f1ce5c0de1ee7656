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
