"""Find the grid: point, batch and address lookup over the demo county (read only) and a scratch county."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
import shapely
from shapely import box
from sqlalchemy import insert, text

from gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from server.services.divisions import divisions_in_force
from server.store import models as m
from server.store.features import geom_value

pytestmark = pytest.mark.db


# -- helpers ----------------------------------------------------------------------------------------

def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def _csrf(client) -> dict:
    """No CSRF token: the batch lookup is exempt (it grants nothing), so scripts and the public can call it."""
    return {}


def _post_csv(client, body: bytes, **form) -> list[dict]:
    data = {"file": (io.BytesIO(body), "points.csv"), **form}
    response = client.post("/api/v1/lookup/batch", data=data, content_type="multipart/form-data",
                           headers=_csrf(client))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the Chinese correctly
    return list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def in_force(demo_engine) -> list[int]:
    with demo_engine.connect() as conn:
        return sorted(divisions_in_force(conn).values())


@pytest.fixture(scope="module")
def interior(demo_engine, in_force) -> dict:
    """A grid in force with an interior point (PostGIS ST_PointOnSurface) and its community."""
    with demo_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT g.code, g.name, d.community_code, a.parent_code AS township_code, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM grid g JOIN division d ON d.id = g.division_id JOIN admin_area a ON a.code = d.community_code,
                 ST_PointOnSurface(g.geom) p
            WHERE g.division_id = ANY(:ids) ORDER BY g.code LIMIT 1 OFFSET 7"""), {"ids": in_force}).one()
    return row._asdict()


# -- point lookup -----------------------------------------------------------------------------------

