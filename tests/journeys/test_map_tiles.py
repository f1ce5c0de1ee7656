"""Anyone opening the county map (the public's front page, on a desktop or a phone) sees the grids and, zoomed
in, every building: both come as vector tiles of the visible area (issue 13 #6), not as GeoJSON of the whole
county, and a tap on a grid or a building tells what it is.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

pytestmark = [pytest.mark.browser, pytest.mark.db]

BUILDINGS_MIN_ZOOM = 15  # server/web/tiles.py
GRID_TILE = re.compile(r"/tiles/grids/\d+/\d+/\d+\.pbf$")
BUILDING_TILE = re.compile(r"/tiles/buildings/(\d+)/\d+/\d+\.pbf$")


@pytest.fixture(scope="module")
def places(journey_app) -> dict:
    """An approved grid with buildings: a point of it clear of every building, and the middle of its biggest."""
    from server import engine_of

    with engine_of(journey_app).connect() as conn:
        code, households, grid_lon, grid_lat = conn.execute(text("""
            SELECT g.code, g.households, ST_X(p), ST_Y(p) FROM (
                SELECT g.code, g.households, (ST_MaximumInscribedCircle(ST_Difference(g.geom,
                    (SELECT ST_Union(b.geom) FROM building b WHERE b.geom && g.geom)))).center AS p
                FROM grid g JOIN division d ON d.id = g.division_id AND d.status = 'approved'
                WHERE EXISTS (SELECT 1 FROM building b WHERE ST_Within(b.geom, g.geom))
                ORDER BY g.code LIMIT 1) g""")).one()
        road, number, storeys, building_lon, building_lat = conn.execute(text("""
            SELECT b.road, b.number, b.storeys, ST_X(p), ST_Y(p) FROM (
                SELECT b.*, (ST_MaximumInscribedCircle(b.geom)).center AS p FROM building b JOIN grid g
                ON ST_Within(b.geom, g.geom) WHERE g.code = :code AND b.road IS NOT NULL AND b.number IS NOT NULL
                ORDER BY ST_Area(b.geom) DESC LIMIT 1) b"""),
            {"code": code}).one()
    return {"grid": {"code": code, "households": households, "at": (grid_lat, grid_lon)},
            "building": {"label": f"{road}{number}号", "storeys": storeys, "at": (building_lat, building_lon)}}


class Traffic:
    """The URLs a page asked for and the status of each answer."""

    def __init__(self, page) -> None:
        self.requested: list[str] = []
        self.answers: dict[str, int] = {}
        page.on("request", lambda r: self.requested.append(r.url))
        page.on("response", lambda r: self.answers.__setitem__(r.url, r.status))

    def tiles(self, pattern: re.Pattern) -> dict[str, int]:
        return {url: status for url, status in self.answers.items() if pattern.search(url)}


def _zoom_to(page, at: tuple[float, float], zoom: int) -> None:
    page.evaluate("([lat, lon, z]) => { window.wanggeMap.setView([lat, lon], z, {animate: false}); }",
                  [*at, zoom])
    page.wait_for_load_state("networkidle")


def _tap(j, at: tuple[float, float]) -> str:
    """Click (on a phone: tap) the map at a place in view; the text of the popup that opens."""
    # A popup already open fades out for a moment after the next opens: close it first, to read only the new one.
    j.page.evaluate("() => { window.wanggeMap.closePopup(); }")
    j.page.locator(".leaflet-popup").wait_for(state="detached", timeout=5_000)
    x, y = j.page.evaluate("([lat, lon]) => { const p = window.wanggeMap.latLngToContainerPoint([lat, lon]);"
                           " return [p.x, p.y]; }", list(at))
    target = j.page.locator("#map")
    if j.phone:
        target.tap(position={"x": x, "y": y})
    else:
        target.click(position={"x": x, "y": y})
    popup = j.page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=10_000)
    j.page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    return popup.inner_text()


_GRID_FILL_ALPHA = """([lat, lon]) => {
    const p = window.wanggeMap.latLngToContainerPoint([lat, lon]);
    const box = document.getElementById("map").getBoundingClientRect();
    const x = box.left + p.x, y = box.top + p.y;
    for (const c of document.querySelectorAll(".leaflet-grids-pane canvas.leaflet-tile")) {
        const r = c.getBoundingClientRect();
        if (x >= r.left && x < r.right && y >= r.top && y < r.bottom) {
            const px = c.getContext("2d").getImageData(Math.floor((x - r.left) * c.width / r.width),
                                                      Math.floor((y - r.top) * c.height / r.height), 1, 1);
            return px.data[3];
        }
    }
    return -1;
}"""


def _grid_fill(page, at: tuple[float, float]) -> int:
    """Opacity (0-255) the grid tiles paint at a place: how strongly the grid there is filled."""
    return page.evaluate(_GRID_FILL_ALPHA, list(at))


def _wait_grid_fill(page, at: tuple[float, float], above: bool, threshold: int = 40) -> None:
    page.wait_for_function(f"(at) => {{ const a = ({_GRID_FILL_ALPHA})(at); "
                           f"return a >= 0 && a {'>' if above else '<'} {threshold}; }}", arg=list(at), timeout=5_000)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_county_map_draws_grids_and_buildings_from_tiles(journey, places, viewport):
    j = journey("map-tiles", viewport)
    traffic = Traffic(j.page)
    j.goto("/")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    j.step("county")
    # The whole county: grid tiles, no building tile (too far out), and a word on how to see the buildings.
    assert j.page.evaluate("window.wanggeMap.getZoom()") < BUILDINGS_MIN_ZOOM
    grid_tiles = traffic.tiles(GRID_TILE)
    assert grid_tiles and set(grid_tiles.values()) <= {200, 204} and 200 in grid_tiles.values()
    assert not traffic.tiles(BUILDING_TILE)
    assert j.page.locator("#zoom-hint").is_visible()

    _zoom_to(j.page, places["grid"]["at"], 16)
    # On a busy machine the tiles may be asked for only after the network first fell idle.
    j.page.locator(".leaflet-buildings-pane canvas.leaflet-tile").first.wait_for(timeout=10_000)
    j.page.wait_for_load_state("networkidle")
    j.step("zoomed-in")
    building_tiles = traffic.tiles(BUILDING_TILE)
    assert building_tiles and set(building_tiles.values()) <= {200, 204} and 200 in building_tiles.values()
    assert all(int(BUILDING_TILE.search(url).group(1)) >= BUILDINGS_MIN_ZOOM for url in building_tiles)
    assert j.page.locator(".leaflet-buildings-pane canvas.leaflet-tile").count() >= 1
    assert not j.page.locator("#zoom-hint").is_visible()

    # A tap between the buildings: the grid, with its code, type and households, and a way to its staff.
    grid = places["grid"]
    shown = _tap(j, grid["at"])
    assert f"网格编码: {grid['code']}" in shown and f"户数: {grid['households']:,}" in shown
    assert "综合网格" in shown or "专属网格" in shown
    notice = j.page.locator(".leaflet-popup-content a")
    assert notice.inner_text() == "查看网格公示牌" and notice.get_attribute("href") == f"/notice/{grid['code']}"
    # The grid tapped is drawn darker while its popup is open, and lets go when the popup closes.
    _wait_grid_fill(j.page, grid["at"], above=True)
    j.step("grid")
    j.page.locator(".leaflet-popup-close-button").click()
    _wait_grid_fill(j.page, grid["at"], above=False)
    assert 0 < _grid_fill(j.page, grid["at"]) < 40

    # A tap on a building: its address and storeys.
    building = places["building"]
    _zoom_to(j.page, building["at"], 17)
    shown = _tap(j, building["at"])
    assert building["label"] in shown and f"层数: {building['storeys']}" in shown
    j.step("building")

    # Nothing of the county came as GeoJSON buildings, capped at 20 000.
    assert not [url for url in traffic.requested if "/api/v1/buildings" in url]


def test_tiles_keep_to_the_content_security_policy(browser, journey_server):
    """The journeys bypass the CSP (to evaluate scripts); here the page runs under it and nothing is refused."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(journey_server + "/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    # Zoom with the button, as a user does, until the building tiles are drawn.
    for _ in range(8):
        if page.locator(".leaflet-buildings-pane canvas.leaflet-tile").count():
            break
        page.locator(".leaflet-control-zoom-in").click()
        page.wait_for_load_state("networkidle")
    assert page.locator(".leaflet-buildings-pane canvas.leaflet-tile").count() >= 1
    context.close()
    assert not errors, errors
