"""The one parser of request fields: path ids, query parameters and JSON body fields.

Every route and page reads its input through these functions, so one bad field always gets one
answer: :class:`gis.errors.InputError` naming the field, which the error handler turns into a 400
``invalid_input`` with ``details.field``. Messages are Chinese first, with the English after a slash,
because they are shown to users as they are.

Limits come from the store: integers must fit PostgreSQL's ``integer`` (ids, counts, revisions), and
text must fit its column (:func:`column_text` reads the length from the model, so the API and the
table cannot disagree).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from gis.errors import InputError

INT_MAX = 2**31 - 1  # PostgreSQL integer
_DIGITS = re.compile(r"[+-]?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# C0 control characters other than tab and newlines: a NUL cannot be stored by PostgreSQL at all, the
# others are never typed by a person and break exports.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _fail(field: str, zh: str, en: str) -> InputError:
    return InputError(f"{zh} / {en}", field=field)


def integer(value: Any, field: str, *, minimum: int = 0, maximum: int = INT_MAX,
            default: int | None = None) -> int | None:
    """An integer in ``[minimum, maximum]`` from a query string, a path or a JSON number.

    ``None`` or ``""`` gives ``default``. Booleans and fractions are refused (JSON ``true`` is not 1).
    """
    if value is None or value == "":
        return default
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise _fail(field, f"须为整数，收到 {value!r}", f"must be an integer; got {value!r}")
    if isinstance(value, str):
        if not _DIGITS.fullmatch(value.strip()):
            raise _fail(field, f"须为整数，收到 {value!r}", f"must be an integer; got {value!r}")
        value = int(value.strip())
    elif isinstance(value, int | float):
        value = int(value)
    else:
        raise _fail(field, f"须为整数，收到 {type(value).__name__}", f"must be an integer; got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise _fail(field, f"须在 {minimum} 到 {maximum} 之间，收到 {value}",
                    f"must be between {minimum} and {maximum}; got {value}")
    return value


def number(value: Any, field: str, *, minimum: float, maximum: float, required: bool = False,
           exclusive_minimum: bool = False) -> float | None:
    """A finite number in ``[minimum, maximum]`` (``(minimum, maximum]`` with ``exclusive_minimum``) from a
    query string or a JSON number; ``None``/``""`` gives ``None`` unless ``required``. Booleans are refused.
    """
    if value is None or value == "":
        if required:
            raise _fail(field, "不能为空", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(field, f"须为数字，收到 {value!r}", f"must be a number; got {value!r}")
    try:
        parsed = float(value)
    except ValueError:
        raise _fail(field, f"须为数字，收到 {value!r}", f"must be a number; got {value!r}") from None
    low_ok = parsed > minimum if exclusive_minimum else parsed >= minimum
    if not math.isfinite(parsed) or not low_ok or parsed > maximum:
        if exclusive_minimum:
            raise _fail(field, f"须大于 {minimum:g} 且不超过 {maximum:g}，收到 {value!r}",
                        f"must be a number greater than {minimum:g} and at most {maximum:g}; got {value!r}")
        raise _fail(field, f"须在 {minimum:g} 到 {maximum:g} 之间，收到 {value!r}",
                    f"must be a number between {minimum:g} and {maximum:g}; got {value!r}")
    return parsed


def identifier(value: Any, field: str) -> int:
    """A database id (1 … 2³¹−1); a number out of that range is a 400 naming the field, never a 500."""
    parsed = integer(value, field, minimum=1)
    if parsed is None:
        raise _fail(field, "不能为空", "is required")
    return parsed


def required_integer(value: Any, field: str, *, minimum: int = 0, maximum: int = INT_MAX) -> int:
    """An integer that must be given (a grid label, a revision)."""
    parsed = integer(value, field, minimum=minimum, maximum=maximum)
    if parsed is None:
        raise _fail(field, "不能为空", "is required")
    return parsed


def integers(values: Any, field: str, *, minimum: int = 0) -> list[int]:
    """A non-empty JSON list of integers (atom numbers, grid labels)."""
    if not isinstance(values, list) or not values:
        raise _fail(field, "须为非空的整数列表", "must be a non-empty list of integers")
    return [required_integer(v, f"{field}[{i}]", minimum=minimum) for i, v in enumerate(values)]


def identifiers(values: Any, field: str) -> list[int]:
    """A JSON list of ids."""
    if not isinstance(values, list):
        raise _fail(field, "须为编号列表", "must be a list of ids")
    return [identifier(v, f"{field}[{i}]") for i, v in enumerate(values)]


def text(value: Any, field: str, *, max_length: int, required: bool = False) -> str | None:
    """Trimmed text of at most ``max_length`` characters; empty is ``None`` unless ``required``.

    NUL and other control characters are refused: PostgreSQL cannot store a NUL, and none is typed by
    a person.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _fail(field, "须为文本", "must be text")
    value = value.strip()
    if _CONTROL.search(value):
        raise _fail(field, "含有不可见的控制字符", "contains control characters (such as NUL)")
    if len(value) > max_length:
        raise _fail(field, f"最多 {max_length} 个字符，收到 {len(value)} 个",
                    f"at most {max_length} characters; got {len(value)}")
    if not value:
        if required:
            raise _fail(field, "不能为空", "is required")
        return None
    return value