@pytest.mark.parametrize("crs", ["cgcs2000", "wgs84", "gcj02", "bd09", "EPSG:4490"])
def test_point_lookup_in_each_crs(client, interior, crs):
    lon, lat = interior["lon"], interior["lat"]
    if crs == "gcj02":
        lon, lat = wgs84_to_gcj02(lon, lat)
    elif crs == "bd09":
        lon, lat = wgs84_to_bd09(lon, lat)
    response = client.get(f"/api/v1/lookup/point?lon={lon!r}&lat={lat!r}&crs={crs}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["grid"]["code"] == interior["code"]
    assert set(body["grid"]) >= {"code", "name", "type", "households"}
    assert body["community"]["code"] == interior["community_code"]
    assert body["township"]["code"] == interior["township_code"]
    assert body["micro_grid"] is None or body["micro_grid"]["code"].startswith(interior["code"])
    assert isinstance(body["staff"], list)
    # The offset systems come back to the storage point within a metre or so.
    assert abs(body["point"]["lon"] - interior["lon"]) < 2e-5 and abs(body["point"]["lat"] - interior["lat"]) < 2e-5


def test_point_lookup_default_crs_and_geometry(client, interior):
    body = client.get(f"/api/v1/lookup/point?lon={interior['lon']}&lat={interior['lat']}&geometry=1").get_json()
    assert body["grid"]["code"] == interior["code"]
    assert body["grid"]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_micro_grid_matches_postgis(client, demo_engine, in_force):
    with demo_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT mg.code, g.code AS grid, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id, ST_PointOnSurface(mg.geom) p
            WHERE g.division_id = ANY(:ids) ORDER BY mg.code LIMIT 1"""), {"ids": in_force}).one_or_none()
    if row is None:
        pytest.skip("the demo divisions have no micro-grids")
    body = client.get(f"/api/v1/lookup/point?lon={row.lon!r}&lat={row.lat!r}").get_json()
    assert body["grid"]["code"] == row.grid
    assert body["micro_grid"]["code"] == row.code


def test_point_on_a_shared_boundary_is_deterministic(client, demo_engine, in_force):
    with demo_engine.connect() as conn:
        row = conn.execute(text("""
            SELECT a.code AS a, b.code AS b, ST_X(p) AS lon, ST_Y(p) AS lat,
                   ST_Covers(a.geom, p) AS in_a, ST_Covers(b.geom, p) AS in_b
            FROM grid a JOIN grid b ON a.division_id = b.division_id AND a.code < b.code
                 AND ST_Intersects(a.geom, b.geom),
                 LATERAL (SELECT ST_StartPoint(ST_GeometryN(ST_LineMerge(ST_CollectionExtract(
                     ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom)), 2)), 1)) AS p) q
            WHERE a.division_id = ANY(:ids) AND p IS NOT NULL
            ORDER BY a.code, b.code LIMIT 1"""), {"ids": in_force}).one()
    answers = {client.get(f"/api/v1/lookup/point?lon={row.lon!r}&lat={row.lat!r}").get_json()["grid"]["code"]
               for _ in range(5)}
    assert len(answers) == 1
    (answer,) = answers
    assert answer in (row.a, row.b)
    if row.in_a and row.in_b:  # exactly on both: the lowest code wins
        assert answer == row.a


def test_point_in_a_hole(client, demo_engine, in_force):
    with demo_engine.connect() as conn:
        row = conn.execute(text("""
            WITH holes AS (
                SELECT ST_PointOnSurface(ST_MakePolygon(ST_InteriorRingN(d.geom, 1))) AS p
                FROM grid g, ST_Dump(g.geom) d
                WHERE g.division_id = ANY(:ids) AND ST_NumInteriorRings(d.geom) > 0)
            SELECT ST_X(p) AS lon, ST_Y(p) AS lat,
                   (SELECT min(code) FROM grid WHERE division_id = ANY(:ids) AND ST_Covers(geom, p)) AS holder
            FROM holes LIMIT 1"""), {"ids": in_force}).one_or_none()
    if row is None:
        pytest.skip("no grid in force has a hole")
    response = client.get(f"/api/v1/lookup/point?lon={row.lon!r}&lat={row.lat!r}")
    if row.holder is None:
        assert response.status_code == 404
    else:  # the hole is filled by another grid (an exclusive grid inside a comprehensive one)
        assert response.get_json()["grid"]["code"] == row.holder


def test_point_outside_the_county_gives_the_nearest_grid(client, demo_engine, in_force):
    lon, lat = 120.2, 31.9
    error = _error(client.get(f"/api/v1/lookup/point?lon={lon}&lat={lat}"), 404)
    nearest = error["details"]["nearest"]
    with demo_engine.connect() as conn:
        expected = conn.execute(text("""
            SELECT code, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography) AS d
            FROM grid WHERE division_id = ANY(:ids) ORDER BY d LIMIT 1"""),
                                {"lon": lon, "lat": lat, "ids": in_force}).one()
    assert nearest["code"] == expected.code
    assert nearest["distance_m"] > 0
    assert abs(nearest["distance_m"] - expected.d) < 0.01 * expected.d  # Gauss-Krüger vs geodesic: well within 1%
    assert nearest["code"] in error["message"]


@pytest.mark.parametrize(("query", "name"), [
    ("lon=abc&lat=31.7", "lon"), ("lon=NaN&lat=31.7", "lon"), ("lon=inf&lat=31.7", "lon"),
    ("lon=200&lat=31.7", "lon"), ("lat=31.7", "lon"), ("lon=120&lat=-95", "lat"), ("lon=120&lat=", "lat"),
    ("lon=120&lat=31.7&crs=mars", "crs"), ("lon=120&lat=31.7&crs=EPSG:4534", "crs"),
    ("lon=120&lat=31.7&date=2024-13-01", "date"), ("lon=120&lat=31.7&date=yesterday", "date"),
])
def test_invalid_point_parameters_are_named(client, query, name):
    error = _error(client.get(f"/api/v1/lookup/point?{query}"), 400)
    assert f"'{name}'" in error["message"]


def test_date_before_any_division(client, interior):
    error = _error(client.get(f"/api/v1/lookup/point?lon={interior['lon']}&lat={interior['lat']}"
                              "&date=2000-01-01"), 404)
    assert "no grid division" in error["message"] and "2000-01-01" in error["message"]
    # Today (and an explicit today) answer.
    today = date.today().isoformat()
    body = client.get(f"/api/v1/lookup/point?lon={interior['lon']}&lat={interior['lat']}&date={today}").get_json()
    assert body["grid"]["code"] == interior["code"] and body["date"] == today


# -- staff contacts and dates on a scratch county ---------------------------------------------------

@pytest.fixture
def scratch_county(scratch_engine):
    """Two adjacent square grids in one community, a draft division, and staff of every kind."""
    today = date.today()
    with scratch_engine.begin() as conn:
        conn.execute(insert(m.AdminArea), [
            {"code": "320499000000", "name": "示范县", "level": "county", "parent_code": None,
             "geom": geom_value(box(120.0, 31.0, 120.02, 31.01))},
            {"code": "320499001000", "name": "湖滨街道", "level": "township", "parent_code": "320499000000",
             "kind": "street", "geom": geom_value(box(120.0, 31.0, 120.02, 31.01))},
            {"code": "320499001001", "name": "幸福社区", "level": "community", "parent_code": "320499001000",
             "kind": "urban", "geom": geom_value(box(120.0, 31.0, 120.02, 31.01))}])
        layer = conn.execute(insert(m.AtomLayer).values(community_code="320499001001").returning(m.AtomLayer.id)
                             ).scalar_one()
        division = conn.execute(insert(m.Division).values(
            community_code="320499001001", version=1, status="draft", atom_layer_id=layer, band_min=300,
            band_max=500).returning(m.Division.id)).scalar_one()
        conn.execute(insert(m.Grid), [
            {"division_id": division, "label": 1, "code": "320499001001001", "name": "幸福一网格",
             "households": 420, "geom": geom_value(box(120.0, 31.0, 120.01, 31.01))},
            {"division_id": division, "label": 2, "code": "320499001001002", "name": "幸福二网格",
             "households": 380, "geom": geom_value(box(120.01, 31.0, 120.02, 31.01))}])
        staff = conn.execute(insert(m.Staff).returning(m.Staff.id, sort_by_parameter_order=True), [
            {"code": "S1", "name": "张网格", "phone": "13800000001", "publish_contact": True},
            {"code": "S2", "name": "李专职", "phone": "13800000002", "publish_contact": True},
            {"code": "S3", "name": "王隐私", "phone": "13800000003", "publish_contact": False},
            {"code": "S4", "name": "赵离任", "phone": "13800000004", "publish_contact": True}]).scalars().all()
        conn.execute(insert(m.StaffAssignment), [
            {"staff_id": staff[1], "grid_code": "320499001001001", "role": "full_time",
             "start_date": today - timedelta(days=30), "end_date": None},
            {"staff_id": staff[0], "grid_code": "320499001001001", "role": "grid_chief",
             "start_date": today - timedelta(days=30), "end_date": None},
            {"staff_id": staff[2], "grid_code": "320499001001001", "role": "part_time",
             "start_date": today - timedelta(days=30), "end_date": None},
            {"staff_id": staff[3], "grid_code": "320499001001001", "role": "full_time",
             "start_date": today - timedelta(days=400), "end_date": today - timedelta(days=31)}])
    return scratch_engine


@pytest.fixture
def scratch_client(scratch_county, scratch_db_url):
    from server import create_app

    app = create_app({"DATABASE_URL": scratch_db_url, "TILES": "none", "TESTING": True,
                      "LOOKUP_CHECK_SECONDS": 0, "PUBLIC_APPROVED_ONLY": False})
    yield app.test_client()
    app.extensions["wangge.engine"].dispose()


def test_published_staff_contacts_active_on_the_date(scratch_client, scratch_county):
    body = scratch_client.get("/api/v1/lookup/point?lon=120.005&lat=31.005").get_json()
    assert body["grid"] == {"code": "320499001001001", "name": "幸福一网格", "type": "comprehensive",
                            "households": 420}
    assert body["community"] == {"code": "320499001001", "name": "幸福社区"}
    assert body["township"] == {"code": "320499001000", "name": "湖滨街道"}
    # Grid chief first; the unpublished and the departed are not shown.
    assert [(s["name"], s["role"], s["phone"]) for s in body["staff"]] == [
        ("张网格", "grid_chief", "13800000001"), ("李专职", "full_time", "13800000002")]
    # Forty days ago the draft did not exist yet: no division then.
    past = (date.today() - timedelta(days=40)).isoformat()
    error = _error(scratch_client.get(f"/api/v1/lookup/point?lon=120.005&lat=31.005&date={past}"), 404)
    assert "no grid division" in error["message"]
    # A shared edge goes to the lowest code, every time.
    for _ in range(3):
        assert scratch_client.get("/api/v1/lookup/point?lon=120.01&lat=31.005").get_json()["grid"]["code"] \
            == "320499001001001"
    # Changes are seen without a restart (check interval 0 here).
    with scratch_county.begin() as conn:
        conn.execute(text("UPDATE staff SET publish_contact = false WHERE code = 'S2'"))
    body = scratch_client.get("/api/v1/lookup/point?lon=120.005&lat=31.005").get_json()
    assert [s["name"] for s in body["staff"]] == ["张网格"]
    with scratch_county.begin() as conn:
        conn.execute(text("UPDATE division SET status = 'approved', effective_from = :d"),
                     {"d": date.today() - timedelta(days=100)})
    body = scratch_client.get(f"/api/v1/lookup/point?lon=120.005&lat=31.005&date={past}").get_json()
    assert [s["name"] for s in body["staff"]] == ["赵离任"]


def test_outside_a_small_county_distance_in_metres(scratch_client):
    # 0.01° of latitude north of the grids is about 1,110 m.
    error = _error(scratch_client.get("/api/v1/lookup/point?lon=120.005&lat=31.02"), 404)
    assert error["details"]["nearest"]["code"] == "320499001001001"
    assert 1100 < error["details"]["nearest"]["distance_m"] < 1120


def test_a_community_with_no_division_says_so(scratch_client, scratch_county):
    """Issue 12 #9: a place in a community with no division gets no other community's grid as "nearest"."""
    with scratch_county.begin() as conn:
        conn.execute(insert(m.AdminArea).values(
            code="320499001002", name="和平社区", level="community", parent_code="320499001000", kind="urban",
            geom=geom_value(box(120.02, 31.0, 120.04, 31.01))))
        conn.execute(insert(m.Address).values(
            source_id="A-T1", address="和平路225号", road="和平路", number=225, households=1,
            community_code="320499001002", geom=geom_value(shapely.Point(120.021, 31.005))))
    error = _error(scratch_client.get("/api/v1/lookup/point?lon=120.021&lat=31.005"), 404)
    assert "nearest" not in error["details"]
    assert error["details"]["division_in_force"] is False
    assert error["details"]["community"] == {"code": "320499001002", "name": "和平社区"}
    assert error["message"].startswith("该位置所在的和平社区尚无生效的网格划分")
    body = scratch_client.get("/api/v1/lookup/address?q=和平路225号").get_json()
    first = body["results"][0]
    assert first["address"] == "和平路225号" and first["grid"] is None
    assert first["division_in_force"] is False and first["community"]["name"] == "和平社区"
    # Inside a community that has its division, a place outside the grids still gets the nearest grid.
    error = _error(scratch_client.get("/api/v1/lookup/point?lon=120.005&lat=31.02"), 404)
    assert error["details"]["nearest"]["code"] == "320499001001001"


