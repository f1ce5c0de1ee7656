"""Every answer is JSON a strict parser reads: no ``NaN``, ``Infinity`` or ``-Infinity``, ever (issue 12 #1).

One grid given a name in a draft once took the public lookup down for the whole county: pandas turned the
other grids' missing names into NaN, and the API answered ``"name":NaN``. These tests walk EVERY GET
endpoint of the OpenAPI document over a database where grids, staff and events have names, notes and
missing values side by side, with path parameters filled from real ids and codes, and read every answer
(and every 4xx body, and every page's embedded JSON) with a parser that refuses the non-JSON constants.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import select, text, update

from server.store import models as m

pytestmark = pytest.mark.db

ADDRESS = "和平路225号"  # a standard address of that community
_EMBEDDED_JSON = re.compile(r'<script[^>]*type="application/json"[^>]*>(.*?)</script>', re.S)


def _refuse(constant: str):
    raise ValueError(f"not JSON: {constant}")


def strict_json(body: str):
    """``json.loads`` that fails on NaN, Infinity and -Infinity (Python's own parser accepts them)."""
    return json.loads(body, parse_constant=_refuse)


@pytest.fixture(scope="module")
def walk_app(databases):
    """A filed demo county whose grids, staff and events mix names and notes with missing values."""
    from server import create_app, engine_of
    from server.services.demo import load_demo

    url = databases.fresh("wangge_test_json_walk")
    for line in load_demo(url, "data/boundaries/demo", file=True):
        assert "not divided" not in line, line
    app = create_app({"DATABASE_URL": url, "TILES": "none", "TESTING": True})
    with engine_of(app).begin() as conn:
        # Every third filed grid gets a name, the others keep none: the mix that made pandas write NaN.
        ids = conn.execute(select(m.Grid.id).order_by(m.Grid.id)).scalars().all()
        conn.execute(update(m.Grid).where(m.Grid.id.in_(ids[::3])).values(name="和平一网格"))
        staff = conn.execute(select(m.Staff.id).order_by(m.Staff.id)).scalars().all()
        conn.execute(update(m.Staff).where(m.Staff.id.in_(staff[::4])).values(phone=None))
        events = conn.execute(select(m.Event.id).order_by(m.Event.id)).scalars().all()
        conn.execute(update(m.Event).where(m.Event.id.in_(events[::2])).values(description=None, address=None))
        conn.execute(update(m.Event).where(m.Event.id.in_(events[1::2])).values(description="楼道堆物，请尽快清理"))
        conn.execute(update(m.EventHistory).values(note=None))
    yield app
    engine_of(app).dispose()


@pytest.fixture(scope="module")
def reported(walk_app) -> dict:
    """A resident's report with a photo (so the photo and tracking routes have real codes and positions)."""
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 80)).save(png, format="PNG")
    response = walk_app.test_client().post("/api/v1/public/events", content_type="multipart/form-data", data={
        "address": ADDRESS, "description": "路灯不亮", "photos": [(io.BytesIO(png.getvalue()), "灯.png")]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return strict_json(response.get_data(as_text=True))


@pytest.fixture(scope="module")
def tokens(walk_app) -> dict[str, str]:
    from server import engine_of
    from server.services.users import DEMO_USERS, create_token

    with engine_of(walk_app).begin() as conn:
        return {name: create_token(conn, name, "json walk") for name, *_ in DEMO_USERS}


def _call(client, token: str, method: str, path: str, **kwargs):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _no_crs_in_geometries(value, path: str) -> None:
    """RFC 7946: a geometry has no ``crs`` member (PostGIS adds one unless told not to)."""
    if isinstance(value, dict):
        if "coordinates" in value and value.get("type") in _GEOMETRY_TYPES:
            assert "crs" not in value, f"{path}: a geometry carries a crs member"
        for item in value.values():
            _no_crs_in_geometries(item, path)
    elif isinstance(value, list):
        for item in value:
            _no_crs_in_geometries(item, path)


_GEOMETRY_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


def _check(response, path: str) -> None:
    """Parse the answer strictly: JSON bodies whole, pages by their embedded JSON; fail on a 5xx."""
    assert response.status_code < 500, f"{path}: {response.status_code} {response.data[:300]!r}"
    if "json" in (response.mimetype or ""):
        _no_crs_in_geometries(strict_json(response.get_data(as_text=True)), path)
    elif response.mimetype == "text/html":
        body = response.get_data(as_text=True)
        for embedded in _EMBEDDED_JSON.findall(body):
            _no_crs_in_geometries(strict_json(embedded), path)
        assert not re.search(r"\bNaN\b", body), f"{path}: the page shows NaN"


def test_naming_one_grid_keeps_the_public_lookup_json(walk_app, tokens):
    """The reproducer: name a grid in a draft, submit, approve, search 和平路225号 (strictly parsed)."""
    client = walk_app.test_client()
    from server import engine_of

    with engine_of(walk_app).connect() as conn:
        community = conn.execute(select(m.Address.community_code).where(m.Address.address == ADDRESS)).scalar_one()
        filed = conn.execute(select(m.Division.id).where(m.Division.community_code == community,
                                                         m.Division.status == "approved")).scalar_one()
    # A filed division changes through a new draft copied from it (approved versions are immutable).
    response = _call(client, tokens["editor"], "POST", f"/api/v1/communities/{community}/divisions",
                     json={"from": filed})
    assert response.status_code == 201, response.get_data(as_text=True)
    draft = response.get_json()["division"]
    with engine_of(walk_app).connect() as conn:
        division = conn.execute(select(m.Division.id, m.Division.revision).where(m.Division.id == draft["id"])).one()
        label = conn.execute(select(m.Grid.label).where(m.Grid.division_id == division.id)
                             .order_by(m.Grid.label)).scalars().first()
    response = _call(client, tokens["editor"], "POST", f"/api/v1/divisions/{division.id}/edits",
                     json={"op": "set_grid", "grid": label, "name": "和平一网格", "revision": division.revision})
    assert response.status_code == 200, response.get_data(as_text=True)
    for user, action, body in (("editor", "submit", None), ("reviewer", "approve", {"note": "同意"})):
        response = _call(client, tokens[user], "POST", f"/api/v1/divisions/{division.id}/{action}", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)

    answer = client.get(f"/api/v1/lookup/address?q={ADDRESS}")
    assert answer.status_code == 200
    body = strict_json(answer.get_data(as_text=True))
    assert body["results"] and body["results"][0]["address"] == ADDRESS
    grid = body["results"][0]["grid"]
    assert grid is not None and (grid["name"] is None or isinstance(grid["name"], str))
    # A tap far outside every grid: the 404 names the nearest grid, and its body is JSON too.
    point = body["results"][0]["point"]
    outside = client.get(f"/api/v1/lookup/point?lon={point['lon'] + 0.5}&lat={point['lat']}")
    assert outside.status_code == 404
    nearest = strict_json(outside.get_data(as_text=True))["error"]["details"]["nearest"]
    assert nearest["name"] is None or isinstance(nearest["name"], str)


def _path_values(walk_app, reported: dict) -> dict[str, dict[str, str]]:
    """Real ids and codes for each path parameter, by the path's resource."""
    from server import engine_of

    with engine_of(walk_app).connect() as conn:
        county = conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "county")).scalar_one()
        division = conn.execute(select(m.Division.id, m.Division.community_code)
                                .where(m.Division.status == "approved").order_by(m.Division.id)).first()
        event = conn.execute(select(m.Event.id).where(m.Event.description.is_(None)).order_by(m.Event.id)).scalar()
        grid = conn.execute(text("SELECT code FROM grid WHERE division_id = :d AND name IS NULL ORDER BY code"),
                            {"d": division.id}).scalar()
        staff = conn.execute(text("SELECT id FROM staff ORDER BY id LIMIT 1")).scalar()
    tracking = {"tracking_code": reported["tracking_code"], "position": "1"}
    return {"areas": {"code": county}, "communities": {"code": division.community_code},
            "divisions": {"division_id": str(division.id)}, "notice": {"grid_code": grid},
            # the event without a description, except for its photo (only the reported one has any)
            "events": {"event_id": str(event)}, "events/photos": {"event_id": str(reported["id"]), "position": "1"},
            "public": tracking, "track": tracking, "review": {"division_id": str(division.id)},
            "tiles": {"z": "10", "x": "853", "y": "416"},
            "staff": {"staff_id": str(staff), "county": county}}


