"""HTML pages and the health check. Pages render a shell; the data comes from the REST API."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template, request

from server import engine_of
from server.db import database_status
from server.i18n import LANGUAGES, current_language, strings, translate

pages = Blueprint("pages", __name__, static_folder="static", static_url_path="/static",
                  template_folder="templates")


def base_layers(config: dict) -> list[dict]:
    """The base maps the configuration allows, for Leaflet; always ends with the plain background."""
    tiles = config["TILES"]
    layers = []
    if tiles == "osm":
        layers.append({"id": "osm", "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "maxZoom": 19,
                       "attribution": "© OpenStreetMap contributors"})
    elif tiles == "tianditu":
        key = config["TIANDITU_KEY"]
        # Tianditu's vector map and its label layer, web-mercator tiles; coordinates are CGCS2000.
        for layer in ("vec", "cva"):
            layers.append({"id": f"tianditu-{layer}", "maxZoom": 18, "subdomains": "01234567",
                           "url": f"https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                                  f"&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                                  f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}",
                           "attribution": "© 天地图 Tianditu"})
    elif tiles == "custom":
        layers.append({"id": "custom", "url": config["TILE_URL"], "maxZoom": 20,
                       "attribution": config["TILE_ATTRIBUTION"]})
    return layers


def render_page(template: str, **context):
    """Render a page in the request's language and remember an explicit choice in a cookie."""
    language = current_language()
    response = make_response(render_template(
        template, lang=language, other_lang=[x for x in LANGUAGES if x != language][0],
        t=lambda key: translate(key, language), strings=strings(language), **context))
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie("lang", language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@pages.get("/")
def county_map():
    """The county map: townships, communities, roads and rivers, sites and buildings."""
    return render_page("map.html", base_layers=base_layers(current_app.config))


@pages.get("/healthz")
def healthz():
    """Liveness plus database status; 503 when the database cannot be reached."""
    status = database_status(engine_of(current_app))
    return {"status": "ok" if status["ok"] else "unavailable", "database": status}, (200 if status["ok"] else 503)