def column_text(value: Any, field: str, column: Any, *, required: bool = False) -> str | None:
    """Text checked against the length of the model ``column`` it will be stored in (one definition)."""
    length = getattr(column.type, "length", None) or 100_000
    return text(value, field, max_length=length, required=required)


def choice(value: Any, field: str, options: Iterable[str], *, default: str | None = None) -> str | None:
    """One of ``options``; ``None``/``""`` gives ``default``."""
    if value is None or value == "":
        return default
    options = list(options)
    if value not in options:
        raise _fail(field, f"须为 {'、'.join(options)} 之一，收到 {value!r}",
                    f"must be one of {', '.join(options)}; got {value!r}")
    return value


#: The CRSs a file can be exported in, each with the spellings accepted for it (compared without case).
#: CRS84 is WGS 84 longitude/latitude, the only CRS of RFC 7946 GeoJSON; EPSG:4490 is CGCS2000, China's
#: national datum, in which wangge stores geometry.
EXPORT_CRS = {
    "CRS84": ("crs84", "ogc:crs84", "wgs84", "epsg:4326", "urn:ogc:def:crs:ogc:1.3:crs84",
              "http://www.opengis.net/def/crs/ogc/1.3/crs84"),
    "EPSG:4490": ("epsg:4490", "cgcs2000", "urn:ogc:def:crs:epsg::4490", "http://www.opengis.net/def/crs/epsg/0/4490"),
}


def export_crs(value: Any, field: str = "crs") -> str:
    """``CRS84`` (also when absent) or ``EPSG:4490`` from any spelling in :data:`EXPORT_CRS`."""
    if value is None or value == "":
        return "CRS84"
    if isinstance(value, str):
        for name, spellings in EXPORT_CRS.items():
            if value.strip().lower() in spellings:
                return name
    raise _fail(field, f"不支持的坐标系 {value!r}：请用 CRS84（WGS 84 经纬度，默认）或 EPSG:4490（2000国家大地坐标系）",
                f"unsupported CRS {value!r}; use CRS84 (WGS 84 longitude/latitude, the default) or EPSG:4490 "
                "(CGCS2000)")


def required_choice(value: Any, field: str, options: Iterable[str]) -> str:
    """One of ``options``, which must be given."""
    parsed = choice(value, field, options)
    if parsed is None:
        raise _fail(field, "不能为空", "is required")
    return parsed


