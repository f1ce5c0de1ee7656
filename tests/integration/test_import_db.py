"""Importing base data into a real PostGIS: every kind and format, re-imports, bad input, repairs, CLI.

Every test builds its small input files in ``tmp_path`` (EPSG:4490 around 120.0E, 31.7N): a county
320499000000 holding a township 320499001000 holding two communities, 320499001001 (west half) and
320499001002 (east half).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiLineString, Polygon, box

from gis.crs import wgs84_to_gcj02
from gis.errors import InputError
from server.services.importer import import_file
from server.store.features import counts

pytestmark = pytest.mark.db

CRS = "EPSG:4490"
COUNTY, TOWNSHIP = "320499000000", "320499001000"
WEST, EAST = "320499001001", "320499001002"

COUNTY_BOX = box(119.99, 31.69, 120.03, 31.72)
WEST_BOX = box(119.99, 31.69, 120.01, 31.72)
EAST_BOX = box(120.01, 31.69, 120.03, 31.72)


# -- helpers --------------------------------------------------------------------------------------

def frame(records: list[dict], crs: str | None = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(records, geometry="geometry", crs=crs)


def geojson(path: Path, records: list[dict]) -> Path:
    frame(records).to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def area_records() -> list[dict]:
    # Children first: the writer must order parents before children (the foreign key needs it).
    return [
        {"code": EAST, "name": "东社区", "level": "community", "parent_code": TOWNSHIP, "kind": "urban",
         "geometry": EAST_BOX},
        {"code": WEST, "name": "西社区", "level": "community", "parent_code": TOWNSHIP, "kind": "rural",
         "geometry": WEST_BOX},
        {"code": TOWNSHIP, "name": "示范街道", "level": "township", "parent_code": COUNTY, "kind": "street",
         "geometry": COUNTY_BOX},
        {"code": COUNTY, "name": "示范县", "level": "county", "parent_code": None, "kind": None,
         "geometry": COUNTY_BOX},
    ]


def load_areas(engine, tmp_path: Path) -> None:
    import_file(engine, "areas", geojson(tmp_path / "areas.geojson", area_records()))


def building_records(ids: bool = True) -> list[dict]:
    records = [
        {"id": "B1", "households": 12, "name": "1号楼", "storeys": 6,
         "geometry": box(120.000, 31.700, 120.001, 31.701)},
        {"id": "B2", "households": 30, "name": "2号楼", "storeys": 11,
         "geometry": box(120.002, 31.700, 120.003, 31.701)},
        {"id": "B3", "households": 8, "name": "3号楼", "storeys": 3,
         "geometry": box(120.020, 31.710, 120.021, 31.711)},
    ]
    if not ids:
        for record in records:
            del record["id"]
    return records


def rows(engine, sql: str, **params) -> list:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return counts(conn)


def assert_names(error: InputError, source: str, field: str, row: int | None) -> None:
    """The error and its message name the file, the feature/row and the field."""
    message = str(error)
    assert error.source == source and source in message
    assert error.field == field and f"field '{field}'" in message
    assert error.row == row
    if row is not None:
        assert f"feature {row}" in message


# -- 1. every kind imports --------------------------------------------------------------------------

def test_areas_from_geojson(scratch_engine, tmp_path):
    report = import_file(scratch_engine, "areas", geojson(tmp_path / "areas.geojson", area_records()))

    assert (report.inserted, report.updated, report.repairs) == (4, 0, [])
    assert report.source == "areas.geojson"
    assert "areas: 4 new, 0 updated from areas.geojson" in report.summary()
    got = rows(scratch_engine, "SELECT code, name, level, parent_code, kind, ST_SRID(geom), GeometryType(geom), "
                               "ST_Area(geom) FROM admin_area ORDER BY code")
    assert [r[:5] for r in got] == [
        (COUNTY, "示范县", "county", None, None),
        (TOWNSHIP, "示范街道", "township", COUNTY, "street"),
        (WEST, "西社区", "community", TOWNSHIP, "rural"),
        (EAST, "东社区", "community", TOWNSHIP, "urban"),
    ]
    assert {(r[5], r[6]) for r in got} == {(4490, "MULTIPOLYGON")}
    assert got[2][7] == pytest.approx(WEST_BOX.area)
    assert table_counts(scratch_engine)["admin_area"] == 4


def test_barriers_from_geopackage_layer(scratch_engine, tmp_path):
    path = tmp_path / "base.gpkg"
    frame([{"id": "R1", "kind": "Road", "class": "primary", "name": "人民路",
            "geometry": LineString([(119.99, 31.705), (120.03, 31.705)])},
           {"id": "W1", "kind": "river", "class": None, "name": "运河",
            "geometry": MultiLineString([[(120.01, 31.69), (120.01, 31.70)], [(120.01, 31.71), (120.01, 31.72)]])},
           ]).to_file(path, layer="barriers", driver="GPKG", engine="pyogrio")
    # A second layer, so the layer has to be chosen.
    frame([{"kind": "rail", "geometry": LineString([(119.99, 31.69), (120.03, 31.72)])}]).to_file(
        path, layer="old_barriers", driver="GPKG", engine="pyogrio")
    with pytest.raises(InputError, match="pass --layer"):
        import_file(scratch_engine, "barriers", path)

    report = import_file(scratch_engine, "barriers", path, layer="barriers")

    assert (report.inserted, report.updated) == (2, 0)
    assert report.source == "base.gpkg:barriers"
    got = rows(scratch_engine, "SELECT source_id, kind, class, name, ST_SRID(geom), GeometryType(geom), "
                               "ST_NumGeometries(geom) FROM barrier ORDER BY source_id")
    assert got == [("R1", "road", "primary", "人民路", 4490, "MULTILINESTRING", 1),
                   ("W1", "river", None, "运河", 4490, "MULTILINESTRING", 2)]


def _zipped_shapefile(tmp_path: Path, records: list[dict], name: str = "sites") -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame(records).to_file(folder / f"{name}.shp", driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(folder.iterdir()):
            archive.write(member, arcname=member.name)
    return path


def test_sites_from_zipped_shapefile_without_community_code(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    path = _zipped_shapefile(tmp_path, [
        {"id": "S1", "name": "实验小学", "kind": "school", "geometry": box(120.003, 31.703, 120.005, 31.705)},
        {"id": "S2", "name": "阳光小区", "kind": "residential_compound",
         "geometry": box(120.015, 31.700, 120.020, 31.705)},
    ])

    report = import_file(scratch_engine, "sites", path)

    assert (report.inserted, report.updated) == (2, 0)
    got = rows(scratch_engine, "SELECT source_id, name, kind, community_code, ST_SRID(geom), GeometryType(geom) "
                               "FROM site ORDER BY source_id")
    # No community_code column: each site gets the community it lies in.
    assert got == [("S1", "实验小学", "school", WEST, 4490, "MULTIPOLYGON"),
                   ("S2", "阳光小区", "residential_compound", EAST, 4490, "MULTIPOLYGON")]


def test_sites_from_zipped_shapefile_with_truncated_community_column(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    # dBase field names hold 10 characters: community_code is written as community_.
    path = _zipped_shapefile(tmp_path, [
        {"name": "人民医院", "kind": "hospital", "community_": EAST,  # given, though it lies in the west
         "geometry": box(120.003, 31.703, 120.005, 31.705)},
        {"name": "菜市场", "kind": "market", "community_": None, "geometry": box(120.015, 31.700, 120.020, 31.705)},
    ])

    report = import_file(scratch_engine, "sites", path)

    assert (report.inserted, report.updated) == (2, 0)
    got = rows(scratch_engine, "SELECT name, kind, community_code, source_id LIKE 'g:%' FROM site ORDER BY name")
    assert sorted(got) == sorted([("人民医院", "hospital", EAST, True), ("菜市场", "market", EAST, True)])


def test_buildings_from_geojson_get_their_community_spatially(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    path = geojson(tmp_path / "buildings.geojson", building_records())

    report = import_file(scratch_engine, "buildings", path)

    assert (report.inserted, report.updated) == (3, 0)
    got = rows(scratch_engine, "SELECT source_id, community_code, name, households, storeys, population, "
                               "ST_SRID(geom), GeometryType(geom) FROM building ORDER BY source_id")
    assert got == [("B1", WEST, "1号楼", 12, 6, 0, 4490, "MULTIPOLYGON"),
                   ("B2", WEST, "2号楼", 30, 11, 0, 4490, "MULTIPOLYGON"),
                   ("B3", EAST, "3号楼", 8, 3, 0, 4490, "MULTIPOLYGON")]


def test_addresses_from_csv(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    path = csv(tmp_path / "addresses.csv", [
        {"id": "A1", "address": "人民路1号1幢1单元", "road": "人民路", "number": 1, "building": 1, "unit": "1",
         "households": 12, "lon": 120.0005, "lat": 31.7005},
        {"id": "A2", "address": "人民路9号", "road": "人民路", "number": 9, "building": "", "unit": "",
         "households": "", "lon": 120.0205, "lat": 31.7105},
    ])

    report = import_file(scratch_engine, "addresses", path, crs="EPSG:4490")

    assert (report.inserted, report.updated) == (2, 0)
    got = rows(scratch_engine, "SELECT source_id, address, road, number, building, unit, households, community_code, "
                               "ST_SRID(geom), GeometryType(geom), ST_X(geom), ST_Y(geom) FROM address "
                               "ORDER BY source_id")
    assert [r[:10] for r in got] == [
        ("A1", "人民路1号1幢1单元", "人民路", 1, "1", "1", 12, WEST, 4490, "POINT"),
        ("A2", "人民路9号", "人民路", 9, None, None, None, EAST, 4490, "POINT"),
    ]
    assert got[0][10:] == pytest.approx((120.0005, 31.7005), abs=1e-9)


def test_addresses_from_gcj02_csv_land_on_the_true_point(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    true_lon, true_lat = 120.0005, 31.7005
    gcj_lon, gcj_lat = wgs84_to_gcj02(true_lon, true_lat)
    path = csv(tmp_path / "amap.csv", [{"address": "人民路1号", "lng": f"{gcj_lon:.9f}", "lat": f"{gcj_lat:.9f}"}])

    import_file(scratch_engine, "addresses", path, crs="gcj02")

    (distance, offset, community), = rows(
        scratch_engine,
        "SELECT ST_DistanceSphere(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)), "
        "       ST_DistanceSphere(geom, ST_SetSRID(ST_MakePoint(:glon, :glat), 4490)), community_code "
        "FROM address", lon=true_lon, lat=true_lat, glon=gcj_lon, glat=gcj_lat)
    assert distance < 1.0
    assert offset > 100  # the GCJ-02 offset is hundreds of metres: the conversion really happened
    assert community == WEST


# -- 2. re-importing updates in place ---------------------------------------------------------------

def test_reimport_with_ids_updates_rows_in_place(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    path = geojson(tmp_path / "buildings.geojson", building_records())
    import_file(scratch_engine, "buildings", path)
    before = table_counts(scratch_engine)
    ids_before = rows(scratch_engine, "SELECT id, source_id FROM building ORDER BY id")

    again = import_file(scratch_engine, "buildings", path)

    assert (again.inserted, again.updated) == (0, 3)
    assert "0 new, 3 updated" in again.summary()
    assert table_counts(scratch_engine) == before
    assert rows(scratch_engine, "SELECT id, source_id FROM building ORDER BY id") == ids_before

    # A changed value in the re-imported file replaces the stored one.
    changed = building_records()
    changed[1]["households"] = 31
    import_file(scratch_engine, "buildings", geojson(tmp_path / "buildings2.geojson", changed))
    assert rows(scratch_engine, "SELECT households FROM building WHERE source_id = 'B2'") == [(31,)]
    assert table_counts(scratch_engine) == before


def test_reimport_areas_updates_by_code(scratch_engine, tmp_path):
    path = geojson(tmp_path / "areas.geojson", area_records())
    import_file(scratch_engine, "areas", path)

    again = import_file(scratch_engine, "areas", path)

    assert (again.inserted, again.updated) == (0, 4)
    assert table_counts(scratch_engine)["admin_area"] == 4


@pytest.mark.parametrize("kind", ["buildings", "barriers", "sites", "addresses"])
def test_reimport_without_ids_is_keyed_by_geometry(scratch_engine, tmp_path, kind):
    load_areas(scratch_engine, tmp_path)
    if kind == "buildings":
        path = geojson(tmp_path / "b.geojson", building_records(ids=False))
    elif kind == "barriers":
        path = geojson(tmp_path / "b.geojson", [
            {"kind": "road", "geometry": LineString([(119.99, 31.705), (120.03, 31.705)])},
            {"kind": "wall", "geometry": LineString([(120.0, 31.70), (120.0, 31.71)])},
            {"kind": "river", "geometry": LineString([(120.0, 31.70), (120.0, 31.71)])},  # same line, other kind
        ])
    elif kind == "sites":
        path = geojson(tmp_path / "b.geojson", [
            {"name": "实验小学", "kind": "school", "geometry": box(120.003, 31.703, 120.005, 31.705)},
            {"name": "菜市场", "kind": "market", "geometry": box(120.015, 31.700, 120.020, 31.705)},
            {"name": "三中", "kind": "school", "geometry": box(120.021, 31.700, 120.022, 31.705)},
        ])
    else:  # addresses without id are keyed by the address text
        path = csv(tmp_path / "b.csv", [{"address": f"人民路{n}号", "lon": 120.0 + n / 1000, "lat": 31.705}
                                        for n in (1, 2, 3)])
    table = {"buildings": "building", "barriers": "barrier", "sites": "site", "addresses": "address"}[kind]

    first = import_file(scratch_engine, kind, path, crs=CRS if kind == "addresses" else None)
    assert (first.inserted, first.updated) == (3, 0)
    before = table_counts(scratch_engine)
    source_ids = rows(scratch_engine, f"SELECT id, source_id FROM {table} ORDER BY id")

    again = import_file(scratch_engine, kind, path, crs=CRS if kind == "addresses" else None)

    assert (again.inserted, again.updated) == (0, 3)
    assert "0 new, 3 updated" in again.summary()
    assert table_counts(scratch_engine) == before
    assert before[table] == 3
    assert rows(scratch_engine, f"SELECT id, source_id FROM {table} ORDER BY id") == source_ids


# -- 3. bad input: an error naming file, feature and field, and nothing written -----------------------

def _fails_writing_nothing(engine, kind: str, path: Path, **options) -> InputError:
    before = table_counts(engine)
    with pytest.raises(InputError) as caught:
        import_file(engine, kind, path, **options)
    assert table_counts(engine) == before
    return caught.value


def test_missing_required_column(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    records = building_records()
    for record in records:
        del record["households"]
    path = geojson(tmp_path / "no_households.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "buildings", path)

    assert_names(error, "no_households.geojson", "households", None)  # a column: no one feature is at fault
    assert "missing required column 'households'" in str(error)


@pytest.mark.parametrize("crs", ["EPSG:999999", "mars"])
def test_unknown_crs(scratch_engine, tmp_path, crs):
    load_areas(scratch_engine, tmp_path)
    path = csv(tmp_path / "addresses.csv", [{"address": "人民路1号", "lon": 120.0005, "lat": 31.7005}])

    error = _fails_writing_nothing(scratch_engine, "addresses", path, crs=crs)

    assert_names(error, "addresses.csv", "crs", None)
    assert crs in str(error)
    assert table_counts(scratch_engine)["address"] == 0


def test_line_where_a_polygon_is_needed(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    records = building_records()
    records.append({"id": "B4", "households": 5, "name": "4号楼", "storeys": 2,
                    "geometry": LineString([(120.004, 31.700), (120.005, 31.701)])})
    path = geojson(tmp_path / "buildings.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "buildings", path)

    assert_names(error, "buildings.geojson", "geometry", 4)
    assert "expected a polygon, got LineString" in str(error)
    assert table_counts(scratch_engine)["building"] == 0


def test_unparseable_csv_coordinate(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    path = csv(tmp_path / "addresses.csv", [
        {"address": "人民路1号", "lon": "120.0005", "lat": "31.7005"},
        {"address": "人民路2号", "lon": "120.0015", "lat": "31.7005"},
        {"address": "人民路3号", "lon": "abc", "lat": "31.7005"},
    ])

    error = _fails_writing_nothing(scratch_engine, "addresses", path, crs=CRS)

    assert_names(error, "addresses.csv", "lon", 3)
    assert "'abc'" in str(error)
    assert table_counts(scratch_engine)["address"] == 0


def test_non_integer_households(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    records = building_records()
    records[2]["households"] = "2.5"
    path = geojson(tmp_path / "buildings.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "buildings", path)

    assert_names(error, "buildings.geojson", "households", 3)
    assert "not an integer: '2.5'" in str(error)


def test_unknown_community_code_writes_nothing_not_even_updates(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    import_file(scratch_engine, "buildings", geojson(tmp_path / "buildings.geojson", building_records()))
    stored = rows(scratch_engine, "SELECT source_id, households, community_code FROM building ORDER BY source_id")

    # Rows 1-3 are fine (and would change households), row 4 names a community that does not exist.
    records = building_records()
    for record in records:
        record["households"] += 100
        record["community_code"] = WEST
    records.append({"id": "B4", "households": 5, "community_code": "320499001009",
                    "geometry": box(120.004, 31.700, 120.005, 31.701)})
    path = geojson(tmp_path / "buildings_bad.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "buildings", path)

    assert_names(error, "buildings_bad.geojson", "community_code", 4)
    assert "320499001009" in str(error)
    assert rows(scratch_engine, "SELECT source_id, households, community_code FROM building "
                                "ORDER BY source_id") == stored


def test_unknown_parent_code(scratch_engine, tmp_path):
    records = area_records()
    records.append({"code": "320499002001", "name": "孤社区", "level": "community", "parent_code": "320499002000",
                    "kind": "urban", "geometry": box(120.03, 31.69, 120.04, 31.70)})
    path = geojson(tmp_path / "areas.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "areas", path)

    assert_names(error, "areas.geojson", "parent_code", 5)
    assert "320499002000" in str(error)
    assert table_counts(scratch_engine)["admin_area"] == 0


def test_parent_of_a_lower_level(scratch_engine, tmp_path):
    records = area_records()
    records.append({"code": "320499001099", "name": "错挂社区", "level": "community", "parent_code": EAST,
                    "kind": "urban", "geometry": box(120.03, 31.69, 120.04, 31.70)})
    path = geojson(tmp_path / "areas.geojson", records)

    error = _fails_writing_nothing(scratch_engine, "areas", path)

    assert_names(error, "areas.geojson", "parent_code", 5)
    assert f"parent area {EAST} is a community, which cannot hold a community" in str(error)
    assert table_counts(scratch_engine)["admin_area"] == 0


@pytest.mark.parametrize(("case", "field"), [("id", "id"), ("geometry", "geometry"), ("code", "code"),
                                             ("address", "address")])
def test_two_features_with_one_key_are_refused(scratch_engine, tmp_path, case, field):
    # Two features that would upsert onto one row: the second would silently replace the first.
    load_areas(scratch_engine, tmp_path)
    if case == "code":
        kind, records = "areas", area_records()
        records.append({**records[0], "name": "重复社区"})
        path, options = geojson(tmp_path / "dup.geojson", records), {}
    elif case == "address":
        kind, options = "addresses", {"crs": CRS}
        path = csv(tmp_path / "dup.csv", [{"address": "人民路1号", "lon": 120.0005, "lat": 31.7005},
                                          {"address": "人民路2号", "lon": 120.0015, "lat": 31.7005},
                                          {"address": "人民路1号", "lon": 120.0025, "lat": 31.7005}])
    else:
        kind, options = "buildings", {}
        records = building_records(ids=case == "id")
        duplicate = {**records[0], "households": 99}
        if case == "id":
            duplicate["geometry"] = box(120.004, 31.700, 120.005, 31.701)
        records.append(duplicate)
        path = geojson(tmp_path / "dup.geojson", records)

    error = _fails_writing_nothing(scratch_engine, kind, path, **options)

    assert_names(error, path.name, field, 5 if case == "code" else 4 if kind == "buildings" else 3)
    assert "feature 1" in error.message


# -- 4. repair -----------------------------------------------------------------------------------------

def test_bow_tie_building_is_repaired_and_reported(scratch_engine, tmp_path):
    load_areas(scratch_engine, tmp_path)
    bow_tie = Polygon([(120.004, 31.700), (120.005, 31.701), (120.005, 31.700), (120.004, 31.701)])
    assert not bow_tie.is_valid
    records = building_records()
    records.append({"id": "BT", "households": 4, "geometry": bow_tie})
    path = geojson(tmp_path / "buildings.geojson", records)

    report = import_file(scratch_engine, "buildings", path)

    assert (report.inserted, report.updated) == (4, 0)
    assert len(report.repairs) == 1
    repair = report.repairs[0]
    assert repair.row == 4 and "Self-intersection" in repair.reason and repair.action == "make_valid"
    assert "1 geometries repaired" in report.summary()
    (valid, kind, parts, area, community), = rows(
        scratch_engine, "SELECT ST_IsValid(geom), GeometryType(geom), ST_NumGeometries(geom), ST_Area(geom), "
                        "community_code FROM building WHERE source_id = 'BT'")
    assert (valid, kind, parts, community) == (True, "MULTIPOLYGON", 2, WEST)
    assert area == pytest.approx(0.001 * 0.001 / 2)  # the two triangles of the bow tie


# -- 5. the CLI -------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(scratch_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def test_cli_import_prints_the_summary(cli_env, runner, tmp_path):
    from server.cli import main

    path = geojson(tmp_path / "areas.geojson", area_records())

    result = runner.invoke(main, ["import", "areas", str(path)])

    assert result.exit_code == 0, result.output
    assert "areas: 4 new, 0 updated from areas.geojson" in result.output
    assert table_counts(cli_env)["admin_area"] == 4


def test_cli_import_reports_repairs(cli_env, runner, tmp_path):
    from server.cli import main

    load_areas(cli_env, tmp_path)
    records = [{"households": 4, "geometry": Polygon([(120.004, 31.700), (120.005, 31.701),
                                                      (120.005, 31.700), (120.004, 31.701)])}]
    path = geojson(tmp_path / "buildings.geojson", records)

    result = runner.invoke(main, ["import", "buildings", str(path)])

    assert result.exit_code == 0, result.output
    assert "buildings: 1 new, 0 updated from buildings.geojson; 1 geometries repaired" in result.output
    assert "repaired:" in result.output and "Self-intersection" in result.output


def test_cli_import_of_a_bad_file_exits_1_and_imports_nothing(cli_env, runner, tmp_path):
    from server.cli import main

    load_areas(cli_env, tmp_path)
    path = csv(tmp_path / "addresses.csv", [
        {"address": "人民路1号", "lon": "120.0005", "lat": "31.7005"},
        {"address": "人民路2号", "lon": "abc", "lat": "31.7005"},
    ])

    result = runner.invoke(main, ["import", "addresses", str(path), "--crs", "EPSG:4490"])

    assert result.exit_code == 1, result.output
    # result.output holds stdout and stderr (click >= 8.2); the error goes to stderr.
    assert "addresses.csv, feature 2, field 'lon'" in result.stderr
    assert "nothing was imported" in result.stderr
    assert table_counts(cli_env)["address"] == 0


def test_cli_import_with_unknown_crs_is_a_usage_error(cli_env, runner, tmp_path):
    from server.cli import main

    path = csv(tmp_path / "addresses.csv", [{"address": "人民路1号", "lon": "120.0005", "lat": "31.7005"}])

    result = runner.invoke(main, ["import", "addresses", str(path), "--crs", "mars"])

    assert result.exit_code == 2, result.output
    assert "Invalid value for '--crs'" in result.stderr and "mars" in result.stderr
    assert table_counts(cli_env)["address"] == 0
