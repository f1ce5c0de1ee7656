"""Bounded uploads through the division import API: zip bombs, too many features, a time budget, encodings."""

from __future__ import annotations

import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from sqlalchemy import text

from server import engine_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bombs import many_members, point_shapefile_bomb, zeros_bomb  # noqa: E402

pytestmark = pytest.mark.db

COMMUNITY = "320499001002"


@pytest.fixture
def post_drawing(editor_app, editor_tokens):
    """POST a file to a fresh draft's import: returns (response, division id, revision before)."""
    client = editor_app.test_client()
    headers = {"Authorization": f"Bearer {editor_tokens['editor']}"}
    with engine_of(editor_app).connect() as conn:
        first = conn.execute(text("SELECT id FROM division WHERE community_code = :c AND version = 1"),
                             {"c": COMMUNITY}).scalar_one()
    draft = client.post(f"/api/v1/communities/{COMMUNITY}/divisions", json={"from": first}, headers=headers).json
    division_id = draft["division"]["id"]

    def post(path: Path, **form):
        with path.open("rb") as handle:
            return client.post(f"/api/v1/divisions/{division_id}/import", headers=headers,
                               data={"file": (handle, path.name), "revision": "1", **form},
                               content_type="multipart/form-data")

    post.division_id = division_id
    post.client, post.headers = client, headers
    return post


def revision_of(app, division_id: int) -> int:
    with engine_of(app).connect() as conn:
        return conn.execute(text("SELECT revision FROM division WHERE id = :d"), {"d": division_id}).scalar_one()


def test_a_zip_bomb_of_three_million_features_is_refused_before_it_is_inflated(post_drawing, editor_app, tmp_path):
    bomb = point_shapefile_bomb(tmp_path / "bomb.zip", 3_000_000)
    started = time.perf_counter()
    response = post_drawing(bomb)
    seconds = time.perf_counter() - started
    assert response.status_code == 413, response.json
    error = response.json["error"]
    assert error["code"] == "upload_too_large" and error["details"]["limit"] == "bytes"
    assert "uncompressed" in error["message"] and "bomb.zip" not in error["message"].split(" / ")[0]
    assert seconds < 10
    assert revision_of(editor_app, post_drawing.division_id) == 1


def test_too_many_features_are_refused_by_count(post_drawing, editor_app, tmp_path):
    response = post_drawing(point_shapefile_bomb(tmp_path / "many.zip", 300_000))
    assert response.status_code == 413
    assert response.json["error"]["details"]["limit"] == "features"
    assert "300,000 features; at most 20,000" in response.json["error"]["message"]
    assert revision_of(editor_app, post_drawing.division_id) == 1


@pytest.mark.parametrize(("make", "limit"), [
    (lambda path: zeros_bomb(path, 200), "bytes"),
    (lambda path: many_members(path, 1000), "members"),
])
def test_inflated_size_and_member_count_are_checked(post_drawing, tmp_path, make, limit):
    response = post_drawing(make(tmp_path / "drawing.zip"))
    assert response.status_code == 413 and response.json["error"]["details"]["limit"] == limit


def test_an_import_over_its_time_budget_stores_nothing(post_drawing, editor_app, tmp_path, monkeypatch):
    drawing = exported_drawing(post_drawing, tmp_path)
    monkeypatch.setitem(editor_app.config, "UPLOAD_TIME_LIMIT", 0.001)
    response = post_drawing(drawing, key="name")
    assert response.status_code == 413, response.json
    assert response.json["error"]["details"]["limit"] == "time"
    assert revision_of(editor_app, post_drawing.division_id) == 1


def exported_drawing(post_drawing, tmp_path: Path, encoding: str = "UTF-8", cpg: str | None = "UTF-8") -> Path:
    """The draft's own grids as a zipped Shapefile with Chinese names in ``encoding`` and the given .cpg."""
    exported = post_drawing.client.get(f"/api/v1/divisions/{post_drawing.division_id}/export?format=geojson",
                                       headers=post_drawing.headers).json
    drawing = gpd.GeoDataFrame.from_features(exported["features"], crs="EPSG:4490")
    drawing["name"] = [f"第{label}网格" for label in drawing["label"]]
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(drawing[["name", "geometry"]], folder / "grids.shp", encoding=encoding)
    (folder / "grids.cpg").unlink(missing_ok=True)
    if cpg is not None:
        (folder / "grids.cpg").write_text(cpg)
    path = tmp_path / "grids.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for member in folder.iterdir():
            archive.write(member, member.name)
    return path


@pytest.mark.parametrize("cpg", ["UTF-8", None])
def test_gbk_names_are_read_right_whatever_the_cpg_says(post_drawing, editor_app, tmp_path, cpg):
    response = post_drawing(exported_drawing(post_drawing, tmp_path, encoding="GBK", cpg=cpg), key="name")
    assert response.status_code == 200, response.json
    with engine_of(editor_app).connect() as conn:
        names = set(conn.execute(text("SELECT name FROM grid WHERE division_id = :d"),
                                 {"d": post_drawing.division_id}).scalars())
    assert names and all(name.startswith("第") and name.endswith("网格") for name in names), names


def test_names_in_no_known_encoding_are_refused_by_name(post_drawing, editor_app, tmp_path):
    path = exported_drawing(post_drawing, tmp_path, encoding="GBK", cpg=None)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    dbf = members["grids.dbf"]
    first_name = dbf.index("第".encode("gbk"))
    members["grids.dbf"] = dbf[:first_name] + b"\xff\xfe" + dbf[first_name + 2:]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    response = post_drawing(path, key="name")
    assert response.status_code == 400, response.json
    message = response.json["error"]["message"]
    assert "feature 1, field 'name'" in message and "ff fe" in message and "neither UTF-8 nor GB18030" in message
    assert revision_of(editor_app, post_drawing.division_id) == 1
