"""Tests of gis.io: reading each format, CRS handling, validation messages, repair, atomic writing."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon, box

from gis.crs import gcj02_to_bd09
from gis.errors import InputError
from gis.io import LAYER_SCHEMAS, MAX_PROBLEMS, LayerSchema, ReadResult, Repair, read_layer, write_layers

GEOD = pyproj.Geod(ellps="WGS84")

# Published WGS84 → GCJ-02 pairs (googollee/eviltransform, python/test.py): (wgs lon, wgs lat, gcj lon, gcj lat)
TRUE_POINTS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def building_frame(crs: object = 4490) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"households": [120, 80, 0], "name": ["1号楼", "2号楼", "车库"], "colour": ["red", "blue", None]},
        geometry=[box(116.400, 39.900, 116.401, 39.901), box(116.402, 39.900, 116.403, 39.901),
                  box(116.404, 39.900, 116.405, 39.901)],
        crs=crs,
    )


def write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def feature(properties: dict, geometry: object) -> dict:
    return {"type": "Feature", "properties": properties,
            "geometry": None if geometry is None else shapely.geometry.mapping(geometry)}


def zip_files(target: Path, files: list[Path], prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in files:
            archive.write(file, arcname=prefix + file.name)
    return target


def shapefile_parts(folder: Path, stem: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.stem == stem)


def read_error(path: Path, kind: str, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        read_layer(path, kind, **kwargs)
    return caught.value


# --------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------

def test_layer_schemas_have_the_documented_fields():
    assert set(LAYER_SCHEMAS) == {"areas", "buildings", "addresses", "barriers", "sites"}
    assert all(isinstance(s, LayerSchema) and s.kind == k for k, s in LAYER_SCHEMAS.items())
    assert LAYER_SCHEMAS["areas"].geometry == "polygon"
    assert dict(LAYER_SCHEMAS["areas"].required) == {"code": str, "name": str, "level": str}
    assert dict(LAYER_SCHEMAS["buildings"].required) == {"households": int}
    assert LAYER_SCHEMAS["buildings"].optional["storeys"] is int
    assert LAYER_SCHEMAS["addresses"].geometry == "point"
    assert dict(LAYER_SCHEMAS["barriers"].required) == {"kind": str}
    assert LAYER_SCHEMAS["barriers"].geometry == "line"
    assert LAYER_SCHEMAS["sites"].choices["kind"] >= {"residential_compound", "school", "business"}
    with pytest.raises(TypeError):
        LAYER_SCHEMAS["areas"].required["extra"] = str  # type: ignore[index]


# --------------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------------

def test_read_geojson_buildings(tmp_path):
    path = write_geojson(tmp_path / "buildings.geojson", [
        feature({"households": "12", "Name": "1号楼", "storeys": 6.0, "note": "x"},
                box(116.400, 39.900, 116.401, 39.901)),
        feature({"households": 30, "Name": None, "storeys": None, "note": None},
                box(116.402, 39.900, 116.403, 39.901)),
    ])
    result = read_layer(path, "buildings")
    assert isinstance(result, ReadResult)
    frame = result.frame
    assert result.source == "buildings.geojson"
    assert result.repairs == []
    assert frame.crs.to_epsg() == 4490
    assert list(frame["households"]) == [12, 30]
    assert frame["households"].dtype == "int64"
    assert list(frame["source_row"]) == [1, 2]
    assert frame.loc[0, "name"] == "1号楼"  # matched case-insensitively
    assert frame.loc[0, "storeys"] == 6 and pd.isna(frame.loc[1, "storeys"])
    assert list(frame["note"].fillna("-")) == ["x", "-"]  # extra columns are kept
    assert {"community_code", "site", "population"} <= set(frame.columns)  # optional, all null
    assert frame.geometry.iloc[0].equals(box(116.400, 39.900, 116.401, 39.901))


def test_read_gpkg_single_layer_and_projected_crs(tmp_path):
    # A file in a projected CRS is converted to EPSG:4490 through pyproj.
    path = tmp_path / "areas.gpkg"
    metric = gpd.GeoDataFrame(
        {"code": ["110101001001"], "name": ["东华门社区"], "level": ["Community"]},
        geometry=[box(116.40, 39.90, 116.41, 39.91)], crs=4490).to_crs(4548)
    metric.to_file(path, layer="areas", driver="GPKG")
    frame = read_layer(path, "areas").frame
    assert frame.crs.to_epsg() == 4490
    assert frame.loc[0, "level"] == "community"  # enumerations are stored lower case
    assert frame.loc[0, "code"] == "110101001001"
    np.testing.assert_allclose(frame.total_bounds, [116.40, 39.90, 116.41, 39.91], atol=1e-9)


def test_read_gpkg_with_several_layers_needs_a_layer(tmp_path):
    path = tmp_path / "city.gpkg"
    building_frame().to_file(path, layer="buildings", driver="GPKG")
    building_frame().to_file(path, layer="old_buildings", driver="GPKG")
    error = read_error(path, "buildings")
    assert error.source == "city.gpkg" and error.field == "layer"
    assert "buildings" in str(error) and "old_buildings" in str(error) and "--layer" in str(error)
    result = read_layer(path, "buildings", layer="old_buildings")
    assert len(result.frame) == 3
    assert result.source == "city.gpkg:old_buildings"
    error = read_error(path, "buildings", layer="nope")
    assert "'nope'" in str(error) and "old_buildings" in str(error)


def write_shapefile(folder: Path, stem: str, frame: gpd.GeoDataFrame) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame, folder / f"{stem}.shp", driver="ESRI Shapefile", encoding="UTF-8")
    return shapefile_parts(folder, stem)


def test_read_zipped_shapefile(tmp_path):
    frame = building_frame().rename(columns={"name": "NAME"})
    frame["community_"] = "110101001001"  # dBase truncation of community_code
    parts = write_shapefile(tmp_path / "shp", "buildings", frame)
    path = zip_files(tmp_path / "buildings.zip", parts, prefix="export/")
    result = read_layer(path, "buildings")
    assert result.source == "buildings.zip"
    assert list(result.frame["households"]) == [120, 80, 0]
    assert list(result.frame["name"]) == ["1号楼", "2号楼", "车库"]
    assert list(result.frame["community_code"]) == ["110101001001"] * 3
    assert result.frame.crs.to_epsg() == 4490


def test_read_zip_with_several_or_no_shapefiles(tmp_path):
    parts = (write_shapefile(tmp_path / "shp", "buildings", building_frame())
             + write_shapefile(tmp_path / "shp", "garages", building_frame()))
    path = zip_files(tmp_path / "two.zip", parts)
    error = read_error(path, "buildings")
    assert error.source == "two.zip" and error.field == "layer"
    assert "buildings" in str(error) and "garages" in str(error)
    assert len(read_layer(path, "buildings", layer="garages").frame) == 3

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    error = read_error(empty, "buildings")
    assert "empty.zip" in str(error) and "no Shapefile" in str(error) and "readme.txt" in str(error)

    not_zip = tmp_path / "broken.zip"
    not_zip.write_bytes(b"not a zip")
    assert "broken.zip" in str(read_error(not_zip, "buildings"))


def test_read_plain_shapefile_with_and_without_prj(tmp_path):
    parts = write_shapefile(tmp_path, "buildings", building_frame())
    assert len(read_layer(tmp_path / "buildings.shp", "buildings").frame) == 3
    next(p for p in parts if p.suffix == ".prj").unlink()
    error = read_error(tmp_path / "buildings.shp", "buildings")
    assert error.field == "crs" and error.source == "buildings.shp"
    assert "no CRS: the file declares none; pass --crs (e.g. EPSG:4490, wgs84, gcj02, bd09)" in str(error)
    frame = read_layer(tmp_path / "buildings.shp", "buildings", crs="cgcs2000").frame
    assert frame.crs.to_epsg() == 4490


def test_read_csv_lon_lat_utf8_with_bom(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_bytes("\ufeffaddress,LON,Lat,households,remark\n"
                     "东城区东华门街道1号,116.404,39.915,12,a\n"
                     "东城区东华门街道2号, 116.405 ,39.916,,\n".encode())
    result = read_layer(path, "addresses", crs="EPSG:4490")
    frame = result.frame
    assert list(frame["address"]) == ["东城区东华门街道1号", "东城区东华门街道2号"]
    assert frame.loc[0, "households"] == 12 and pd.isna(frame.loc[1, "households"])
    assert frame.loc[0, "remark"] == "a" and frame.loc[1, "remark"] is None
    assert "LON" not in frame.columns and "Lat" not in frame.columns  # consumed by the geometry
    assert frame.geometry.iloc[1].equals(Point(116.405, 39.916))
    assert list(frame["source_row"]) == [1, 2]


def test_read_csv_chinese_headers_in_gb18030(tmp_path):
    path = tmp_path / "地址.csv"
    path.write_bytes("address,经度,纬度,楼栋\n北京市东城区1号,116.404,39.915,3号楼\n".encode("gb18030"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    frame = read_layer(path, "addresses", crs="cgcs2000").frame
    assert frame.loc[0, "address"] == "北京市东城区1号"
    assert frame.loc[0, "楼栋"] == "3号楼"
    assert frame.geometry.iloc[0].equals(Point(116.404, 39.915))


@pytest.mark.parametrize("x, y", [("lng", "lat"), ("longitude", "latitude"), ("X", "Y")])
def test_read_csv_other_coordinate_columns(tmp_path, x, y):
    path = tmp_path / "a.csv"
    path.write_text(f"address,{x},{y}\nsomewhere,116.4,39.9\n", encoding="utf-8")
    assert read_layer(path, "addresses", crs="wgs84").frame.geometry.iloc[0].equals(Point(116.4, 39.9))


def test_read_csv_wkt_column(tmp_path):
    path = tmp_path / "barriers.csv"
    path.write_text('kind,name,WKT\nroad,长安街,"LINESTRING (116.39 39.90, 116.41 39.90)"\n', encoding="utf-8")
    frame = read_layer(path, "barriers", crs="wgs84").frame
    assert frame.geometry.iloc[0].equals(LineString([(116.39, 39.90), (116.41, 39.90)]))
    assert "WKT" not in frame.columns


def test_read_csv_written_by_geopandas(tmp_path):
    # GeoDataFrame.to_csv puts the WKT in a column named "geometry".
    path = tmp_path / "buildings.csv"
    building_frame().to_csv(path, index=False)
    frame = read_layer(path, "buildings", crs="EPSG:4490").frame
    assert list(frame["households"]) == [120, 80, 0]
    assert frame.geometry.geom_equals(building_frame().geometry).all()


def test_empty_layers_read_as_empty_frames(tmp_path):
    path = write_geojson(tmp_path / "walls.geojson", [])
    frame = read_layer(path, "barriers").frame
    assert len(frame) == 0 and frame.crs.to_epsg() == 4490
    assert {"kind", "id", "class", "name", "source_row"} <= set(frame.columns)
    csv = tmp_path / "none.csv"
    csv.write_text("address,lon,lat\n", encoding="utf-8")
    assert len(read_layer(csv, "addresses", crs="wgs84").frame) == 0


def test_gpkg_table_without_geometry(tmp_path):
    path = tmp_path / "mixed.gpkg"
    building_frame().to_file(path, layer="buildings", driver="GPKG")
    pyogrio.write_dataframe(pd.DataFrame({"note": ["x"]}), path, layer="notes", driver="GPKG")
    assert len(read_layer(path, "buildings").frame) == 3  # the only spatial layer is chosen
    error = read_error(path, "buildings", layer="notes")
    assert error.source == "mixed.gpkg:notes" and "no geometry" in str(error)


def test_read_csv_without_crs_is_an_error(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text("address,lon,lat\nx,116.4,39.9\n", encoding="utf-8")
    error = read_error(path, "addresses")
    assert error.source == "addresses.csv" and error.field == "crs"
    assert str(error).endswith(
        "no CRS: the file declares none; pass --crs (e.g. EPSG:4490, wgs84, gcj02, bd09)")


def test_read_csv_without_coordinate_columns(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text("address,east,north\nx,116.4,39.9\n", encoding="utf-8")
    error = read_error(path, "addresses", crs="wgs84")
    assert "addresses.csv" in str(error)
    assert "经度/纬度" in str(error) and "columns present: address, east, north" in str(error)


def test_read_csv_unparseable_coordinates(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text("address,lon,lat\na,116.4,39.9\nb,116.4E,39.9\nc,,39.9\n", encoding="utf-8")
    error = read_error(path, "addresses", crs="wgs84")
    assert (error.source, error.row, error.field) == ("addresses.csv", 2, "lon")
    message = str(error)
    assert "addresses.csv, feature 2, field 'lon'" in message
    assert "cannot parse coordinate '116.4E'" in message
    assert "feature 3, field 'lon': missing coordinate" in message


def test_unreadable_text_is_an_error(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"address,lon,lat\n\xff\xfe\xff\xfe,1,2\n")
    error = read_error(path, "addresses", crs="wgs84")
    assert "binary.csv" in str(error) and "UTF-8" in str(error)


# --------------------------------------------------------------------------------------------------
# CRS handling
# --------------------------------------------------------------------------------------------------

def test_crs_override_beats_the_file(tmp_path):
    # Amap coordinates saved as GeoJSON: the file says WGS84 (GeoJSON always does), --crs says GCJ-02.
    path = write_geojson(tmp_path / "amap.geojson", [
        feature({"address": f"point {i}"}, Point(gcj_lon, gcj_lat))
        for i, (_, _, gcj_lon, gcj_lat) in enumerate(TRUE_POINTS)])
    as_declared = read_layer(path, "addresses").frame
    corrected = read_layer(path, "addresses", crs="GCJ-02").frame
    for i, (lon, lat, gcj_lon, gcj_lat) in enumerate(TRUE_POINTS):
        assert as_declared.geometry.iloc[i].equals(Point(gcj_lon, gcj_lat))
        point = corrected.geometry.iloc[i]
        assert metres(point.x, point.y, lon, lat) < 1.0


def test_gcj02_csv_lands_within_a_metre(tmp_path):
    path = tmp_path / "amap.csv"
    rows = "\n".join(f"p{i},{gcj_lon!r},{gcj_lat!r}" for i, (_, _, gcj_lon, gcj_lat) in enumerate(TRUE_POINTS))
    path.write_text("address,lng,lat\n" + rows + "\n", encoding="utf-8")
    frame = read_layer(path, "addresses", crs="gcj02").frame
    for point, (lon, lat, _, _) in zip(frame.geometry, TRUE_POINTS, strict=True):
        assert metres(point.x, point.y, lon, lat) < 1.0


def test_bd09_csv_lands_within_a_metre(tmp_path):
    path = tmp_path / "baidu.csv"
    baidu = [gcj02_to_bd09(gcj_lon, gcj_lat) for _, _, gcj_lon, gcj_lat in TRUE_POINTS]
    rows = "\n".join(f"p{i},{lon!r},{lat!r}" for i, (lon, lat) in enumerate(baidu))
    path.write_text("address,经度,纬度\n" + rows + "\n", encoding="utf-8")
    frame = read_layer(path, "addresses", crs="bd09").frame
    for point, (lon, lat, _, _) in zip(frame.geometry, TRUE_POINTS, strict=True):
        assert metres(point.x, point.y, lon, lat) < 1.0


def test_unknown_crs_is_an_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("address,lon,lat\nx,116.4,39.9\n", encoding="utf-8")
    error = read_error(path, "addresses", crs="mars")
    assert (error.source, error.field) == ("a.csv", "crs")
    assert "'mars'" in str(error)


def test_wrong_crs_is_caught_by_the_coordinate_range(tmp_path):
    path = tmp_path / "metric.csv"
    path.write_text("address,x,y\nx,500123.4,4419876.5\n", encoding="utf-8")
    error = read_error(path, "addresses", crs="wgs84")
    assert (error.source, error.row, error.field) == ("metric.csv", 1, "geometry")
    assert "not a longitude/latitude" in str(error) and "500123" in str(error)
    # The same file with the right CRS reads.
    frame = read_layer(path, "addresses", crs="EPSG:4548").frame
    assert 116 < frame.geometry.iloc[0].x < 118


# --------------------------------------------------------------------------------------------------
# Validation errors: file, row, field and value
# --------------------------------------------------------------------------------------------------

def test_missing_file_and_unsupported_type(tmp_path):
    error = read_error(tmp_path / "nowhere.geojson", "buildings")
    assert error.source == "nowhere.geojson" and "nowhere.geojson" in str(error)
    assert str(tmp_path) not in str(error)  # the folder is not shown to users
    (tmp_path / "table.xlsx").write_bytes(b"")
    error = read_error(tmp_path / "table.xlsx", "buildings")
    assert "table.xlsx" in str(error) and "'.xlsx'" in str(error)


def test_corrupt_file_is_an_error(tmp_path):
    path = tmp_path / "broken.geojson"
    path.write_text("{not json", encoding="utf-8")
    error = read_error(path, "buildings")
    assert "broken.geojson" in str(error) and "cannot open" in str(error)
    assert str(tmp_path) not in str(error)


def test_unknown_kind(tmp_path):
    error = read_error(tmp_path / "x.geojson", "grids")
    assert error.field == "kind" and "'grids'" in str(error)


def test_missing_required_column(tmp_path):
    path = write_geojson(tmp_path / "buildings.geojson",
                         [feature({"name": "a", "floors": 3}, box(116.4, 39.9, 116.41, 39.91))])
    error = read_error(path, "buildings")
    assert (error.source, error.row, error.field) == ("buildings.geojson", None, "households")
    assert "missing required column 'households' (columns present: name, floors)" in str(error)


# GDAL types a GeoJSON property column from all its values, so "12.5" among integers arrives as 12.5.
@pytest.mark.parametrize("value, text", [("12.5", "not an integer: 12.5"), ("abc", "not an integer: 'abc'"),
                                         (12.5, "not an integer: 12.5"), (-3, "negative count: -3"),
                                         (3_000_000_000, "implausibly large: 3000000000"),
                                         (None, "required value is null")])
def test_bad_required_integer(tmp_path, value, text):
    path = write_geojson(tmp_path / "buildings.geojson", [
        feature({"households": 10}, box(116.40, 39.9, 116.401, 39.901)),
        feature({"households": value}, box(116.402, 39.9, 116.403, 39.901)),
    ])
    error = read_error(path, "buildings")
    assert (error.source, error.row, error.field) == ("buildings.geojson", 2, "households")
    assert str(error).startswith("buildings.geojson, feature 2, field 'households': ")
    assert text in str(error)


def test_non_integer_text_in_csv(tmp_path):
    path = tmp_path / "buildings.csv"
    path.write_text('households,wkt\n12.5,"POINT (1 2)"\n', encoding="utf-8")
    error = read_error(path, "buildings", crs="wgs84")
    assert (error.row, error.field) == (1, "households")
    assert "buildings.csv, feature 1, field 'households': not an integer: '12.5'; 1 more problem:" in str(error)
    assert "not an integer: '12.5'" in str(error) and "expected a polygon, got Point" in str(error)


def test_integer_coercion_accepts_integral_text(tmp_path):
    path = tmp_path / "buildings.csv"
    path.write_text('households,storeys,wkt\n" 12 ",6.0,"POLYGON ((116.4 39.9, 116.41 39.9, 116.41 39.91, '
                    '116.4 39.9))"\n', encoding="utf-8")
    frame = read_layer(path, "buildings", crs="wgs84").frame
    assert frame.loc[0, "households"] == 12 and frame.loc[0, "storeys"] == 6


def test_bad_code_and_unknown_enumeration(tmp_path):
    path = write_geojson(tmp_path / "areas.geojson", [
        feature({"code": "110101001001", "name": "ok", "level": "community"}, box(116.40, 39.9, 116.41, 39.91)),
        feature({"code": "1101010", "name": "short", "level": "community"}, box(116.41, 39.9, 116.42, 39.91)),
        feature({"code": "110101001003", "name": "odd", "level": "village group"},
                box(116.42, 39.9, 116.43, 39.91)),
    ])
    error = read_error(path, "areas")
    assert (error.source, error.row, error.field) == ("areas.geojson", 2, "code")
    message = str(error)
    assert "; 1 more problem:" in message
    assert "feature 2, field 'code': bad code '1101010': expected 12 digits" in message
    assert "feature 3, field 'level': unknown value 'village group' (expected one of: city, community, county, " \
           "province, township)" in message


def test_text_longer_than_the_store_keeps(tmp_path):
    path = write_geojson(tmp_path / "barriers.geojson", [
        feature({"kind": "road", "class": "urban expressway (elevated)"},
                shapely.LineString([(116.40, 39.9), (116.41, 39.9)]))])
    error = read_error(path, "barriers")
    assert (error.row, error.field) == (1, "class")
    assert "too long: 'urban expressway (elevated)' has 27 characters, at most 16" in str(error)


def test_numeric_codes_from_files_are_text(tmp_path):
    path = write_geojson(tmp_path / "areas.geojson", [
        feature({"code": 110101001001, "name": "东华门", "level": "community", "parent_code": 110101001000},
                box(116.40, 39.9, 116.41, 39.91))])
    frame = read_layer(path, "areas").frame
    assert frame.loc[0, "code"] == "110101001001" and frame.loc[0, "parent_code"] == "110101001000"


@pytest.mark.parametrize("geometry, text", [
    (None, "no geometry (null)"),
    (Polygon(), "empty geometry"),
    (LineString([(116.4, 39.9), (116.41, 39.91)]), "expected a polygon, got LineString"),
    (Point(116.4, 39.9), "expected a polygon, got Point"),
])
def test_bad_geometry(tmp_path, geometry, text):
    path = tmp_path / "sites.geojson"
    features = [feature({"kind": "school", "name": "一中"}, box(116.40, 39.9, 116.41, 39.91)),
                feature({"kind": "hospital", "name": "医院"}, geometry)]
    if geometry is not None and geometry.is_empty:
        features[1]["geometry"] = {"type": "Polygon", "coordinates": []}
    write_geojson(path, features)
    error = read_error(path, "sites")
    assert (error.source, error.row, error.field) == ("sites.geojson", 2, "geometry")
    assert str(error) == f"sites.geojson, feature 2, field 'geometry': {text}"


def test_wrong_family_for_lines_and_points(tmp_path):
    lines = write_geojson(tmp_path / "barriers.geojson",
                          [feature({"kind": "road"}, box(116.40, 39.9, 116.41, 39.91))])
    assert "expected a line, got Polygon" in str(read_error(lines, "barriers"))
    points = write_geojson(tmp_path / "addresses.geojson",
                           [feature({"address": "x"}, LineString([(116.4, 39.9), (116.5, 39.9)]))])
    assert "expected a point, got LineString" in str(read_error(points, "addresses"))


def test_several_problems_are_reported_together(tmp_path):
    path = write_geojson(tmp_path / "barriers.geojson", [
        feature({"kind": "road"}, LineString([(116.40, 39.9), (116.41, 39.9)])),
        feature({"kind": "canal"}, LineString([(116.40, 39.91), (116.41, 39.91)])),
        feature({"kind": None}, None),
    ])
    error = read_error(path, "barriers")
    assert (error.row, error.field) == (2, "kind")  # the first problem's row and field
    message = str(error)
    assert message.startswith("barriers.geojson, feature 2, field 'kind': unknown value 'canal'")
    assert message.splitlines()[0].endswith("; 2 more problems:")
    assert "feature 2, field 'kind': unknown value 'canal'" in message
    assert "feature 3, field 'kind': required value is null" in message
    assert "feature 3, field 'geometry': no geometry (null)" in message


def test_problem_list_stops_at_the_limit(tmp_path):
    path = tmp_path / "addresses.csv"
    rows = "".join(f"addr {i},abc,39.9\n" for i in range(MAX_PROBLEMS + 5))
    path.write_text("address,lon,lat\n" + rows, encoding="utf-8")
    message = str(read_error(path, "addresses", crs="wgs84"))
    assert f"; {MAX_PROBLEMS + 4} more problems (the next {MAX_PROBLEMS - 1} listed):" in message
    assert message.count("cannot parse coordinate") == MAX_PROBLEMS


# --------------------------------------------------------------------------------------------------
# Repair
# --------------------------------------------------------------------------------------------------

def test_bow_tie_is_repaired_and_reported(tmp_path):
    bow_tie = Polygon([(116.40, 39.90), (116.42, 39.92), (116.42, 39.90), (116.40, 39.92), (116.40, 39.90)])
    assert not bow_tie.is_valid
    path = write_geojson(tmp_path / "buildings.geojson", [
        feature({"households": 10}, box(116.43, 39.9, 116.44, 39.91)),
        feature({"households": 20}, bow_tie),
    ])
    result = read_layer(path, "buildings")
    assert len(result.repairs) == 1
    repair = result.repairs[0]
    assert isinstance(repair, Repair)
    assert repair.row == 2 and repair.action == "make_valid"
    assert repair.reason.startswith("Self-intersection")
    fixed = result.frame.geometry.iloc[1]
    assert fixed.is_valid and fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(bow_tie.buffer(0).area + Polygon(
        [(116.40, 39.90), (116.41, 39.91), (116.40, 39.92)]).area, rel=1e-6)
    assert result.frame.loc[1, "households"] == 20


def test_repair_drops_non_polygon_parts(tmp_path):
    # A square with a spike: make_valid gives the square plus the spike as a line.
    spiked = Polygon([(116.40, 39.90), (116.41, 39.90), (116.41, 39.905), (116.42, 39.905), (116.41, 39.905),
                      (116.41, 39.91), (116.40, 39.91), (116.40, 39.90)])
    assert not spiked.is_valid
    path = write_geojson(tmp_path / "sites.geojson", [feature({"kind": "park", "name": "园"}, spiked)])
    result = read_layer(path, "sites")
    assert result.repairs == [Repair(row=1, reason=shapely.is_valid_reason(spiked),
                                     action="dropped 1 non-polygon parts")]
    fixed = result.frame.geometry.iloc[0]
    assert fixed.geom_type == "Polygon"
    assert fixed.equals(box(116.40, 39.90, 116.41, 39.91))


def test_repair_that_leaves_nothing_is_an_error(tmp_path):
    flat = Polygon([(116.40, 39.90), (116.42, 39.90), (116.41, 39.90), (116.40, 39.90)])
    path = write_geojson(tmp_path / "buildings.geojson", [feature({"households": 3}, flat)])
    error = read_error(path, "buildings")
    assert (error.source, error.row, error.field) == ("buildings.geojson", 1, "geometry")
    assert "repair left no polygon" in str(error)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def read_back_buildings(path: Path, **kwargs) -> gpd.GeoDataFrame:
    return read_layer(path, "buildings", **kwargs).frame


def test_write_gpkg_round_trip(tmp_path):
    buildings = read_layer(write_geojson(tmp_path / "in.geojson", [
        feature({"households": 5, "name": "楼"}, box(116.40, 39.9, 116.41, 39.91))]), "buildings").frame
    addresses = gpd.GeoDataFrame({"address": ["东城区1号"], "households": [3]},
                                 geometry=[Point(116.404, 39.915)], crs=4490)
    path = tmp_path / "out.gpkg"
    write_layers(path, {"buildings": buildings, "addresses": addresses})
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["addresses", "buildings"]
    back = read_back_buildings(path, layer="buildings")
    assert back.loc[0, "households"] == 5 and back.loc[0, "name"] == "楼"
    assert back.geometry.iloc[0].equals(buildings.geometry.iloc[0])
    got = read_layer(path, "addresses", layer="addresses").frame
    assert got.loc[0, "address"] == "东城区1号" and got.geometry.iloc[0].equals(Point(116.404, 39.915))


def test_write_geojson_round_trip_and_single_layer_only(tmp_path):
    frame = building_frame()
    path = tmp_path / "out.geojson"
    write_layers(path, {"buildings": frame})
    back = read_back_buildings(path)
    assert back.crs.to_epsg() == 4490
    assert list(back["households"]) == [120, 80, 0] and list(back["name"]) == ["1号楼", "2号楼", "车库"]
    assert back.geometry.geom_equals_exact(frame.geometry, tolerance=1e-9).all()
    with pytest.raises(InputError) as caught:
        write_layers(tmp_path / "two.geojson", {"a": frame, "b": frame})
    assert "two.geojson" in str(caught.value) and "one layer" in str(caught.value)
    assert not (tmp_path / "two.geojson").exists()


def test_write_zip_round_trip(tmp_path):
    barriers = gpd.GeoDataFrame({"kind": ["road", "river"], "name": ["长安街", "通惠河"]},
                                geometry=[LineString([(116.39, 39.90), (116.41, 39.90)]),
                                          LineString([(116.39, 39.89), (116.41, 39.895)])], crs=4490)
    path = tmp_path / "out.zip"
    write_layers(path, {"buildings": building_frame(), "barriers": barriers})
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    assert {"buildings.shp", "buildings.dbf", "buildings.prj", "barriers.shp", "barriers.cpg"} <= names
    back = read_back_buildings(path, layer="buildings")
    assert list(back["households"]) == [120, 80, 0] and list(back["name"]) == ["1号楼", "2号楼", "车库"]
    roads = read_layer(path, "barriers", layer="barriers").frame
    assert list(roads["name"]) == ["长安街", "通惠河"]
    assert roads.geometry.geom_equals_exact(barriers.geometry, tolerance=1e-9).all()


def test_write_zip_rejects_long_column_names(tmp_path):
    frame = building_frame()
    frame["community_code"] = "110101001001"
    with pytest.raises(InputError) as caught:
        write_layers(tmp_path / "out.zip", {"buildings": frame})
    error = caught.value
    assert error.field == "community_code" and "out.zip" in str(error) and "10 characters" in str(error)
    assert not (tmp_path / "out.zip").exists()


def test_write_checks_its_input(tmp_path):
    with pytest.raises(InputError):
        write_layers(tmp_path / "out.gpkg", {})
    with pytest.raises(InputError) as caught:
        write_layers(tmp_path / "out.gpkg", {"a": gpd.GeoDataFrame(geometry=[Point(1, 2)])})
    assert caught.value.field == "crs"
    with pytest.raises(InputError):
        write_layers(tmp_path / "out.kml", {"a": building_frame()})
    with pytest.raises(InputError):
        write_layers(tmp_path / "missing" / "out.gpkg", {"a": building_frame()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.gpkg", "out.zip", "out.geojson"])
def test_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path, monkeypatch, name):
    path = tmp_path / name
    path.write_bytes(b"previous version")
    real_write = pyogrio.write_dataframe
    calls = []

    def failing_write(frame, target, **kwargs):
        calls.append(target)
        real_write(frame, target, **kwargs)  # something is on disk when the failure comes
        if len(calls) == (1 if name.endswith(".geojson") else 2):
            raise pyogrio.errors.DataLayerError("disk said no")

    monkeypatch.setattr(pyogrio, "write_dataframe", failing_write)
    layers = {"buildings": building_frame()}
    if not name.endswith(".geojson"):
        layers["garages"] = building_frame()
    with pytest.raises(InputError) as caught:
        write_layers(path, layers)
    assert "disk said no" in str(caught.value) and name in str(caught.value)
    assert path.read_bytes() == b"previous version"
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary files left behind