# -- batch ------------------------------------------------------------------------------------------

def test_batch_points_with_bad_rows(client, interior):
    gcj = wgs84_to_gcj02(interior["lon"], interior["lat"])
    rows = [
        ("lon", "lat", "crs", "note"),
        (interior["lon"], interior["lat"], "", "good"),
        (gcj[0], gcj[1], "gcj02", "good gcj"),
        ("abc", interior["lat"], "", "non-numeric"),
        (interior["lon"], "", "", "missing lat"),
        (200, 31, "", "out of range"),
        (interior["lon"], interior["lat"], "mars", "bad crs"),
        (121.5, 31.2, "", "outside"),
        ("", "", "", "empty"),
    ]
    body = "\n".join(",".join(map(str, r)) for r in rows).encode()
    out = _post_csv(client, body)
    assert [r["note"] for r in out] == [r[3] for r in rows[1:]]
    assert list(out[0]) == ["lon", "lat", "crs", "note", "grid_code", "micro_grid_code", "community_code", "match",
                            "score", "error"]
    by_note = {r["note"]: r for r in out}
    for note in ("good", "good gcj"):
        assert by_note[note]["grid_code"] == interior["code"]
        assert by_note[note]["community_code"] == interior["community_code"]
        assert by_note[note]["match"] == "point" and by_note[note]["error"] == ""
    assert "lon" in by_note["non-numeric"]["error"]
    assert "lat" in by_note["missing lat"]["error"]
    assert "range" in by_note["out of range"]["error"]
    assert "crs" in by_note["bad crs"]["error"]
    assert by_note["outside"]["error"] == "in no grid"
    assert by_note["empty"]["error"]
    for note in ("non-numeric", "missing lat", "out of range", "bad crs", "outside", "empty"):
        assert by_note[note]["match"] == "none" and by_note[note]["grid_code"] == ""


