"""File mode end to end: ``wangge divide-file IN.gpkg OUT.gpkg`` with no database, and its bad input."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import geopandas as gpd
import pyogrio
import pytest
import shapely

from gis.errors import InputError
from gis.pipeline import divide_file
from server.cli import main

X0, Y0 = 500_000, 3_500_000  # metres in EPSG:4549 (CGCS2000 GK zone, 120°E)


def write_input(path, *, households=24, drop_layer=None, area_geom=None):
    """A 600×400 m urban community cut by two streets and an avenue into six 200×200 m blocks of
    16 buildings of ``households`` each, stored in lon/lat (EPSG:4490)."""
    crs = "EPSG:4549"
    area = gpd.GeoDataFrame({"code": ["320499001001"], "kind": ["urban"]},
                            geometry=[area_geom if area_geom is not None else shapely.box(X0, Y0, X0 + 600, Y0 + 400)],
                            crs=crs)
    roads = [shapely.LineString([(X0 + 200, Y0 - 5), (X0 + 200, Y0 + 405)]),
             shapely.LineString([(X0 + 400, Y0 - 5), (X0 + 400, Y0 + 405)]),
             shapely.LineString([(X0 - 5, Y0 + 200), (X0 + 605, Y0 + 200)])]
    barriers = gpd.GeoDataFrame({"kind": ["road"] * 3}, geometry=roads, crs=crs)
    boxes = [shapely.box(X0 + 25 + i * 50 - 10, Y0 + 25 + j * 50 - 8, X0 + 25 + i * 50 + 10, Y0 + 25 + j * 50 + 8)
             for i in range(12) for j in range(8)]
    buildings = gpd.GeoDataFrame({"households": [households] * len(boxes)}, geometry=boxes, crs=crs)
    layers = {"area": area, "buildings": buildings, "barriers": barriers}
    for name, frame in layers.items():
        if name != drop_layer:
            frame.to_crs(4490).to_file(path, layer=name)
    return path


def test_divide_file_writes_all_layers_in_the_input_crs(tmp_path):
    out = tmp_path / "out.gpkg"
    results = divide_file(write_input(tmp_path / "in.gpkg"), out)
    assert {name for name, _ in pyogrio.list_layers(out)} == {"grids", "micro_grids", "atoms", "report"}
    grids = gpd.read_file(out, layer="grids")
    assert grids.crs.to_epsg() == 4490
    # 96 buildings × 24 = 2,304 households → 6 grids of 384, one per street block, all on roads.
    assert len(grids) == 6
    assert set(grids["households"]) == {384}
    assert grids["in_band"].all() and grids["contiguous"].all()
    assert grids["barrier_share"].min() == pytest.approx(1.0)
    assert sorted(grids["code"]) == [f"320499001001{i:03d}" for i in range(1, 7)]
    # Reading order: the first grid is the north-west block.
    first = grids.loc[grids["code"] == "320499001001001"].to_crs(4549).geometry.iloc[0].centroid
    assert first.x < X0 + 200 and first.y > Y0 + 200
    micro = gpd.read_file(out, layer="micro_grids")
    assert micro["households"].sum() == 2304
    assert micro["households"].between(30, 100).all()
    assert all(code[:15] in set(grids["code"]) and len(code) == 17 for code in micro["code"])
    atoms = gpd.read_file(out, layer="atoms")
    assert atoms["grid_code"].notna().all()
    report = gpd.read_file(out, layer="report")
    assert "summary" in set(report["code"])
    assert results[0].summary["gap_area_m2"] == 0 and results[0].summary["overlap_area_m2"] == 0


def test_divide_file_with_a_band_and_a_seed_is_deterministic(tmp_path):
    source = write_input(tmp_path / "in.gpkg")
    divide_file(source, tmp_path / "a.gpkg", seed=3)
    divide_file(source, tmp_path / "b.gpkg", seed=3)
    a, b = (gpd.read_file(tmp_path / name, layer="atoms") for name in ("a.gpkg", "b.gpkg"))
    assert list(a["grid_code"]) == list(b["grid_code"])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"drop_layer": "barriers"}, "missing layer 'barriers'"),
    ({"households": "many"}, "field 'households'"),
    ({"area_geom": shapely.Polygon()}, "area"),
])
def test_bad_input_names_the_problem_and_writes_nothing(tmp_path, kwargs, message):
    out = tmp_path / "out.gpkg"
    with pytest.raises(InputError, match=message):
        divide_file(write_input(tmp_path / "in.gpkg", **kwargs), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "in.gpkg"]


def test_cli_divide_file(tmp_path, runner):
    source = write_input(tmp_path / "in.gpkg")
    result = runner.invoke(main, ["divide-file", str(source), str(tmp_path / "out.gpkg"), "--band", "300:500"])
    assert result.exit_code == 0, result.output
    assert "320499001001: 6 grids, 2304 households, 100% in band" in result.output
    # The analyst's GDAL 3.6 (QGIS of its age) opens the result without "may only be partially supported".
    shown = subprocess.run([shutil.which("ogrinfo") or "ogrinfo", "-al", "-so", str(tmp_path / "out.gpkg")],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "Warning" not in shown.stderr and "Layer name: report" in shown.stdout, shown
    with sqlite3.connect(tmp_path / "out.gpkg") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10300
    result = runner.invoke(main, ["divide-file", str(source), str(tmp_path / "x.gpkg"), "--band", "500:300"])
    assert result.exit_code == 2
    assert "band" in result.output
    result = runner.invoke(main, ["divide-file", str(tmp_path / "missing.gpkg"), str(tmp_path / "y.gpkg")])
    assert result.exit_code == 1 and "file not found" in result.output and "nothing was written" in result.output


def test_divide_file_reads_an_optional_sites_layer(tmp_path):
    source = write_input(tmp_path / "in.gpkg")
    school = shapely.box(X0 + 10, Y0 + 10, X0 + 90, Y0 + 90)  # holds 4 of the 96 buildings
    gpd.GeoDataFrame({"kind": ["school"], "id": ["s1"]}, geometry=[school], crs="EPSG:4549").to_crs(4490).to_file(
        source, layer="sites")
    out = tmp_path / "out.gpkg"
    divide_file(source, out)
    grids = gpd.read_file(out, layer="grids")
    exclusive = grids[grids["kind"] == "exclusive"]
    assert list(exclusive["code"]) == ["320499001001901"]
    assert list(exclusive["subtype"]) == ["school"]
    assert grids["households"].sum() == 2304


def test_a_sites_layer_without_kind_is_refused(tmp_path):
    source = write_input(tmp_path / "in.gpkg")
    gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.box(X0, Y0, X0 + 50, Y0 + 50)], crs="EPSG:4549").to_file(
        source, layer="sites")
    with pytest.raises(InputError, match="layer 'sites' needs a 'kind' column"):
        divide_file(source, tmp_path / "out.gpkg")
    assert not (tmp_path / "out.gpkg").exists()


def test_cli_divide_file_json(tmp_path, runner):
    import json

    source = write_input(tmp_path / "in.gpkg")
    result = runner.invoke(main, ["divide-file", str(source), str(tmp_path / "out.gpkg"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (community,) = report["communities"]
    assert report["ok"] and community["community_code"] == "320499001001"
    assert community["summary"]["households"] == 2304 and community["summary"]["n_grids"] > 0
    assert result.stderr == ""


def test_help_and_divide_file_start_without_the_database_or_web_layers(tmp_path):
    """`wangge --help` and `wangge divide-file` must not pay for SQLAlchemy, Flask, the user commands, Dask
    (a cluster is for --workers 2 and more) or scipy (a fifth of a second to import; the engine's connected
    components are numpy's)."""
    import subprocess
    import sys

    source = write_input(tmp_path / "in.gpkg")
    probe = ("import sys; from server.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "top = {m.split('.')[0] for m in sys.modules}\n"
             "heavy = sorted(top & {'sqlalchemy', 'flask', 'geoalchemy2', 'psycopg', 'dask', 'distributed',"
             " 'scipy'})"
             " + sorted(m for m in sys.modules if m in ('server.cli.users', 'server.cli.events', "
             "'server.cli.lookup'))\n"
             "print('HEAVY', heavy)\n")
    for args in (["--help"], ["divide-file", str(source), str(tmp_path / "out.gpkg")]):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True)
        assert "HEAVY []" in done.stdout, (args, done.stdout[-500:])
    assert (tmp_path / "out.gpkg").exists()


def test_micro_grids_have_the_shapes_a_dissolve_of_their_parcels_gives(tmp_path):
    """The micro-grids are a coverage union of their parcels: the same shapes as geopandas' dissolve."""
    from benchmarks.cases import DEMO_PATH, read_demo
    from benchmarks.engine_speed import _write_demo_community

    source = tmp_path / "community.gpkg"
    _write_demo_community(read_demo(DEMO_PATH), "320499001001", source)
    (result,) = divide_file(source, tmp_path / "out.gpkg")
    parcels = result.atoms.parcels.assign(micro=result.atoms.parcels["parcel_id"].map(result.micro_labels))
    expected = parcels.dissolve(by="micro").geometry
    got = result.micro_grids.set_index("label").geometry.reindex(expected.index)
    assert len(got) == len(expected) > 20 and got.notna().all()
    assert got.is_valid.all()
    assert (got.area - expected.area).abs().max() < 1e-3
    assert got.symmetric_difference(expected, align=False).area.max() < 1e-3
