"""OGC API - Features (Part 1) at /ogc: answers validated against the OGC schemas, paging, filters, errors,
and the service read by a real client (GDAL's OAPIF driver through pyogrio) over HTTP.

The demo has only draft divisions, and the public interface serves approved ones; so this module
copies the demo's areas and divisions into its own database once and approves some there:
8 communities approved and in force since 2025-01-01, 2 approved for 2024 only (in force on a past
date), 2 left as drafts (never published).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from sqlalchemy import insert, select, text

pytestmark = pytest.mark.db

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "ogcapi-features"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
IN_FORCE, PAST, DRAFT = slice(0, 8), slice(8, 10), slice(10, None)


# -- fixtures -------------------------------------------------------------------------------------------

def _copy_published_tables(source_url: str, target_url: str) -> None:
    """Copy areas, atom layers, divisions, grids and micro-grids (parents first) from one database to another."""
    from server.store import models as m
    from server.store.db import make_engine

    source, target = make_engine(source_url), make_engine(target_url)
    order = {level: i for i, level in enumerate(m.ADMIN_LEVELS)}
    try:
        with source.connect() as read, target.begin() as write:
            for model in (m.AdminArea, m.AtomLayer, m.Division, m.Grid, m.MicroGrid):
                table = model.__table__
                rows = [dict(r._mapping) for r in read.execute(select(table))]
                if model is m.AdminArea:
                    rows.sort(key=lambda r: order[r["level"]])
                write.execute(insert(table), rows)
    finally:
        source.dispose()
        target.dispose()


@pytest.fixture(scope="session")
def ogc_db_url(databases, demo_db_url) -> str:
    """A copy of the demo's divisions in which some are approved (see the module docstring)."""
    from server.store.db import make_engine

    url = databases.fresh("wangge_test_ogc")
    _copy_published_tables(demo_db_url, url)
    engine = make_engine(url)
    with engine.begin() as conn:
        ids = conn.execute(text("SELECT id FROM division ORDER BY community_code")).scalars().all()
        assert len(ids) >= 12
        conn.execute(text("UPDATE division SET status = 'approved', effective_from = '2025-01-01' "
                          "WHERE id = ANY(:ids)"), {"ids": ids[IN_FORCE]})
        conn.execute(text("UPDATE division SET status = 'approved', effective_from = '2024-01-01', "
                          "effective_to = '2025-01-01' WHERE id = ANY(:ids)"), {"ids": ids[PAST]})
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def ogc_engine(ogc_db_url):
    from server.store.db import make_engine

    engine = make_engine(ogc_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def ogc_app(ogc_db_url):
    from server import create_app

    return create_app({"DATABASE_URL": ogc_db_url, "TILES": "none", "TESTING": True})  # approved only (default)


@pytest.fixture
def ogc(ogc_app):
    return ogc_app.test_client()


#: Serves the app on a free loopback port and prints the port.
_SERVE = """
import sys
from werkzeug.serving import make_server
from server import create_app
server = make_server("127.0.0.1", 0, create_app({"DATABASE_URL": sys.argv[1], "TILES": "none"}), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""


@pytest.fixture(scope="session")
def ogc_server(ogc_db_url) -> Iterator[str]:
    """The OGC app served from another process, for clients that speak HTTP.

    Not a thread of this process: GDAL keeps the GIL while it reads, so a server thread here would
    never answer it.
    """
    process = subprocess.Popen([sys.executable, "-c", _SERVE, ogc_db_url], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the server did not start (exit code {process.poll()})"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def registry() -> Registry:
    """The transcribed OGC schemas, each under its ``$id``, so their relative ``$ref`` resolve offline."""
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@pytest.fixture(scope="session")
def check(registry):
    """``check(name, document)``: validate against the OGC schema ``name``, failing with every error."""

    def _check(name: str, document: dict) -> None:
        schema = registry.contents(f"https://wangge.invalid/schemas/ogcapi-features/{name}.json")
        errors = [f"{list(e.absolute_path)}: {e.message}"
                  for e in Draft202012Validator(schema, registry=registry).iter_errors(document)]
        assert not errors, f"{name}: {errors[:5]}"

    return _check


def published(engine, on: str | None = None) -> set[str]:
    """Grid codes of approved divisions in force on ``on`` (today), straight from PostGIS."""
    with engine.connect() as conn:
        return set(conn.execute(text("""
            SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id
            WHERE d.status = 'approved' AND d.effective_from <= CAST(:on AS date)
              AND (d.effective_to IS NULL OR d.effective_to > CAST(:on AS date))"""),
                                {"on": on or date.today().isoformat()}).scalars())


def all_items(client, url: str) -> tuple[list[dict], int]:
    """Follow ``next`` links from ``url``; returns every feature and the first page's numberMatched."""
    features, matched, pages = [], None, 0
    while url:
        body = client.get(url.replace("http://localhost", "")).get_json()
        matched = body["numberMatched"] if matched is None else matched
        assert body["numberMatched"] == matched
        assert body["numberReturned"] == len(body["features"])
        features += body["features"]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
        assert pages < 200, "next links do not end"
    return features, matched


def assert_exception(response, status: int, check, naming: str | None = None) -> None:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    check("exception", body)
    if naming:
        assert f"'{naming}'" in body["description"]


# -- landing page, conformance, API definition ----------------------------------------------------------

def test_landing_page_links_everything(ogc, check):
    response = ogc.get("/ogc")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    check("landingPage", body)
    links = {link["rel"]: link for link in body["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert links["alternate"]["type"] == "text/html"  # the page for people
    for rel in ("conformance", "data", "service-desc"):
        assert ogc.get(urlparse(links[rel]["href"]).path).status_code == 200


def test_conformance_lists_what_is_implemented(ogc, check):
    body = ogc.get("/ogc/conformance").get_json()
    check("confClasses", body)
    assert {CORE + "core", CORE + "geojson", CORE + "oas30", CORE + "html",
            "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
            "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables"} <= set(body["conformsTo"])
    assert any("CQL2" in note for note in body["notSupported"])  # what is left out is said


def test_api_definition_is_valid_openapi_3_0(ogc):
    response = ogc.get("/ogc/api")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.oai.openapi+json"
    document = response.get_json()
    validate_openapi(document)
    assert document["openapi"].startswith("3.0")
    for collection in ("grids", "micro_grids", "communities"):
        items = document["paths"][f"/collections/{collection}/items"]["get"]
        names = {p["name"] for p in items["parameters"]}
        assert {"bbox", "limit", "offset", "datetime"} <= names
        assert document["paths"][f"/collections/{collection}/items/{{featureId}}"]


def test_json_everywhere_and_html_for_people_where_offered(ogc, check):
    assert ogc.get("/ogc/collections?f=json").status_code == 200
    assert ogc.get("/ogc/collections?f=html").mimetype == "text/html"
    assert_exception(ogc.get("/ogc/collections/grids/items?f=html"), 400, check, naming="f")
    assert_exception(ogc.get("/ogc/collections?f=xml"), 400, check, naming="f")


# -- collections ------------------------------------------------------------------------------------

def test_collections_have_extents_and_the_storage_note(ogc, ogc_engine, check):
    body = ogc.get("/ogc/collections").get_json()
    check("collections", body)
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == {"grids", "micro_grids", "communities"}
    with ogc_engine.connect() as conn:
        west, south, east, north = conn.execute(text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM grid g "
            "JOIN division d ON d.id = g.division_id WHERE d.status = 'approved' AND d.effective_to IS NULL) s")).one()
    grids = by_id["grids"]
    assert grids["extent"]["spatial"]["bbox"][0] == pytest.approx([west, south, east, north], abs=1e-6)
    # Approved versions reach back to 2024 and one is still in force: open-ended.
    assert grids["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00+08:00", None]]
    assert "temporal" not in by_id["communities"]["extent"]
    for collection in by_id.values():
        check("collection", collection)
        assert "EPSG:4490" in collection["description"] and "CRS84" in collection["description"]
        assert collection["crs"] == [CRS84, CGCS2000] and collection["storageCrs"] == CGCS2000
        rels = {link["rel"]: link["type"] for link in collection["links"]}
        assert rels["items"] == "application/geo+json"
        assert ogc.get(f"/ogc/collections/{collection['id']}").get_json() == collection


def test_unknown_collection_is_404(ogc, check):
    assert_exception(ogc.get("/ogc/collections/roads"), 404, check)
    assert_exception(ogc.get("/ogc/collections/roads/items"), 404, check)


# -- items -----------------------------------------------------------------------------------------------

def test_items_page_is_a_valid_feature_collection(ogc, check):
    response = ogc.get("/ogc/collections/grids/items")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    body = response.get_json()
    check("featureCollectionGeoJSON", body)
    assert body["numberReturned"] == len(body["features"]) == 10  # the default limit
    assert datetime.fromisoformat(body["timeStamp"]).tzinfo is not None
    feature = body["features"][0]
    assert "crs" not in feature["geometry"]  # RFC 7946 GeoJSON: no crs member
    assert set(feature["properties"]) >= {"code", "name", "type", "households", "population", "community_code"}
    assert feature["properties"]["division_status"] == "approved"
    # Longitude first: the demo county lies near 120°E, 31.7°N.
    lon, lat = feature["geometry"]["coordinates"][0][0][0]
    assert 119 < lon < 121 and 31 < lat < 33


@pytest.mark.parametrize("collection", ["grids", "micro_grids", "communities"])
def test_paging_follows_next_links_to_every_feature(ogc, collection):
    features, matched = all_items(ogc, f"/ogc/collections/{collection}/items?limit=7")
    ids = [f["id"] for f in features]
    assert len(ids) == matched == len(set(ids)) > 7


def test_pages_link_back_and_keep_the_query(ogc):
    body = ogc.get("/ogc/collections/grids/items?limit=5&offset=5&type=comprehensive").get_json()
    links = {link["rel"]: parse_qs(urlparse(link["href"]).query) for link in body["links"]}
    assert links["prev"]["offset"] == ["0"] and links["next"]["offset"] == ["10"]
    assert links["next"]["type"] == ["comprehensive"] and links["self"]["limit"] == ["5"]
    first = ogc.get("/ogc/collections/grids/items?limit=5").get_json()
    assert "prev" not in {link["rel"] for link in first["links"]}


def test_grids_are_the_approved_ones_in_force(ogc, ogc_engine):
    features, matched = all_items(ogc, "/ogc/collections/grids/items?limit=1000")
    expected = published(ogc_engine)
    assert {f["id"] for f in features} == expected and matched == len(expected)
    # Micro-grids follow their grids.
    micro, _ = all_items(ogc, "/ogc/collections/micro_grids/items?limit=1000")
    assert {f["properties"]["grid_code"] for f in micro} <= expected


def test_limit_above_the_maximum_is_clamped(ogc):
    body = ogc.get("/ogc/collections/micro_grids/items?limit=5000").get_json()
    assert body["numberReturned"] == min(body["numberMatched"], 1000)
    self_link = next(link for link in body["links"] if link["rel"] == "self")
    assert parse_qs(urlparse(self_link["href"]).query)["limit"] == ["1000"]


def test_bbox_matches_postgis(ogc, ogc_engine):
    extent = ogc.get("/ogc/collections/grids").get_json()["extent"]["spatial"]["bbox"][0]
    west, south, east, north = extent
    box = (west, south, (west + east) / 2, (south + north) / 2)
    features, matched = all_items(ogc, "/ogc/collections/grids/items?limit=50&bbox=" + ",".join(map(str, box)))
    with ogc_engine.connect() as conn:
        expected = set(conn.execute(text("""
            SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id
            WHERE d.status = 'approved' AND d.effective_to IS NULL
              AND ST_Intersects(g.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4490))"""),
                                         dict(zip("wsen", box, strict=True))).scalars())
    assert 0 < len(expected) < len(published(ogc_engine))
    assert {f["id"] for f in features} == expected and matched == len(expected)
    # Six numbers: the heights are ignored.
    six = f"{box[0]},{box[1]},0,{box[2]},{box[3]},100"
    assert ogc.get(f"/ogc/collections/grids/items?limit=1&bbox={six}").get_json()["numberMatched"] == matched
    # Far away: nothing.
    assert ogc.get("/ogc/collections/grids/items?bbox=0,0,1,1").get_json()["numberMatched"] == 0
    # West > east crosses the antimeridian: 110°E eastwards round to 100°E holds the whole county.
    across = ogc.get("/ogc/collections/grids/items?bbox=110,30,100,40").get_json()["numberMatched"]
    assert across == len(published(ogc_engine))
    assert ogc.get("/ogc/collections/grids/items?bbox=170,30,-170,40").get_json()["numberMatched"] == 0


@pytest.mark.parametrize("query, parameter", [
    ("bbox=1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox"), ("bbox=0,10,1,5", "bbox"), ("bbox=0,0,200,1", "bbox"),
    ("bbox=nan,0,1,1", "bbox"), ("limit=0", "limit"), ("limit=-3", "limit"), ("limit=ten", "limit"),
    ("offset=-1", "offset"), ("datetime=yesterday", "datetime"), ("datetime=2025-01-01/2024-01-01", "datetime"),
    ("datetime=2024-06-01T12:00:00", "datetime"),
])
def test_invalid_parameters_are_400_naming_them(ogc, check, query, parameter):
    assert_exception(ogc.get(f"/ogc/collections/grids/items?{query}"), 400, check, naming=parameter)


def test_property_filters(ogc):
    communities = ogc.get("/ogc/collections/communities/items?limit=100").get_json()["features"]
    code = next(c["id"] for c in communities if c["properties"]["division_status"] == "approved")
    features, _ = all_items(ogc, f"/ogc/collections/grids/items?community_code={code}")
    assert features and {f["properties"]["community_code"] for f in features} == {code}
    exclusive, _ = all_items(ogc, "/ogc/collections/grids/items?type=exclusive&limit=100")
    assert {f["properties"]["type"] for f in exclusive} <= {"exclusive"}
    rural = ogc.get("/ogc/collections/communities/items?kind=rural").get_json()
    assert rural["numberMatched"] > 0 and all(f["properties"]["kind"] == "rural" for f in rural["features"])


def test_datetime_selects_the_division_in_force_then(ogc, ogc_engine):
    then, _ = all_items(ogc, "/ogc/collections/grids/items?datetime=2024-06-01&limit=100")
    assert {f["id"] for f in then} == published(ogc_engine, "2024-06-01")
    assert {f["properties"]["effective_to"] for f in then} == {"2025-01-01"}
    # A date-time is read in Beijing time: 2024-12-31T20:00Z is already 2025-01-01 there.
    late = ogc.get("/ogc/collections/grids/items?datetime=2024-12-31T20:00:00Z&limit=1").get_json()
    assert late["numberMatched"] == len(published(ogc_engine, "2025-01-01"))
    before = ogc.get("/ogc/collections/grids/items?datetime=2020-01-01").get_json()
    assert before["numberMatched"] == 0


# -- one feature -------------------------------------------------------------------------------------

def test_one_feature_by_code(ogc, check):
    listed = ogc.get("/ogc/collections/grids/items?limit=1").get_json()["features"][0]
    response = ogc.get(f"/ogc/collections/grids/items/{listed['id']}")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    feature = response.get_json()
    check("featureGeoJSON", feature)
    assert feature["id"] == listed["id"] and feature["geometry"] == listed["geometry"]
    assert {link["rel"] for link in feature["links"]} >= {"self", "collection"}
    community = ogc.get(f"/ogc/collections/communities/items/{listed['properties']['community_code']}").get_json()
    check("featureGeoJSON", community)


def test_unknown_or_unpublished_feature_is_404(ogc, ogc_engine, check):
    assert_exception(ogc.get("/ogc/collections/grids/items/000000000000000"), 404, check)
    with ogc_engine.connect() as conn:
        draft = conn.execute(text("SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id "
                                  "WHERE d.status = 'draft' LIMIT 1")).scalar_one()
        past = conn.execute(text("SELECT g.code FROM grid g JOIN division d ON d.id = g.division_id "
                                 "WHERE d.effective_to IS NOT NULL LIMIT 1")).scalar_one()
    assert_exception(ogc.get(f"/ogc/collections/grids/items/{draft}"), 404, check)
    assert_exception(ogc.get(f"/ogc/collections/grids/items/{past}"), 404, check)
    assert ogc.get(f"/ogc/collections/grids/items/{past}?datetime=2024-06-01").status_code == 200


def test_drafts_are_not_published_by_default(demo_db_url):
    # The demo test database has drafts only: with the public default the interface shows no grid.
    from server import create_app

    client = create_app({"DATABASE_URL": demo_db_url, "TILES": "none", "TESTING": True}).test_client()
    assert client.get("/ogc/collections/grids/items").get_json()["numberMatched"] == 0
    assert client.get("/ogc/collections/communities/items").get_json()["numberMatched"] >= 8


def test_drafts_are_published_when_configured(demo_db_url, demo_engine):
    from server import create_app

    app = create_app({"DATABASE_URL": demo_db_url, "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False})
    with demo_engine.connect() as conn:
        grids = conn.execute(text("SELECT count(*) FROM grid")).scalar_one()  # one draft per community
    assert app.test_client().get("/ogc/collections/grids/items").get_json()["numberMatched"] == grids


# -- a real client ----------------------------------------------------------------------------------

def test_gdal_oapif_driver_reads_the_service(ogc_server, ogc_engine):
    import pyogrio

    assert "OAPIF" in pyogrio.list_drivers()
    source = f"OAPIF:{ogc_server}/ogc"
    layers = {name for name, _ in pyogrio.list_layers(source)}
    assert {"grids", "micro_grids", "communities"} <= layers
    grids = pyogrio.read_dataframe(source, layer="grids")
    expected = published(ogc_engine)
    assert len(grids) == len(expected) > 10  # GDAL paged through the next links
    assert set(grids["code"]) == expected
    assert grids.crs.to_epsg() == 4490  # GDAL reads the storageCrs, CGCS2000, by default
    west, south, east, north = grids.total_bounds
    assert 119 < west < east < 121 and 31 < south < north < 33
    assert set(grids.geom_type) <= {"MultiPolygon", "Polygon"}
    # GDAL sends the spatial filter to the server as bbox=.
    box = (west, south, (west + east) / 2, (south + north) / 2)
    some = pyogrio.read_dataframe(source, layer="grids", bbox=box)
    assert 0 < len(some) < len(grids) and set(some["code"]) <= expected


# -- Part 2: CRS ------------------------------------------------------------------------------------------

def test_cgcs2000_answers_latitude_first_with_a_content_crs_header(ogc):
    plain = ogc.get("/ogc/collections/grids/items?limit=1")
    assert plain.headers["Content-Crs"] == f"<{CRS84}>"
    lon, lat = plain.get_json()["features"][0]["geometry"]["coordinates"][0][0][0]
    national = ogc.get(f"/ogc/collections/grids/items?limit=1&crs={CGCS2000}")
    assert national.status_code == 200 and national.headers["Content-Crs"] == f"<{CGCS2000}>"
    assert national.get_json()["features"][0]["geometry"]["coordinates"][0][0][0] == [lat, lon]
    # The next link keeps the CRS, and the short form is understood.
    nxt = next(link["href"] for link in national.get_json()["links"] if link["rel"] == "next")
    assert "crs=" in nxt
    code = plain.get_json()["features"][0]["id"]
    one = ogc.get(f"/ogc/collections/grids/items/{code}?crs=EPSG:4490")
    assert one.headers["Content-Crs"] == f"<{CGCS2000}>"
    assert one.get_json()["geometry"]["coordinates"][0][0][0] == [lat, lon]


def test_bbox_in_cgcs2000_is_latitude_first(ogc):
    box = ogc.get("/ogc/collections/grids/items?limit=1&bbox=119,31,121,33").get_json()["numberMatched"]
    flipped = ogc.get(f"/ogc/collections/grids/items?limit=1&bbox=31,119,33,121&bbox-crs={CGCS2000}").get_json()
    assert flipped["numberMatched"] == box > 0


@pytest.mark.parametrize("query, parameter", [
    ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", "crs"), ("crs=EPSG:99999", "crs"),
    ("bbox-crs=EPSG:4326&bbox=1,2,3,4", "bbox-crs"), ("foo=bar", "foo"), ("filter-lang=cql2-json", "filter-lang"),
    ("offset=99999999999999999999", "offset"), ("code=a%00b", "code"), ("households=many", "households"),
])
def test_unsupported_crs_and_unknown_parameters_are_400(ogc, check, query, parameter):
    assert_exception(ogc.get(f"/ogc/collections/grids/items?{query}"), 400, check, naming=parameter)


def test_every_error_under_ogc_is_ogc_json(ogc, check):
    assert_exception(ogc.get("/ogc/no/such/path"), 404, check)
    assert_exception(ogc.open("/ogc/collections", method="TRACE"), 405, check)
    assert_exception(ogc.get("/ogc/collections/grids/items/a%00b"), 400, check)
    assert_exception(ogc.get("/ogc/collections/nothing/queryables"), 404, check)


# -- Part 3: queryables, schema, filters --------------------------------------------------------------------

@pytest.mark.parametrize("collection", ["grids", "micro_grids", "communities"])
def test_queryables_and_schema_are_json_schema(ogc, collection):
    for kind in ("queryables", "schema"):
        response = ogc.get(f"/ogc/collections/{collection}/{kind}")
        assert response.status_code == 200 and response.mimetype == "application/schema+json"
        document = response.get_json()
        Draft202012Validator.check_schema(document)
        assert "code" in document["properties"] and document["properties"]["code"]["type"] == "string"


def test_cql2_text_filters_simple_comparisons(ogc):
    every, matched = all_items(ogc, "/ogc/collections/grids/items?limit=1000")
    big = {f["id"] for f in every if f["properties"]["households"] > 400 and f["properties"]["type"] == "comprehensive"}
    found, n = all_items(ogc, "/ogc/collections/grids/items?limit=1000&filter="
                              "households > 400 AND type = 'comprehensive'")
    assert {f["id"] for f in found} == big and n == len(big) < matched
    named, _ = all_items(ogc, "/ogc/collections/grids/items?limit=1000&filter=name IS NULL")
    assert {f["id"] for f in named} == {f["id"] for f in every if f["properties"]["name"] is None}
    for bad in ("households > 'x'", "nothing = 1", "households > 1 OR code = '1'", "households"):
        answer = ogc.get(f"/ogc/collections/grids/items?filter={bad}")
        assert answer.status_code == 400 and "'filter'" in answer.get_json()["description"]


def test_datetime_interval_serves_every_version_with_versioned_ids(ogc, ogc_engine):
    features, matched = all_items(ogc, "/ogc/collections/grids/items?limit=1000&datetime=2024-06-01/..")
    past_and_now = published(ogc_engine, "2024-06-01") | published(ogc_engine)
    assert {f["properties"]["code"] for f in features} == past_and_now
    ids = [f["id"] for f in features]
    assert len(ids) == len(set(ids)) == matched and all("@v" in i for i in ids)
    one = ogc.get(f"/ogc/collections/grids/items/{ids[0]}")
    assert one.status_code == 200 and one.get_json()["id"] == ids[0]


# -- compression, the HTML page, real clients -----------------------------------------------------------------

def test_geojson_is_compressed(ogc):
    raw = ogc.get("/ogc/collections/grids/items?limit=200")
    packed = ogc.get("/ogc/collections/grids/items?limit=200", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    import gzip

    assert json.loads(gzip.decompress(packed.data))["numberReturned"] == raw.get_json()["numberReturned"]
    assert len(packed.data) < len(raw.data) / 4


def test_landing_page_for_people_has_a_map_per_collection(ogc):
    page = ogc.get("/ogc", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for collection in ("grids", "micro_grids", "communities"):
        assert f'id="ogc-map-{collection}"' in html
    assert "开放地理数据接口" in html and "ogc-preview.js" in html


def test_owslib_reads_collections_queryables_and_items(ogc_server, ogc_engine):
    from owslib.ogcapi.features import Features

    service = Features(f"{ogc_server}/ogc")
    assert {c["id"] for c in service.collections()["collections"]} == {"grids", "micro_grids", "communities"}
    queryables = service.collection_queryables("grids")
    assert {"code", "households", "community_code"} <= set(queryables["properties"])
    page = service.collection_items("grids", limit=5, crs=CGCS2000)
    assert page["numberReturned"] == 5 and page["numberMatched"] == len(published(ogc_engine))
    lat, lon = page["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 31 < lat < 33 and 119 < lon < 121


@pytest.mark.parametrize("crs, authority", [("EPSG:4490", ("EPSG", "4490")), ("OGC:CRS84", ("OGC", "CRS84"))])
def test_gdal_reads_every_collection_in_both_crs(ogc_server, ogc_engine, crs, authority):
    import pyogrio

    source = f"OAPIF:{ogc_server}/ogc"
    for layer in ("grids", "micro_grids", "communities"):
        frame = pyogrio.read_dataframe(source, layer=layer, CRS=crs)
        assert frame.crs.to_authority() == authority, layer
        assert len(frame) > 0
        west, south, east, north = frame.total_bounds  # GDAL presents both in longitude, latitude order
        assert 119 < west < east < 121 and 31 < south < north < 33
    grids = pyogrio.read_dataframe(source, layer="grids", CRS=crs, where="households > 400")
    assert 0 < len(grids) and (grids["households"] > 400).all()


@pytest.mark.parametrize("path", ["/ogc/collections/grids/items?limit=5", "/ogc/collections",
                                  "/tiles/grids/10/853/416.pbf"])
def test_public_answers_carry_an_etag_and_answer_304_when_unchanged(ogc, path):
    first = ogc.get(path)
    assert first.status_code == 200 and first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"] and "max-age" in first.headers["Cache-Control"]
    again = ogc.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    assert ogc.get(path).headers["ETag"] == first.headers["ETag"]  # the same body, the same validator
