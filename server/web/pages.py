"""HTML pages and the health check. Pages render a shell; the data comes from the REST API."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from server import engine_of
from server.errors import NotFound
from server.store import models as m
from server.store.db import database_status
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


@pages.get("/divisions")
def divisions_home():
    """The overview of the first county (the one a county office works on)."""
    with engine_of(current_app).connect() as conn:
        county = conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "county")
                              .order_by(m.AdminArea.code)).scalars().first()
    if county is None:
        raise NotFound("no county imported yet: run wangge demo load or wangge import areas")
    return redirect(url_for("pages.area_overview", code=county, **request.args))


@pages.get("/areas/<code>/overview")
def area_overview(code: str):
    """The county (or township) overview: communities coloured by the status of their division."""
    from server.web.auth import require_login

    require_login()
    with engine_of(current_app).connect() as conn:
        name = conn.execute(select(m.AdminArea.name).where(m.AdminArea.code == code)).scalar_one_or_none()
    if name is None:
        raise NotFound(f"no administrative area with code {code!r}")
    return render_page("overview.html", area={"code": code, "name": name}, base_layers=base_layers(current_app.config))


@pages.get("/communities/<code>/editor")
def community_editor(code: str):
    """The community editor: the latest version of its division (or ``?division=ID``) on the map."""
    from server.services.permissions import can
    from server.web.auth import current_user, require_permission

    require_permission("read_draft", code)
    with engine_of(current_app).connect() as conn:
        community = conn.execute(select(m.AdminArea.name, m.AdminArea.level, m.AdminArea.parent_code)
                                 .where(m.AdminArea.code == code)).one_or_none()
        if community is None or community.level != "community":
            raise NotFound(f"no community with code {code!r}")
        wanted = request.args.get("division", type=int)
        query = select(m.Division.id).where(m.Division.community_code == code)
        division_id = conn.execute(query.where(m.Division.id == wanted) if wanted else
                                   query.order_by(m.Division.version.desc())).scalars().first()
    if division_id is None:
        raise NotFound(f"community {code} has no division yet: run the engine first (wangge divide {code})")
    editor = {"division": division_id, "community": {"code": code, "name": community.name},
              "canEdit": can(current_user(), "edit_draft", code)}
    return render_page("editor.html", editor=editor, community=community, base_layers=base_layers(current_app.config))