def boolean(value: Any, field: str) -> bool:
    """A JSON ``true`` or ``false`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise _fail(field, f"须为 true 或 false，收到 {value!r}", f"must be true or false; got {value!r}")
    return value


def calendar_date(value: Any, field: str = "date") -> date | None:
    """``YYYY-MM-DD`` → date; ``None``/``""`` gives ``None``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise _fail(field, f"须为日期 YYYY-MM-DD，收到 {value!r}", f"must be a date YYYY-MM-DD; got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(field, f"不是有效日期：{value!r}", f"is not a calendar date: {value!r}") from None


def moment(value: Any, field: str) -> datetime | None:
    """An ISO 8601 date-time (``Z`` or an offset allowed) → datetime; ``None``/``""`` gives ``None``."""
    if value is None or value == "":
        return None
    try:
        return datetime.fromisoformat(str(value).replace("z", "Z"))
    except ValueError:
        raise _fail(field, f"须为 ISO 8601 时间，收到 {value!r}",
                    f"must be an ISO 8601 date-time; got {value!r}") from None


def bbox(value: Any, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees (six numbers: the heights are dropped) → tuple."""
    if value is None or value == "":
        return None
    try:
        numbers = [float(p) for p in str(value).split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or any(n != n for n in numbers):  # n != n: NaN
        raise _fail(field, f"须为四个数：西,南,东,北，收到 {value!r}",
                    f"must be four numbers west,south,east,north; got {value!r}")
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise _fail(field, f"不是有效的经纬度范围：{value!r}",
                    f"is not a lon/lat box (longitudes within ±180, latitudes ±90, south ≤ north): {value!r}")
    return west, south, east, north


def limit(value: Any, field: str = "limit", *, cap: int, default: int | None = None) -> int:
    """A positive page size; above ``cap`` it is clamped to ``cap`` (the answer says it was capped)."""
    parsed = integer(value, field, minimum=1, default=default if default is not None else cap)
    return min(parsed, cap)


def offset(value: Any, field: str = "offset") -> int:
    """A paging position ≥ 0 that fits the database."""
    return integer(value, field, minimum=0, default=0)


def body_object(body: Any, field: str = "body") -> dict:
    """The JSON body must be an object."""
    if not isinstance(body, dict):
        raise _fail(field, "请求体须为 JSON 对象", "the request body must be a JSON object")
    return body


def check_path_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Refuse integers in the URL path that no table can hold (``/divisions/2147483648``), naming them.

    Installed with ``app.url_value_preprocessor``, so every ``<int:...>`` route is covered at once.
    """
    for name, value in (values or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            integer(value, name, minimum=0)


def audit_filters(args: Any) -> dict:
    """The audit log's query string: user, action (a prefix), entity, entity_id, from, to, page, per_page."""
    return {"user": text(args.get("user"), "user", max_length=200),
            "action": text(args.get("action"), "action", max_length=200),
            "entity": text(args.get("entity"), "entity", max_length=200),
            "entity_id": text(args.get("entity_id"), "entity_id", max_length=200),
            "since": calendar_date(args.get("from"), "from"), "until": calendar_date(args.get("to"), "to"),
            "page": integer(args.get("page"), "page", minimum=1, default=1),
            "per_page": integer(args.get("per_page"), "per_page", minimum=1, maximum=500, default=50)}


def geometry(value: Any, field: str, kinds: Iterable[str]) -> Any:
    """A GeoJSON geometry in lon/lat of one of ``kinds`` → a valid shapely geometry.

    Checked here, at the edge, so GEOS never sees what it cannot take: every ring must be closed (the
    GeoJSON rule: shapely would close it silently, GEOS elsewhere throws), coordinates must be finite
    degrees, and a polygon must not cross itself (a bow-tie makes GEOS overlays throw).
    """
    import numpy as np
    import shapely
    import shapely.geometry

    kinds = tuple(kinds)
    if not isinstance(value, dict) or value.get("type") not in kinds or not isinstance(value.get("coordinates"), list):
        got = value.get("type") if isinstance(value, dict) else type(value).__name__
        raise _fail(field, f"须为 GeoJSON {' 或 '.join(kinds)}，收到 {got!r}",
                    f"must be a GeoJSON {' or '.join(kinds)}; got {got!r}")
    rings = {"Polygon": [value["coordinates"]], "MultiPolygon": value["coordinates"]}.get(value["type"], [])
    for polygon in rings:
        for ring in polygon if isinstance(polygon, list) else []:
            if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
                raise _fail(field, "多边形的环未闭合（首尾两点须相同，且至少四个点）",
                            "a polygon ring is not closed (its first and last points must be equal, 4 points at least)")
    try:
        geom = shapely.geometry.shape(value)
        coords = shapely.get_coordinates(geom)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, shapely.errors.GEOSException):
        raise _fail(field, "不是有效的 GeoJSON 几何", "is not a valid GeoJSON geometry") from None
    if geom.is_empty or not np.isfinite(coords).all():
        raise _fail(field, "几何为空或坐标不是数", "is empty or has coordinates that are not numbers")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise _fail(field, "坐标须为经纬度（经度 ±180，纬度 ±90）",
                    "coordinates must be longitude/latitude degrees (±180, ±90)")
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise _fail(field, f"几何自相交或无效（{reason}）", f"the geometry crosses itself or is invalid ({reason})")
    return geom
