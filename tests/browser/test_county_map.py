"""The first map page in a real Chromium: the county is drawn from PostGIS through the GeoJSON API and the
vector tiles (the tile journey is tests/journeys/test_map_tiles.py)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.db]


def test_county_map_draws_the_demo_county(page, live_server, client):
    communities = client.get("/api/v1/areas?level=community").get_json()["features"]
    page.goto(live_server + "/")
    page.wait_for_function("document.body.dataset.ready !== undefined", timeout=30_000)
    assert page.evaluate("document.body.dataset.ready") == "true"
    # The county's name from PostGIS, one labelled polygon and one table row per community.
    assert page.text_content("#county-name") == "示范县"
    labels = page.locator(".area-label").all_text_contents()
    assert sorted(labels) == sorted(f["properties"]["name"] for f in communities)
    assert page.locator("#community-table tbody tr").count() == len(communities)
    total = sum(f["properties"]["households"] for f in communities)
    assert page.text_content("#total-households").replace(",", "") == str(total)
    # Leaflet drew vector data on its canvas, the grid tiles on theirs, and no base map image was asked for
    # (offline by default).
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1
    assert page.locator(".leaflet-grids-pane canvas.leaflet-tile").count() >= 1
    assert page.locator("img.leaflet-tile").count() == 0
    # Clicking a community zooms to it.
    zoom_before = page.evaluate("window.wanggeMap.getZoom()")
    page.locator("#community-table tbody tr").first.click()
    page.wait_for_function(f"window.wanggeMap.getZoom() > {zoom_before}", timeout=10_000)


def test_map_page_in_english(page, live_server):
    page.goto(live_server + "/?lang=en")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    assert "Households" in page.text_content("#community-table thead")
    assert page.locator("a.lang").text_content() == "中文"


def test_leaflet_is_served_by_the_app(client):
    response = client.get("/static/vendor/leaflet/leaflet.js")
    assert response.status_code == 200
    assert b"Leaflet" in response.data[:2000]
