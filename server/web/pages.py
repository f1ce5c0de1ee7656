"""HTML pages and the health check. Pages render a shell; the data comes from the REST API."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for

from server import engine_of
from server.api import params
from server.services import areas
from server.web.i18n import LANGUAGES, current_language, strings, translate

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
    from server.access import current_user
    from server.web.navigation import landing_path, nav_links

    language = current_language()
    user = current_user()
    response = make_response(render_template(
        template, lang=language, other_lang=[x for x in LANGUAGES if x != language][0],
        t=lambda key: translate(key, language), strings=strings(language), nav=nav_links(user),
        home=landing_path(user), **context))
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie("lang", language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@pages.app_template_filter("tel")
def tel(number: object) -> str:
    """A phone number as a ``tel:`` link target: its digits and a leading +, nothing else."""
    text = str(number or "").strip()
    return ("+" if text.startswith("+") else "") + "".join(c for c in text if c.isdigit())


@pages.app_context_processor
def _audit_display() -> dict:
    from server.web.audit_display import audit_row

    return {"audit_row": audit_row}


@pages.get("/")
def county_map():
    """The county map: townships, communities, roads and rivers, sites and buildings."""
    return render_page("map.html", base_layers=base_layers(current_app.config))


@pages.get("/home")
def home():
    """Each role's own work: where signing in leads (see :mod:`server.web.navigation`)."""
    from server.access import current_user
    from server.web.navigation import landing_path

    return redirect(landing_path(current_user()), 303)


@pages.get("/lookup")
def lookup_page():
    """The public page: search an address or tap the map, see the grid and whom to call."""
    return render_page("lookup.html", base_layers=base_layers(current_app.config))


@pages.get("/healthz")
def healthz():
    """Liveness plus database status; 503 when the database cannot be reached."""
    status = areas.health(engine_of(current_app))
    return {"status": "ok" if status["ok"] else "unavailable", "database": status}, (200 if status["ok"] else 503)


@pages.get("/divisions")
def divisions_home():
    """The overview of the first county (the one a county office works on)."""
    county = areas.first_county(engine_of(current_app))
    return redirect(url_for("pages.area_overview", code=county, **request.args))


@pages.get("/areas/<code>/overview")
def area_overview(code: str):
    """The county (or township) overview: communities coloured by the status of their division."""
    from server.access import require_login

    require_login()
    area = areas.area(engine_of(current_app), code)
    return render_page("overview.html", area={"code": code, "name": area["name"]},
                       base_layers=base_layers(current_app.config))


@pages.get("/communities/<code>/editor")
def community_editor(code: str):
    """The community editor: the latest version of its division (or ``?division=ID``) on the map."""
    from server.access import current_user, require_permission
    from server.services.permissions import can

    require_permission("read_draft", code)
    wanted = params.integer(request.args.get("division"), "division", minimum=1)
    community, division_id = areas.community_division(engine_of(current_app), code, wanted)
    editor = {"division": division_id, "community": {"code": code, "name": community["name"]},
              "canEdit": can(current_user(), "edit_draft", code)}
    return render_page("editor.html", editor=editor, community=community, base_layers=base_layers(current_app.config))
