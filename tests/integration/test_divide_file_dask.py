"""``wangge divide-file --workers N / --scheduler``: the communities of a file as Dask tasks on a real
LocalCluster give what the in-process run gives, report a failed community the same way, and fail fast on
an unreachable scheduler. No database."""

from __future__ import annotations

import json
import time

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gis.pipeline import community_inputs
from server.cli import main

X0, Y0 = 500_000, 3_500_000  # metres in EPSG:4549 (CGCS2000 GK zone, 120°E)
CODES = ["320499001001", "320499001002", "320499001003"]


def write_communities(path, kinds=("urban", "urban", "urban")):
    """Three 600×400 m communities side by side (the test_pipeline community: six street blocks of 16
    buildings), with 24, 20 and 28 households per building so that their grids differ; in lon/lat."""
    crs = "EPSG:4549"
    areas, roads, boxes, households = [], [], [], []
    for n, per_building in enumerate((24, 20, 28)):
        x0 = X0 + n * 700
        areas.append(shapely.box(x0, Y0, x0 + 600, Y0 + 400))
        roads += [shapely.LineString([(x0 + 200, Y0 - 5), (x0 + 200, Y0 + 405)]),
                  shapely.LineString([(x0 + 400, Y0 - 5), (x0 + 400, Y0 + 405)]),
                  shapely.LineString([(x0 - 5, Y0 + 200), (x0 + 605, Y0 + 200)])]
        cells = [(i, j) for i in range(12) for j in range(8)]
        boxes += [shapely.box(x0 + 15 + i * 50, Y0 + 17 + j * 50, x0 + 35 + i * 50, Y0 + 33 + j * 50) for i, j in cells]
        households += [per_building] * len(cells)
    layers = {"area": gpd.GeoDataFrame({"code": CODES, "kind": list(kinds)}, geometry=areas, crs=crs),
              "buildings": gpd.GeoDataFrame({"households": households}, geometry=boxes, crs=crs),
              "barriers": gpd.GeoDataFrame({"kind": ["road"] * len(roads)}, geometry=roads, crs=crs)}
    for name, frame in layers.items():
        frame.to_crs(4490).to_file(path, layer=name)
    return path


def layer(path, name) -> pd.DataFrame:
    frame = gpd.read_file(path, layer=name)
    return pd.DataFrame(frame.drop(columns="geometry")).assign(wkb=frame.geometry.to_wkb(hex=True))


def test_workers_give_the_same_grids_layers_and_json_as_in_process(tmp_path, runner):
    source = write_communities(tmp_path / "in.gpkg")
    here = runner.invoke(main, ["divide-file", str(source), str(tmp_path / "here.gpkg"), "--json"])
    dask = runner.invoke(main, ["divide-file", str(source), str(tmp_path / "dask.gpkg"), "--json", "--workers", "2"])
    assert here.exit_code == 0 and dask.exit_code == 0, (here.output, dask.output)
    for name in ("grids", "micro_grids", "atoms", "report"):  # the same households, assignment and codes
        pd.testing.assert_frame_equal(layer(tmp_path / "here.gpkg", name), layer(tmp_path / "dask.gpkg", name))
    grids = gpd.read_file(tmp_path / "dask.gpkg", layer="grids")
    assert sorted(set(grids["community_code"])) == CODES and len(grids) == 18
    # The same JSON document: only the output path and the dashboard differ.
    a, b = json.loads(here.stdout), json.loads(dask.stdout)
    assert a["dashboard"] is None and b["dashboard"].startswith("http")
    assert {**a, "output": None, "dashboard": None} == {**b, "output": None, "dashboard": None}
    assert a["ok"] and a["failed"] == [] and [c["community_code"] for c in a["communities"]] == CODES


def test_a_failed_community_is_named_and_the_others_written_in_both_modes(tmp_path, runner):
    source = write_communities(tmp_path / "in.gpkg", kinds=("urban", "suburb", "urban"))
    outputs = {}
    for mode in (["--workers", "1"], ["--workers", "2"]):
        out = tmp_path / f"out{mode[-1]}.gpkg"
        result = runner.invoke(main, ["divide-file", str(source), str(out), *mode])
        assert result.exit_code == 1, result.output
        assert "failed 320499001002: field 'kind': community kind must be urban or rural, got 'suburb'" in result.stderr
        assert ("Dask dashboard: http" in result.stderr) == (mode[-1] == "2")
        assert result.stdout.splitlines()[-1] == f"wrote {out}"
        assert "Traceback" not in result.output
        outputs[mode[-1]] = result.stdout.replace(str(out), "OUT")
        assert sorted(set(gpd.read_file(out, layer="grids")["community_code"])) == [CODES[0], CODES[2]]
    assert outputs["1"] == outputs["2"]


def test_an_unreachable_scheduler_is_one_line_within_seconds_and_nothing_is_written(tmp_path, runner):
    source = write_communities(tmp_path / "in.gpkg")
    out = tmp_path / "out.gpkg"
    started = time.monotonic()
    result = runner.invoke(main, ["divide-file", str(source), str(out), "--scheduler", "tcp://127.0.0.1:9"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "tcp://127.0.0.1:9" in result.stderr and "nothing was written" in result.stderr
    assert not out.exists()


def test_help_names_workers_and_scheduler(runner):
    result = runner.invoke(main, ["divide-file", "-h"])
    assert result.exit_code == 0
    assert "--workers" in result.output and "--scheduler" in result.output
    assert runner.invoke(main, ["divide-file", "a.gpkg", "b.gpkg", "--workers", "0"]).exit_code == 2


def test_each_task_carries_only_its_own_communitys_rows(tmp_path):
    source = write_communities(tmp_path / "in.gpkg")
    area, buildings, barriers = (gpd.read_file(source, layer=name) for name in ("area", "buildings", "barriers"))
    items = community_inputs(area, buildings, barriers)
    assert [item.code for item in items] == CODES
    assert [len(item.buildings) for item in items] == [96, 96, 96]  # of 288 in the file
    assert [len(item.barriers) for item in items] == [3, 3, 3]
    for item in items:
        assert item.buildings.representative_point().within(item.outline.geometry.iloc[0]).all()
    assert {name for name, _ in pyogrio.list_layers(source)} == {"area", "buildings", "barriers"}


def test_when_every_community_fails_nothing_is_written(tmp_path, runner):
    source = write_communities(tmp_path / "in.gpkg", kinds=("suburb", "suburb", "suburb"))
    out = tmp_path / "out.gpkg"
    result = runner.invoke(main, ["divide-file", str(source), str(out), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert not report["ok"] and report["output"] is None and report["communities"] == []
    assert [f["community_code"] for f in report["failed"]] == CODES
    assert not out.exists()
    result = runner.invoke(main, ["divide-file", str(source), str(out)])
    assert result.exit_code == 1 and "nothing was written" in result.stderr and not out.exists()
