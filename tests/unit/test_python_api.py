"""The Python API for analysts (``wangge.divide``): frames in any CRS, each community in its own zone."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import geopandas as gpd
import pytest
import shapely

import wangge
from gis.pipeline import divide_file, divide_frames


def community(code: str, x0: float, y0: float, crs: str, households: int = 24):
    """The 600×400 m test community of test_pipeline (six street blocks of 16 buildings), at (x0, y0) in ``crs``."""
    area = gpd.GeoDataFrame({"code": [code], "kind": ["urban"]}, geometry=[shapely.box(x0, y0, x0 + 600, y0 + 400)],
                            crs=crs)
    roads = [shapely.LineString([(x0 + 200, y0 - 5), (x0 + 200, y0 + 405)]),
             shapely.LineString([(x0 + 400, y0 - 5), (x0 + 400, y0 + 405)]),
             shapely.LineString([(x0 - 5, y0 + 200), (x0 + 605, y0 + 200)])]
    barriers = gpd.GeoDataFrame({"kind": ["road"] * 3}, geometry=roads, crs=crs)
    boxes = [shapely.box(x0 + 15 + i * 50, y0 + 17 + j * 50, x0 + 35 + i * 50, y0 + 33 + j * 50)
             for i in range(12) for j in range(8)]
    buildings = gpd.GeoDataFrame({"households": [households] * len(boxes)}, geometry=boxes, crs=crs)
    return area, barriers, buildings


def test_divide_returns_frames_in_the_input_crs():
    area, barriers, buildings = (f.to_crs(4490) for f in community("320499001001", 500_000, 3_500_000, "EPSG:4549"))
    result = wangge.divide(buildings, barriers, area, band=(300, 500))
    assert isinstance(result, wangge.Result)
    for frame in (result.grids, result.micro_grids, result.atoms):
        assert frame.crs.to_epsg() == 4490
    assert sorted(result.grids["code"]) == [f"320499001001{i:03d}" for i in range(1, 7)]
    assert set(result.grids["households"]) == {384} and result.grids["in_band"].all()
    assert result.micro_grids["households"].sum() == 2304
    assert "summary" in set(result.report["code"])
    # The same engine as divide-file: the same grids.
    assert wangge.__version__ and wangge.divide.__module__ == "wangge"


def test_same_grids_as_divide_file(tmp_path):
    frames = [f.to_crs(4490) for f in community("320499001001", 500_000, 3_500_000, "EPSG:4549")]
    path = tmp_path / "in.gpkg"
    for name, frame in zip(("area", "barriers", "buildings"), frames, strict=True):
        frame.to_file(path, layer=name)
    from_file = divide_file(path, tmp_path / "out.gpkg")
    from_api = wangge.divide(frames[2], frames[1], frames[0])
    assert sorted(from_api.grids["code"]) == sorted(from_file[0].grid_codes)


def test_each_community_is_computed_in_its_own_gauss_kruger_zone():
    # 118.5°E is the boundary between the 3-degree zones of 117°E (EPSG:4548) and 120°E (EPSG:4549).
    west_x = gpd.GeoSeries([shapely.Point(118.45, 32.0)], crs=4490).to_crs(4548).iloc[0]
    east_x = gpd.GeoSeries([shapely.Point(118.55, 32.0)], crs=4490).to_crs(4549).iloc[0]
    west = community("320499001001", west_x.x, west_x.y, "EPSG:4548")
    east = community("320499001002", east_x.x, east_x.y, "EPSG:4549")
    area, barriers, buildings = (gpd.GeoDataFrame(gpd.pd.concat([a.to_crs(4490), b.to_crs(4490)], ignore_index=True),
                                                  crs=4490) for a, b in zip(west, east, strict=True))
    results = divide_frames(area, buildings, barriers)
    assert [r.crs.to_epsg() for r in results] == [4548, 4549]
    for r in results:  # drawn square in its own zone, so the blocks and the streets match exactly
        assert len(r.division.grids) == 6 and r.summary["share_in_band"] == pytest.approx(1.0)
    grids = wangge.divide(buildings, barriers, area).grids
    assert grids.crs.to_epsg() == 4490 and len(grids) == 12
    assert grids.groupby("community_code")["area_m2"].sum().round(-2).tolist() == [240_000, 240_000]


def test_bad_input_names_the_frame_and_field():
    area, barriers, buildings = community("320499001001", 500_000, 3_500_000, "EPSG:4549")
    with pytest.raises(wangge.InputError, match="buildings declares no CRS"):
        wangge.divide(buildings.set_crs(None, allow_override=True), barriers, area)
    with pytest.raises(wangge.InputError, match="households"):
        wangge.divide(buildings.drop(columns="households"), barriers, area)
    with pytest.raises(wangge.InputError, match="band"):
        wangge.divide(buildings, barriers, area, band=(500,))
    with pytest.raises(wangge.InputError, match="GeoDataFrame"):
        wangge.divide(buildings, barriers, "area.gpkg")


@pytest.mark.slow
def test_the_wheel_builds_with_the_command_the_api_and_the_assets(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), "."], check=True, cwd=wangge.__file__.rsplit("/wangge/", 1)[0])
    wheel = next(tmp_path.glob("wangge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "wangge/__init__.py" in names and "gis/pipeline.py" in names
    assert "server/web/templates/base.html" in names and "server/web/static/js/wangge.js" in names
    assert any(n.startswith("server/store/migrations/versions/0001") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "wangge = server.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