def test_batch_default_crs_form_field(client, interior):
    lon, lat = wgs84_to_bd09(interior["lon"], interior["lat"])
    out = _post_csv(client, f"lon,lat\n{lon!r},{lat!r}\n".encode(), crs="bd09")
    assert out[0]["grid_code"] == interior["code"]


def test_batch_addresses_utf8_bom_and_gbk(client):
    text_rows = ("address,id\n榆林巷32号2幢2单元,1\n示范县榆林巷３２号２栋２单元,2\n火星路999号,3\n,4\n"
                 "凌宵路30号8幢3单元,5\n")
    for body in (text_rows.encode("utf-8-sig"), text_rows.encode("utf-8"), text_rows.encode("gbk")):
        out = _post_csv(client, body)
        assert [r["id"] for r in out] == ["1", "2", "3", "4", "5"]
        assert out[0]["match"] == "exact" and out[0]["grid_code"] and float(out[0]["score"]) == 1.0
        assert out[1]["match"] == "exact" and out[1]["grid_code"] == out[0]["grid_code"]
        assert out[2]["match"] == "none" and out[2]["error"] and out[2]["grid_code"] == ""
        assert out[3]["match"] == "none" and "missing" in out[3]["error"]
        assert out[4]["match"] == "fuzzy" and out[4]["grid_code"] and 0 < float(out[4]["score"]) < 1


