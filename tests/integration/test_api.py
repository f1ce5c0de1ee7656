"""The REST API over the demo county, and its OpenAPI document."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.db


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["postgis"].startswith("3.")
    from alembic.script import ScriptDirectory

    from server.store.migrate import alembic_config

    assert body["database"]["schema_revision"] == ScriptDirectory.from_config(alembic_config("")).get_current_head()


def test_healthz_reports_unreachable_database():
    from server import create_app

    app = create_app({"DATABASE_URL": "postgresql+psycopg://nobody@/nowhere?host=/nonexistent&port=1"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"]["ok"] is False


def test_areas_by_level(client):
    communities = client.get("/api/v1/areas?level=community")
    assert communities.status_code == 200
    assert communities.mimetype == "application/geo+json"
    features = communities.get_json()["features"]
    assert len(features) >= 8
    props = features[0]["properties"]
    assert set(props) >= {"code", "name", "level", "parent_code", "kind", "households", "buildings"}
    assert {f["properties"]["kind"] for f in features} == {"urban", "rural"}
    assert all(len(f["properties"]["code"]) == 12 for f in features)
    assert features[0]["geometry"]["type"] == "MultiPolygon"
    county = client.get("/api/v1/areas?level=county").get_json()["features"]
    assert len(county) == 1
    # The county's households are the sum of its communities'.
    assert county[0]["properties"]["households"] == sum(f["properties"]["households"] for f in features)
    assert 30_000 <= county[0]["properties"]["households"] <= 60_000


def test_areas_children_of_a_township(client):
    townships = client.get("/api/v1/areas?level=township").get_json()["features"]
    code = townships[0]["properties"]["code"]
    children = client.get(f"/api/v1/areas?parent={code}").get_json()["features"]
    assert children and all(f["properties"]["parent_code"] == code for f in children)


def test_bad_parameters_are_named(client):
    response = client.get("/api/v1/areas?level=planet")
    assert response.status_code == 400
    assert "'level'" in response.get_json()["error"]["message"]
    response = client.get("/api/v1/buildings?bbox=1,2,3")
    assert response.status_code == 400
    assert "'bbox'" in response.get_json()["error"]["message"]
    response = client.get("/api/v1/buildings?limit=-4")
    assert response.status_code == 400
    assert "'limit'" in response.get_json()["error"]["message"]
    response = client.get("/api/v1/buildings?community=999999999999")
    assert response.status_code == 404
    assert "999999999999" in response.get_json()["error"]["message"]


def test_buildings_of_a_community_and_bbox(client):
    community = client.get("/api/v1/areas?level=community").get_json()["features"][0]["properties"]
    body = client.get(f"/api/v1/buildings?community={community['code']}").get_json()
    assert len(body["features"]) == community["buildings"]
    assert sum(f["properties"]["households"] for f in body["features"]) == community["households"]
    extent = client.get("/api/v1/summary").get_json()["extent"]
    west, south, east, north = extent
    half = f"{west},{south},{(west + east) / 2},{north}"
    some = client.get(f"/api/v1/buildings?bbox={half}").get_json()["features"]
    every = client.get("/api/v1/buildings").get_json()["features"]
    assert 0 < len(some) < len(every)
    limited = client.get("/api/v1/buildings?limit=5").get_json()["features"]
    assert len(limited) == 5


def test_barriers_and_sites(client):
    barriers = client.get("/api/v1/barriers").get_json()["features"]
    assert {"road", "river"} <= {f["properties"]["kind"] for f in barriers}
    sites = client.get("/api/v1/sites").get_json()["features"]
    kinds = {f["properties"]["kind"] for f in sites}
    assert {"school", "hospital", "government", "industrial_park", "market", "park"} <= kinds


def test_unknown_api_path_answers_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_openapi_document_is_valid_and_covers_every_route(app, client):
    document = client.get("/api/openapi.json").get_json()
    validate(document)
    documented = set(document["paths"])
    # Flask writes path parameters as <int:name>, OpenAPI as {name}.
    # Every route but the OGC API (its own document at /ogc/api) and the static files.
    routes = {re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", str(rule))
              for rule in app.url_map.iter_rules() if not str(rule).startswith(("/ogc", "/static"))}
    assert routes <= documented, f"undocumented routes: {routes - documented}"


@pytest.mark.parametrize("path", ["/api/v1/divisions/2147483648", "/api/v1/divisions/2147483648/grids",
                                  "/api/v1/events/999999999999"])
def test_ids_out_of_range_are_a_400_naming_the_field(client, path):
    answer = client.get(path)
    assert answer.status_code in (400, 401), answer.get_data(as_text=True)
    if answer.status_code == 400:
        assert answer.get_json()["error"]["details"]["field"]
