"""The one parameter parser and the one JSON encoding (reproducers from the hardening and journey issues)."""

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from gis.errors import InputError
from server.api import params
from server.encoding import to_json


def test_nan_and_missing_values_become_null_and_json_stays_strict():
    names = pd.Series(["和平路网格", None], dtype="string")  # the dtype that turned None into NaN
    body = {"name": names.iloc[1], "nan": float("nan"), "nat": pd.NaT, "count": np.int64(7),
            "share": np.float32(0.5), "when": date(2026, 10, 8), "list": np.array([1, 2])}
    text = to_json(body)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")) == {
        "name": None, "nan": None, "nat": None, "count": 7, "share": 0.5, "when": "2026-10-08", "list": [1, 2]}
    assert "和平路" in to_json({"n": "和平路"})  # Chinese stays readable


@pytest.mark.parametrize("value", ["2147483648", 2**31, "99999999999999999999", -1])
def test_integers_out_of_range_name_the_field(value):
    with pytest.raises(InputError) as err:
        params.integer(value, "offset")
    assert err.value.field == "offset"


@pytest.mark.parametrize("value", ["1.5", True, "abc", 1.5, [1]])
def test_non_integers_are_refused(value):
    with pytest.raises(InputError):
        params.integer(value, "grid")


def test_text_refuses_nul_and_overlong_and_trims():
    with pytest.raises(InputError, match="控制字符"):
        params.text("a\x00b", "description", max_length=100)
    with pytest.raises(InputError, match="最多 24"):
        params.text("x" * 25, "subtype", max_length=24)
    assert params.text("  网格长  ", "role", max_length=10) == "网格长"
    assert params.text("", "note", max_length=10) is None
    with pytest.raises(InputError, match="不能为空"):
        params.text(" ", "name", max_length=10, required=True)


def test_column_text_takes_the_length_from_the_model():
    from server.store import models as m

    length = m.Grid.__table__.c.subtype.type.length
    assert params.column_text("x" * length, "subtype", m.Grid.__table__.c.subtype) == "x" * length
    with pytest.raises(InputError):
        params.column_text("x" * (length + 1), "subtype", m.Grid.__table__.c.subtype)


@pytest.mark.parametrize(("value", "crs"), [
    (None, "CRS84"), ("", "CRS84"), ("crs84", "CRS84"), ("OGC:CRS84", "CRS84"), ("wgs84", "CRS84"),
    ("EPSG:4326", "CRS84"), ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "CRS84"),
    ("EPSG:4490", "EPSG:4490"), (" epsg:4490 ", "EPSG:4490"), ("CGCS2000", "EPSG:4490"),
    ("urn:ogc:def:crs:EPSG::4490", "EPSG:4490"), ("http://www.opengis.net/def/crs/EPSG/0/4490", "EPSG:4490"),
])
def test_export_crs_reads_each_spelling(value, crs):
    assert params.export_crs(value) == crs


@pytest.mark.parametrize("value", ["EPSG:3857", "gcj02", "bd09", "4490", "EPSG:44900", 4490, ["EPSG:4490"]])
def test_an_unknown_export_crs_names_the_field_and_what_is_supported(value):
    with pytest.raises(InputError) as caught:
        params.export_crs(value)
    assert caught.value.field == "crs" and "不支持的坐标系" in str(caught.value) and "EPSG:4490" in str(caught.value)


def test_dates_bbox_limit():
    assert params.calendar_date("2026-10-01") == date(2026, 10, 1)
    with pytest.raises(InputError):
        params.calendar_date("2026-02-30")
    assert params.bbox("118,31,119,32") == (118.0, 31.0, 119.0, 32.0)
    with pytest.raises(InputError):
        params.bbox("118,31,nan,32")
    assert params.limit("5000", cap=1000) == 1000
    assert params.limit(None, cap=1000, default=10) == 10


def test_numbers_are_finite_and_in_range_naming_the_field():
    assert params.number("120.5", "lon", minimum=-180, maximum=180) == 120.5
    assert params.number(None, "lon", minimum=-180, maximum=180) is None
    for bad in ("nan", "inf", 500, True, "east", [1]):
        with pytest.raises(InputError) as err:
            params.number(bad, "lon", minimum=-180, maximum=180)
        assert err.value.field == "lon"
    with pytest.raises(InputError, match="greater than 0"):
        params.number(0, "time_limit", minimum=0, maximum=10, exclusive_minimum=True)
    with pytest.raises(InputError, match="required"):
        params.number("", "lat", minimum=-90, maximum=90, required=True)
