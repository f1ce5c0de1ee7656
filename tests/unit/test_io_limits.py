"""gis.io before it reads a feature: zip bombs, feature caps, and the text encoding of Shapefiles and GeoJSON."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely

from gis.errors import InputError
from gis.io import ImportLimits, LimitExceeded, read_layer, shapefile_encoding

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bombs import many_members, point_shapefile_bomb, zeros_bomb  # noqa: E402

NAMES = ["第0网格", "第1网格"]


def zipped_sites(tmp_path: Path, encoding: str, cpg: str | None) -> Path:
    frame = gpd.GeoDataFrame({"kind": ["school", "park"], "name": NAMES},
                             geometry=[shapely.box(120, 31.7, 120.001, 31.701), shapely.box(120.002, 31.7, 120.003,
                                                                                            31.701)], crs=4490)
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "sites.shp", encoding=encoding)
    (folder / "sites.cpg").unlink(missing_ok=True)
    if cpg is not None:
        (folder / "sites.cpg").write_text(cpg)
    path = tmp_path / "sites.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in folder.iterdir():
            archive.write(member, member.name)
    return path


@pytest.mark.parametrize(("encoding", "cpg", "used", "note"), [
    ("UTF-8", "UTF-8", "UTF-8", None),
    ("UTF-8", None, "UTF-8", None),
    ("GBK", "GBK", "GBK", None),
    ("GBK", "936", "GBK", None),
    # The two that failed: a .cpg that lies (UnicodeDecodeError), and none at all (garbled µÚ0Íø¸ñ).
    ("GBK", "UTF-8", "GB18030", "the .cpg says 'UTF-8', which the text is not: read as GB18030"),
    ("GBK", None, "GB18030", "no .cpg and the text is not UTF-8: read as GB18030"),
])
def test_shapefile_text_is_read_in_the_encoding_it_is_in(tmp_path, encoding, cpg, used, note):
    result = read_layer(zipped_sites(tmp_path, encoding, cpg), "sites")
    assert list(result.frame["name"]) == NAMES
    assert (result.encoding.name, result.encoding.note) == (used, note)


def test_bytes_in_no_known_encoding_are_refused_naming_feature_and_field(tmp_path):
    path = zipped_sites(tmp_path, "GBK", None)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    dbf = members["sites.dbf"]
    at = dbf.rindex("第".encode("gbk"))  # the second feature's name
    members["sites.dbf"] = dbf[:at] + b"\xff\xfe" + dbf[at + 2:]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(InputError) as caught:
        read_layer(path, "sites")
    error = caught.value
    assert (error.source, error.row, error.field) == ("sites.zip", 2, "name")
    assert "ff fe" in error.message and "neither UTF-8 nor GB18030" in error.message


def test_cpg_names_are_understood():
    header = bytes([3, 126, 1, 1]) + (0).to_bytes(4, "little") + (65).to_bytes(2, "little") + (1).to_bytes(2, "little")
    dbf = header + bytes(20) + b"name".ljust(11, b"\x00") + b"C" + bytes(4) + bytes([10, 0]) + bytes(14) + b"\x0d"
    for cpg, name in (("UTF-8", "UTF-8"), ("65001", "UTF-8"), ("ANSI 936", "GBK"), ("GB18030", "GB18030"),
                      ("cp1252", "CP1252")):
        assert shapefile_encoding(dbf, cpg, "x.zip").name == name


def test_a_gbk_geojson_is_read_as_gb18030(tmp_path):
    path = tmp_path / "sites.geojson"
    path.write_bytes(('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"school",'
                      '"name":"第0网格"},"geometry":{"type":"Polygon","coordinates":[[[120,31.7],[120.001,31.7],'
                      '[120.001,31.701],[120,31.7]]]}}]}').encode("gbk"))
    result = read_layer(path, "sites", crs="EPSG:4490")
    assert list(result.frame["name"]) == ["第0网格"] and result.encoding.name == "GB18030"


@pytest.mark.parametrize(("make", "limits", "limit"), [
    (lambda p: point_shapefile_bomb(p, 3_000_000), ImportLimits(max_bytes=64 * 2**20), "bytes"),
    (lambda p: point_shapefile_bomb(p, 30_000), ImportLimits(max_features=20_000), "features"),
    (lambda p: zeros_bomb(p, 100), ImportLimits(max_bytes=64 * 2**20), "bytes"),
    (lambda p: many_members(p, 300), ImportLimits(), "members"),
])
def test_zip_bombs_are_refused_before_reading(tmp_path, make, limits, limit):
    with pytest.raises(LimitExceeded) as caught:
        read_layer(make(tmp_path / "bomb.zip"), "addresses", limits=limits)
    assert caught.value.limit == limit and caught.value.source == "bomb.zip"


def test_a_member_inflating_past_its_declared_size_is_refused(tmp_path):
    path = zeros_bomb(tmp_path / "liar.zip", 2)
    data = bytearray(path.read_bytes())
    # Lower the declared size in the central directory: the inflated bytes then fail the CRC check.
    central = data.rindex(b"PK\x01\x02")
    data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="cannot be read"):
        read_layer(path, "addresses")


def test_csv_rows_are_capped(tmp_path):
    path = tmp_path / "addresses.csv"
    path.write_text("address,lon,lat\n" + "".join(f"路{i}号,120,31.7\n" for i in range(11)), encoding="utf-8")
    with pytest.raises(LimitExceeded, match="11 features; at most 10"):
        read_layer(path, "addresses", crs="EPSG:4490", limits=ImportLimits(max_features=10))
