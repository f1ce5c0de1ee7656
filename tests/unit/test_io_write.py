"""What gis.io.write_layers puts in a file: a GeoPackage older GDALs read silently, NULL for blank text."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import zipfile

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import box

from gis.io import GPKG_VERSION, write_layers

#: ``PRAGMA application_id`` of every GeoPackage: the ASCII bytes "GPKG".
GPKG_APPLICATION_ID = 0x47504B47


def grids(crs: object = 4490) -> gpd.GeoDataFrame:
    """Four grids: named, unnamed (NULL), named with an empty string and with blanks only."""
    return gpd.GeoDataFrame(
        {"code": ["320499001001001", "320499001001002", "320499001001003", "320499001001004"],
         "name": ["和平路网格", None, "", "  "], "subtype": ["", "school", None, " "], "households": [310, 0, 5, 7]},
        geometry=[box(119.990 + i / 300, 31.710, 119.993 + i / 300, 31.715 + i / 700) for i in range(4)], crs=crs)


def test_a_geopackage_is_one_gdal_3_6_opens_without_a_warning(tmp_path):
    path = tmp_path / "division.gpkg"
    write_layers(path, {"grids": grids(), "micro_grids": grids()[["code", "geometry"]]})
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo (GDAL's command line tools) is needed: scripts/install-os-deps.sh installs it"
    version = subprocess.run([ogrinfo, "--version"], capture_output=True, text=True, check=True).stdout
    shown = subprocess.run([ogrinfo, "-al", "-so", str(path)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    said = shown.stdout + shown.stderr
    assert "partially supported" not in said and "Warning" not in said, (version, said)
    assert "Layer name: grids" in shown.stdout and "Feature Count: 4" in shown.stdout
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10300 and GPKG_VERSION == "1.3"
        assert db.execute("PRAGMA application_id").fetchone()[0] == GPKG_APPLICATION_ID


def test_blank_text_is_null_in_a_geopackage(tmp_path):
    path = tmp_path / "division.gpkg"
    frame = grids()
    write_layers(path, {"grids": frame})
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT code, name, subtype FROM grids ORDER BY code").fetchall()
    assert [r[1] for r in rows] == ["和平路网格", None, None, None]
    assert [r[2] for r in rows] == [None, "school", None, None]
    assert frame["name"].tolist()[2:] == ["", "  "], "the caller's frame must be left as it was"


def test_blank_text_is_null_in_geojson(tmp_path):
    path = tmp_path / "division.geojson"
    write_layers(path, {"grids": grids()})
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    assert [f["properties"]["name"] for f in features] == ["和平路网格", None, None, None]
    assert [f["properties"]["subtype"] for f in features] == [None, "school", None, None]


def test_blank_text_is_null_in_a_zipped_shapefile(tmp_path):
    path = tmp_path / "division.zip"
    write_layers(path, {"grids": grids()})
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "out")
    back = pyogrio.read_dataframe(tmp_path / "out" / "grids.shp")
    assert back["name"].iloc[0] == "和平路网格" and back["name"].iloc[1:].isna().all()
    assert back["subtype"].iloc[1] == "school" and back["subtype"].drop(index=1).isna().all()


def test_only_blank_text_changes(tmp_path):
    # Text with content keeps its spaces (a tab alone is blank too); numbers are left alone.
    frame = grids().assign(name=[" 东 ", None, "", "\t"], households=[0, 0, 5, 7])
    path = tmp_path / "division.gpkg"
    write_layers(path, {"grids": frame})
    back = pyogrio.read_dataframe(path, layer="grids")
    assert back["name"].iloc[0] == " 东 " and back["name"].iloc[1:].isna().all()
    assert back["households"].tolist() == [0, 0, 5, 7]


@pytest.mark.parametrize(("crs", "declared"), [("EPSG:4326", None), ("OGC:CRS84", None),
                                              ("EPSG:4490", "urn:ogc:def:crs:EPSG::4490")])
def test_geojson_states_its_crs_only_at_the_top(tmp_path, crs, declared):
    path = tmp_path / "division.geojson"
    write_layers(path, {"grids": grids(crs)})
    document = json.loads(path.read_text(encoding="utf-8"))
    assert (document.get("crs") or {}).get("properties", {}).get("name") == declared
    assert all("crs" not in f["geometry"] for f in document["features"])
    corners = pd.DataFrame([xy for f in document["features"] for xy in f["geometry"]["coordinates"][0]])
    assert corners[0].between(119, 121).all() and corners[1].between(31, 32).all(), "longitude first"
    assert (corners.round(7) == corners).all().all(), "degrees are written to 7 decimals (1 cm)"
