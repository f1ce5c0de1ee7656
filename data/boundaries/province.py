"""A seeded multi-county area to measure province-scale work on: ``--counties N`` demo counties in one city.

Each county is the demo generator's county (:mod:`generate`) with its own seed, so the counties share
the demo's kinds of towns and villages but not their layouts. County ``k`` (1-based) gets the 12-digit
codes ``3204kk…`` under the city 320400000000 and the province 320000000000, its own ids, and its own
place: counties are laid out west to east across 117.5°E-120.5°E, so the area spans the 3-degree
Gauss-Krüger zones of 117°E and 120°E (a division must compute each community in its own zone).

Usage::

    python data/boundaries/province.py --counties 25 [--seed 2026] [--scale 1.0] --out var/province

About 41,000 households per county at scale 1: 25 counties ≈ 1 million households.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import COUNTY_CODE, generate_county, summary, write_county  # noqa: E402

PROVINCE_CODE, PROVINCE_NAME = "320000000000", "示范省"
CITY_CODE, CITY_NAME = "320400000000", "示范市"
PER_ROW, STEP_LON, STEP_LAT, WEST = 10, 0.3, 0.06, 117.5
DIGITS = "零一二三四五六七八九"


def county_code(k: int) -> str:
    """The 6-digit prefix of county ``k`` (1-based): 3204kk."""
    if not 1 <= k <= 99:
        raise ValueError("between 1 and 99 counties fit one city's codes")
    return f"{CITY_CODE[:4]}{k:02d}"


def county_name(k: int) -> str:
    """示范一县, 示范十二县, …"""
    tens, ones = divmod(k, 10)
    number = (DIGITS[tens] if tens > 1 else "") + ("十" if tens else "") + (DIGITS[ones] if ones else "")
    return f"示范{number}县"


def _recode(value: object, prefix: str) -> object:
    if isinstance(value, str) and value.startswith(COUNTY_CODE[:6]):
        return prefix + value[6:]
    return value


def _move(frame: pd.DataFrame, dx: float, dy: float) -> pd.DataFrame:
    if isinstance(frame, gpd.GeoDataFrame):
        frame = frame.copy()
        frame["geometry"] = shapely.transform(frame.geometry.to_numpy(), lambda xy: xy + (dx, dy))
        return frame
    return frame.assign(lon=frame["lon"] + dx, lat=frame["lat"] + dy)


def one_county(k: int, seed: int, scale: float) -> dict[str, pd.DataFrame]:
    """County ``k``: generated with ``seed + k``, moved to its place, with its own codes and ids."""
    layers = generate_county(seed + k, scale)
    prefix, tag = county_code(k), f"C{k:02d}-"
    dx = WEST - 119.98 + STEP_LON * ((k - 1) % PER_ROW)
    dy = STEP_LAT * ((k - 1) // PER_ROW)
    out = {}
    for name, frame in layers.items():
        frame = _move(frame, dx, dy)
        for column in ("code", "parent_code", "community_code"):
            if column in frame.columns:
                frame[column] = frame[column].map(lambda v: _recode(v, prefix))
        for column in ("id", "building_id", "compound"):
            if column in frame.columns:  # ids are upsert keys: unique across the area
                frame[column] = frame[column].map(lambda v: tag + v if isinstance(v, str) and v else v)
        out[name] = frame
    areas = out["areas"]
    county = areas["level"] == "county"
    areas.loc[county, "name"] = county_name(k)
    areas.loc[county, "parent_code"] = CITY_CODE
    if "district" in out["addresses"].columns:
        out["addresses"]["district"] = county_name(k)
    return out


def generate_area(counties: int, seed: int = 2026, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """``counties`` demo counties in one city and province; layers as :func:`generate.generate_county`."""
    parts = [one_county(k, seed, scale) for k in range(1, counties + 1)]
    layers = {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}
    counties_outline = shapely.union_all(layers["areas"].loc[layers["areas"]["level"] == "county", "geometry"])
    top = gpd.GeoDataFrame(
        [dict(code=PROVINCE_CODE, name=PROVINCE_NAME, level="province", parent_code=None, kind=None),
         dict(code=CITY_CODE, name=CITY_NAME, level="city", parent_code=PROVINCE_CODE, kind=None)],
        geometry=[counties_outline.convex_hull, counties_outline.convex_hull], crs=layers["areas"].crs)
    layers["areas"] = gpd.GeoDataFrame(pd.concat([top, layers["areas"]], ignore_index=True),
                                       crs=layers["areas"].crs)
    for name, frame in layers.items():
        if name != "addresses":
            layers[name] = gpd.GeoDataFrame(frame, geometry="geometry", crs=parts[0][name].crs)
    return layers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, required=True)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    layers = generate_area(args.counties, args.seed, args.scale)
    write_county(layers, args.out)
    table = summary(layers)
    print(f"{args.counties} counties, {len(table)} communities, {table['households'].sum()} households, "
          f"{len(layers['buildings'])} buildings in {time.perf_counter() - started:.0f} s → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