@pytest.mark.parametrize(("body", "needle"), [
    (b"name,value\nx,1\n", "lon,lat"), (b"", "empty"), (b"\xff\xfe\x00\x81\x00", "UTF-8"),
])
def test_batch_unusable_files_are_400(client, body, needle):
    data = {"file": (io.BytesIO(body), "x.csv")}
    error = _error(client.post("/api/v1/lookup/batch", data=data, content_type="multipart/form-data",
                               headers=_csrf(client)), 400)
    assert "'file'" in error["message"] and needle in error["message"]


def test_batch_without_file_is_400(client):
    error = _error(client.post("/api/v1/lookup/batch", data={}, content_type="multipart/form-data",
                               headers=_csrf(client)), 400)
    assert "'file'" in error["message"]


# -- address search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "榆林巷32号2幢2单元",  # as stored
    "榆林巷３２号２幢２单元",  # full-width digits
    "榆林巷32号2栋2单元",  # 栋 for 幢
    "示范县榆林巷32号2幢2单元",  # with the county prefix
    "江苏省示范市示范县 榆林巷32号2号楼2单元",  # province, city, county, 号楼
    "榆林巷32号2-2",  # dash form
    "榆林巷三十二号二幢二单元",  # Chinese numerals
])
def test_address_search_variants_find_the_address_first(client, query):
    response = client.get("/api/v1/lookup/address", query_string={"q": query})
    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert results[0]["address"] == "榆林巷32号2幢2单元"
    first = results[0]
    assert first["grid"]["code"] and first["community"]["code"] and first["point"]["lon"] > 119
    assert isinstance(first["staff"], list)


