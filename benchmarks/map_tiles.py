"""The county map's data: vector tiles of the view against the whole county as GeoJSON (issue 13 #6).

Run: ``.venv/bin/python benchmarks/map_tiles.py DATABASE_URL [--before-script PATH] [--runs 5]``
(a database with ``wangge demo load`` done).

Serves the app on a loopback port and opens the county map in Chromium, ``--runs`` times: the time until the
page is ready (``body[data-ready]``), the bytes on the wire (compressed, as the app sends them) and the number
of requests, at the first view of the whole county and after zooming to a street (zoom 16) where buildings
show. With ``--before-script``, the same with the page script replaced by that file: the GeoJSON version,
``git show 7d0cb2e:server/web/static/js/county-map.js``, which fetched every building up front. Also prints
the size and time of the building tiles over the county at zoom 15-17, straight from the app.
"""

from __future__ import annotations

import argparse
import math
import statistics
import threading
import time
from pathlib import Path

from sqlalchemy import text


def serve(url: str):
    from werkzeug.serving import make_server

    from server import create_app

    app = create_app({"DATABASE_URL": url, "TILES": "none"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, f"http://127.0.0.1:{server.server_port}"


def street_of(app) -> tuple[float, float]:
    """The middle of the demo's busiest street block: where the most buildings are near."""
    from server import engine_of

    with engine_of(app).connect() as conn:
        return tuple(conn.execute(text("""
            SELECT ST_Y(c), ST_X(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) c FROM building
            WHERE community_code = (SELECT community_code FROM building GROUP BY 1 ORDER BY count(*) DESC
                                    LIMIT 1)) s""")).one())


def one_visit(browser, base: str, street: tuple[float, float], before: str | None) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    if before is not None:
        page.route("**/static/js/county-map.js", lambda route: route.fulfill(
            body=before, content_type="application/javascript"))
    finished: list = []
    page.on("requestfinished", lambda request: finished.append(request))
    start = time.perf_counter()
    page.goto(base + "/")
    page.locator("body[data-ready]").wait_for(state="attached", timeout=120_000)
    ready = time.perf_counter() - start
    page.wait_for_load_state("networkidle")
    first = list(finished)
    page.evaluate("([lat, lon]) => { window.wanggeMap.setView([lat, lon], 16, {animate: false}); }", list(street))
    page.wait_for_timeout(300)  # the new tiles are asked for on the next frame
    page.wait_for_load_state("networkidle")
    zoomed = finished[len(first):]

    def wire(requests: list) -> tuple[int, int]:
        return sum(r.sizes()["responseBodySize"] for r in requests), len(requests)

    result = {"ready": ready, "first": wire(first), "zoomed": wire(zoomed)}
    page.close()
    return result


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2 ** zoom
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def building_tiles(app) -> None:
    from server import engine_of

    client = app.test_client()
    with engine_of(app).connect() as conn:
        west, south, east, north = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
            "FROM (SELECT ST_Extent(geom) e FROM building) s")).one()
    for zoom in (15, 16, 17):
        (x0, y1), (x1, y0) = tile_of(west, south, zoom), tile_of(east, north, zoom)
        sizes, times = [], []
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                start = time.perf_counter()
                response = client.get(f"/tiles/buildings/{zoom}/{x}/{y}.pbf")
                times.append(time.perf_counter() - start)
                if response.status_code == 200:
                    sizes.append(len(response.data))
        print(f"building tiles z{zoom}: {len(times)} over the county, {len(sizes)} with buildings; "
              f"bytes median {statistics.median(sizes):,.0f} max {max(sizes):,}; "
              f"ms median {1000 * statistics.median(times):.1f} max {1000 * max(times):.1f}")


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--before-script", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    app, base = serve(args.url)
    street = street_of(app)
    building_tiles(app)
    versions = {"tiles (this page)": None}
    if args.before_script:
        versions["GeoJSON (before)"] = args.before_script.read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for name, script in versions.items():
            visits = [one_visit(browser, base, street, script) for _ in range(args.runs)]
            ready = statistics.median(v["ready"] for v in visits)
            first, zoomed = visits[-1]["first"], visits[-1]["zoomed"]
            print(f"{name}: ready in {1000 * ready:.0f} ms (median of {args.runs}); whole county {first[0]:,} bytes "
                  f"in {first[1]} requests; zoomed to a street +{zoomed[0]:,} bytes in {zoomed[1]} requests")
        browser.close()


if __name__ == "__main__":
    main()