def _fill(path: str, values: dict[str, dict[str, str]]) -> str:
    resource = path.split("/")[3] if path.startswith("/api/v1/") else path.split("/")[1]
    if resource == "events" and "/photos/" in path:
        resource = "events/photos"

    def one(match: re.Match) -> str:
        name = match.group(1)
        assert name in values.get(resource, {}), f"{path}: no real value for path parameter {name!r}: add one"
        return values[resource][name]

    return re.sub(r"\{(\w+)\}", one, path)


_QUERIES = {"/api/v1/lookup/point": ["lon=120.0017&lat=31.7183", "lon=121.5&lat=31.7183"],
            "/api/v1/lookup/address": [f"q={ADDRESS}", "q=和平路&limit=50", "q=不存在的路1号"]}


def test_every_get_endpoint_answers_strict_json(walk_app, tokens, reported):
    """Walk the OpenAPI document: every GET (and its error answers) parses with NaN refused."""
    client = walk_app.test_client()
    document = strict_json(client.get("/api/openapi.json").get_data(as_text=True))
    values = _path_values(walk_app, reported)
    walked = []
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        url = _fill(path, values)
        for query in _QUERIES.get(path, [""]):
            full = f"{url}?{query}" if query else url
            for user in ("admin", "staff"):
                _check(_call(client, tokens[user], "GET", full), full)
            _check(client.get(full), full)  # signed out: the 401/403 bodies too
            walked.append(full)
    assert len(walked) >= 30, walked
    # A wrong id answers a 404 body, which must be JSON as well.
    _check(_call(client, tokens["admin"], "GET", "/api/v1/divisions/999999"), "/api/v1/divisions/999999")
    _check(client.get("/notice/" + values["notice"]["grid_code"]), "/notice")