def test_address_search_with_a_typo(client):
    results = client.get("/api/v1/lookup/address", query_string={"q": "凌宵路30号8幢3单元"}).get_json()["results"]
    assert results[0]["address"] == "凌霄路30号8幢3单元"
    assert results[0]["exact"] is False and results[0]["score"] < 1


def test_address_search_partial_and_limit(client):
    results = client.get("/api/v1/lookup/address", query_string={"q": "榆林巷32号", "limit": 3}).get_json()["results"]
    assert len(results) == 3
    assert all(r["address"].startswith("榆林巷32号") for r in results)


@pytest.mark.parametrize(("query", "name"), [
    ({}, "q"), ({"q": "   "}, "q"), ({"q": "!!!"}, "q"), ({"q": "x" * 300}, "q"),
    ({"q": "榆林巷", "limit": "0"}, "limit"), ({"q": "榆林巷", "limit": "abc"}, "limit"),
    ({"q": "榆林巷", "date": "2024-02-30"}, "date"),
])
def test_address_search_bad_parameters(client, query, name):
    error = _error(client.get("/api/v1/lookup/address", query_string=query), 400)
    assert f"'{name}'" in error["message"]


def test_address_search_nothing_found(client):
    assert client.get("/api/v1/lookup/address", query_string={"q": "火星路999号"}).get_json()["results"] == []


# -- page -------------------------------------------------------------------------------------------

def test_lookup_page_is_public_and_bilingual(client):
    zh = client.get("/lookup")
    assert zh.status_code == 200
    html = zh.get_data(as_text=True)
    assert "查网格" in html and "lookup.js" in html and "vendor/leaflet/leaflet.js" in html
    assert "cdn" not in html.lower()
    en = client.get("/lookup?lang=en").get_data(as_text=True)
    assert "Find my grid" in en


def test_lookup_batch_command(runner, demo_db_url, interior, tmp_path):
    from server.cli.lookup import lookup_batch

    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(f"lon,lat\n{interior['lon']!r},{interior['lat']!r}\nx,1\n", encoding="gbk")
    result = runner.invoke(lookup_batch, [str(source), str(target)], env={"DATABASE_URL": demo_db_url})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0]["grid_code"] == interior["code"] and rows[1]["match"] == "none"
    assert "2 rows" in result.output


def test_lookup_batch_command_goes_slice_by_slice(runner, demo_db_url, interior, tmp_path, monkeypatch):
    import server.cli.lookup as cli_lookup

    monkeypatch.setattr(cli_lookup, "SLICE_ROWS", 2)  # 5 rows: slices of 2, 2 and 1, one header in the answer
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    point = f"{interior['lon']!r},{interior['lat']!r}"
    source.write_text("lon,lat\n" + f"{point}\nx,1\n{point}\n{point}\nx,2\n", encoding="utf-8")
    result = runner.invoke(cli_lookup.lookup_batch, [str(source), str(target)], env={"DATABASE_URL": demo_db_url})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert [r["match"] for r in rows] == ["point", "none", "point", "point", "none"]
    assert [r["grid_code"] for r in rows if r["match"] == "point"] == [interior["code"]] * 3
    missing = runner.invoke(cli_lookup.lookup_batch, [str(tmp_path / "none.csv"), str(target)],
                            env={"DATABASE_URL": demo_db_url})
    assert missing.exit_code == 1 and "none.csv: cannot open the file" in missing.output
