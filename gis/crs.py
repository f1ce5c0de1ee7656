"""Coordinate reference systems: storage, metric zones and the consumer-geocoder offsets.

Geometry is stored in CGCS2000 geographic coordinates (``EPSG:4490``). Areas and lengths are measured
in a projected metric CRS: the CGCS2000 3-degree Gauss-Krüger zone (``EPSG:4534``-``EPSG:4554``, central
meridian 75°E…135°E) inside China, the WGS84 UTM zone elsewhere.

Consumer geocoders do not return WGS84: Amap and Tencent return **GCJ-02** and Baidu returns **BD-09**,
both offset by hundreds of metres by a published obfuscation algorithm. They have no EPSG code, so
:class:`CoordSystem` carries either a :class:`pyproj.CRS` or the name of the offset to undo.

Every transformer here is built with ``always_xy=True``: coordinates are always (longitude, latitude)
or (easting, northing), whatever axis order the EPSG definition declares.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeAlias

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pyproj
import shapely
from pyproj.exceptions import CRSError

from gis.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "STORAGE_CRS",
    "CoordSystem",
    "Offset",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "frame_to_storage",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs_for",
    "metric_crs_for_frame",
    "out_of_china",
    "parse_crs",
    "points_to_storage",
    "to_metric",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

STORAGE_CRS = "EPSG:4490"
"""CGCS2000 geographic (degrees); the CRS of every stored geometry."""

#: Longitude/latitude span (degrees) where the CGCS2000 Gauss-Krüger zones are used.
CHINA_SPAN = (73.5, 3.0, 135.1, 54.0)

#: First and last CGCS2000 3-degree GK "CM" zones: EPSG:4534 is CM 75°E (zone 25), EPSG:4554 CM 135°E.
_GK_FIRST_ZONE, _GK_LAST_ZONE, _GK_FIRST_EPSG = 25, 45, 4534

Offset: TypeAlias = Literal["gcj02", "bd09"]
ArrayLike: TypeAlias = npt.ArrayLike
FloatOrArray: TypeAlias = float | np.ndarray


# --------------------------------------------------------------------------------------------------
# Metric CRS choice
# --------------------------------------------------------------------------------------------------

def metric_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """Projected metric CRS suitable for measuring around a point.

    Parameters
    ----------
    lon, lat
        Longitude and latitude in degrees (CGCS2000 or WGS84; the difference does not matter here).

    Returns
    -------
    pyproj.CRS
        Inside China's span (lon 73.5-135.1°, lat 3-54°) the CGCS2000 3-degree Gauss-Krüger "CM" zone
        ``EPSG:4534`` (75°E) … ``EPSG:4554`` (135°E) with zone ``n = round(lon / 3)``; elsewhere the
        WGS84 UTM zone (``EPSG:326xx`` north, ``EPSG:327xx`` south). Units are metres.

    Raises
    ------
    InputError
        If the coordinates are not finite or not valid longitude/latitude.
    """
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(f"not a longitude/latitude in degrees: ({lon}, {lat})", field="crs")
    min_lon, min_lat, max_lon, max_lat = CHINA_SPAN
    if min_lon <= lon <= max_lon and min_lat <= lat <= max_lat:
        # floor(x + 0.5), not round(): Python rounds half to even, which would put 73.5°E in zone 24.
        zone = math.floor(lon / 3 + 0.5)
        zone = min(max(zone, _GK_FIRST_ZONE), _GK_LAST_ZONE)
        return _crs_from_epsg(_GK_FIRST_EPSG + zone - _GK_FIRST_ZONE)
    # Plain 6-degree UTM zones; the Norway/Svalbard exceptions do not matter for measuring.
    zone = min(int((lon + 180) // 6) + 1, 60)
    return _crs_from_epsg((32600 if lat >= 0 else 32700) + zone)


@lru_cache(maxsize=128)
def _crs_from_epsg(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


@lru_cache(maxsize=128)
def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def metric_crs_for_frame(gdf: gpd.GeoDataFrame) -> pyproj.CRS:
    """Projected metric CRS for a whole frame, chosen at the centre of its total bounds.

    Parameters
    ----------
    gdf
        Frame with a CRS (any; the bounds are converted to EPSG:4490 first).

    Returns
    -------
    pyproj.CRS
        See :func:`metric_crs_for`.

    Raises
    ------
    InputError
        If the frame has no CRS or no non-empty geometry.
    """
    if gdf.crs is None:
        raise InputError("the frame has no CRS; cannot choose a metric CRS", field="crs")
    bounds = np.asarray(gdf.total_bounds, dtype=float)
    if not np.all(np.isfinite(bounds)):
        raise InputError("the frame has no non-empty geometry; cannot choose a metric CRS",
                         field="geometry")
    storage = _crs_from_epsg(4490)
    if pyproj.CRS(gdf.crs) != storage:
        bounds = np.asarray(_transformer(pyproj.CRS(gdf.crs), storage).transform_bounds(*bounds))
    min_lon, min_lat, max_lon, max_lat = bounds
    return metric_crs_for((min_lon + max_lon) / 2, (min_lat + max_lat) / 2)


def to_metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Projected copy of a frame in the metric CRS of :func:`metric_crs_for_frame`.

    Parameters
    ----------
    gdf
        Frame with a CRS. It is not modified.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame whose coordinates are metres.

    Raises
    ------
    InputError
        If the frame has no CRS.
    """
    return gdf.to_crs(metric_crs_for_frame(gdf))


# --------------------------------------------------------------------------------------------------
# GCJ-02 and BD-09 offsets (the public algorithm, vectorised)
# --------------------------------------------------------------------------------------------------

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

#: The rough box that the public GCJ-02 algorithm uses to decide "in China" (lon/lat, degrees).
GCJ02_BOX = (72.004, 0.8293, 137.8347, 55.8271)

# Convergence of the GCJ-02 inverse: well below the required 1e-7 degrees (~1 cm).
_INVERSE_TOLERANCE = 1e-10
_INVERSE_MAX_ITERATIONS = 50


def _as_float_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, bool]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape:
        lon_a, lat_a = np.broadcast_arrays(lon_a, lat_a)
    return lon_a, lat_a, lon_a.ndim == 0


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> tuple[FloatOrArray, FloatOrArray]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray | bool:
    """Whether points fall outside the rough box where GCJ-02 applies.

    Parameters
    ----------
    lon, lat
        Degrees; scalars or arrays.

    Returns
    -------
    bool or numpy.ndarray of bool
        True where GCJ-02 is the identity.
    """
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    min_lon, min_lat, max_lon, max_lat = GCJ02_BOX
    outside = ~((lon_a >= min_lon) & (lon_a <= max_lon) & (lat_a >= min_lat) & (lat_a <= max_lat))
    return bool(outside) if scalar else outside


def _gcj02_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) to add to WGS84 coordinates, without the "in China" test."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """WGS84 → GCJ-02 (Amap, Tencent).

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        GCJ-02 (lon, lat) degrees: floats for scalar input, arrays otherwise. Identity outside the
        :data:`GCJ02_BOX`.
    """
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    d_lon, d_lat = _gcj02_delta(lon_a, lat_a)
    inside = ~np.asarray(out_of_china(lon_a, lat_a))
    return _result(np.where(inside, lon_a + d_lon, lon_a), np.where(inside, lat_a + d_lat, lat_a), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """GCJ-02 → WGS84, inverted exactly by fixed-point iteration.

    The one-step inverse found in many snippets (subtract the offset computed at the GCJ-02 point)
    is off by up to about 5 m in China; iterating ``w ← w - (f(w) - g)`` converges to < 1e-10 degrees
    in a handful of steps because the offset changes slowly with position.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        WGS84 (lon, lat) degrees: floats for scalar input, arrays otherwise. Identity outside the
        :data:`GCJ02_BOX` (tested on the input point).
    """
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    inside = ~np.asarray(out_of_china(lon_a, lat_a))
    w_lon, w_lat = lon_a.copy(), lat_a.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        # The box test is applied once, on the input: near the box edge the iterate could otherwise
        # flip between "inside" and "outside" and never settle.
        d_lon, d_lat = _gcj02_delta(w_lon, w_lat)
        err_lon = w_lon + d_lon - lon_a
        err_lat = w_lat + d_lat - lat_a
        w_lon = w_lon - err_lon
        w_lat = w_lat - err_lat
        worst = np.nanmax(np.abs(np.concatenate([np.ravel(err_lon), np.ravel(err_lat)])), initial=0.0)
        if worst < _INVERSE_TOLERANCE:
            break
    else:
        logger.warning("GCJ-02 inverse did not converge below %g degrees (last step %g)",
                       _INVERSE_TOLERANCE, worst)
    return _result(np.where(inside, w_lon, lon_a), np.where(inside, w_lat, lat_a), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """GCJ-02 → BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        BD-09 (lon, lat) degrees: floats for scalar input, arrays otherwise. The BD-09 formula is
        applied everywhere (as Baidu's own converters do), with no "in China" test.
    """
    x, y, scalar = _as_float_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _result(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def _bd09_to_gcj02_one_step(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x - 0.0065
    y = y - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """BD-09 (Baidu) → GCJ-02, with the published closed-form inverse.

    The closed form is not the exact inverse of :func:`gcj02_to_bd09`, but its round-trip error is
    a few 1e-6 degrees (well under 1 m) across China; it is kept so that results match Baidu's and
    every common converter's.

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        GCJ-02 (lon, lat) degrees: floats for scalar input, arrays otherwise.
    """
    x, y, scalar = _as_float_arrays(lon, lat)
    g_lon, g_lat = _bd09_to_gcj02_one_step(x, y)
    return _result(g_lon, g_lat, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """WGS84 → BD-09 (through GCJ-02).

    Parameters
    ----------
    lon, lat
        WGS84 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        BD-09 (lon, lat) degrees: floats for scalar input, arrays otherwise.
    """
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    return gcj02_to_bd09(g_lon, g_lat)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    """BD-09 → WGS84 (through GCJ-02, with the exact GCJ-02 inverse).

    Parameters
    ----------
    lon, lat
        BD-09 degrees; scalars or arrays of the same shape.

    Returns
    -------
    tuple
        WGS84 (lon, lat) degrees: floats for scalar input, arrays otherwise.
    """
    g_lon, g_lat = bd09_to_gcj02(lon, lat)
    return gcj02_to_wgs84(g_lon, g_lat)


# --------------------------------------------------------------------------------------------------
# Parsing a CRS given by a user, and converting to storage
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoordSystem:
    """A coordinate system a user may give: an EPSG/pyproj CRS or a consumer-geocoder offset.

    Attributes
    ----------
    name
        Canonical name: ``'EPSG:4326'``-style for CRSs with an EPSG code, ``'GCJ-02'``, ``'BD-09'``.
    crs
        The pyproj CRS, or None for an offset system.
    offset
        ``'gcj02'`` or ``'bd09'`` for an offset system (coordinates are degrees offset from WGS84),
        else None.
    """

    name: str
    crs: pyproj.CRS | None = None
    offset: Offset | None = None

    def __post_init__(self) -> None:
        if (self.crs is None) == (self.offset is None):
            raise ValueError("a CoordSystem has exactly one of crs and offset")

    def __str__(self) -> str:
        return self.name


GCJ02 = CoordSystem("GCJ-02", offset="gcj02")
BD09 = CoordSystem("BD-09", offset="bd09")

_CRS_HINT = "e.g. EPSG:4490, wgs84, gcj02, bd09"

# Keys are normalised by _normalise_alias: lower case with spaces, '-' and '_' removed.
_ALIASES: dict[str, int | CoordSystem] = {
    "wgs84": 4326,
    "cgcs2000": 4490,
    "gcj02": GCJ02,
    "bd09": BD09,
    "bd09ll": BD09,
}


def _normalise_alias(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text.strip().lower())


def _from_epsg_code(code: int, original: object) -> CoordSystem:
    try:
        crs = _crs_from_epsg(code)
    except CRSError:
        raise InputError(f"unknown CRS {original!r}: EPSG:{code} does not exist ({_CRS_HINT})",
                         field="crs") from None
    return _checked(CoordSystem(f"EPSG:{code}", crs=crs), original)


def _checked(system: CoordSystem, original: object) -> CoordSystem:
    # Heights, geocentric frames and the like cannot place a 2D feature.
    crs = system.crs
    if crs is not None and not (crs.is_geographic or crs.is_projected):
        raise InputError(f"CRS {original!r} ({crs.name}) is neither geographic nor projected",
                         field="crs")
    return system


def parse_crs(text: str | int | pyproj.CRS | CoordSystem | None) -> CoordSystem:
    """Parse a CRS named by a user or found in a file.

    Parameters
    ----------
    text
        ``'EPSG:4326'``, ``'4326'``, ``4326``, ``'wgs84'``, ``'cgcs2000'``, ``'gcj02'``/``'GCJ-02'``,
        ``'bd09'``/``'BD-09'`` (case-insensitive), or any other definition pyproj understands
        (WKT, PROJ string, ``'ESRI:102100'``); a :class:`pyproj.CRS` or :class:`CoordSystem` is
        passed through.

    Returns
    -------
    CoordSystem

    Raises
    ------
    InputError
        For None, an empty value, or anything that is not a known horizontal CRS; the message
        names the value and the field is ``crs``.
    """
    if isinstance(text, CoordSystem):
        return text
    if isinstance(text, pyproj.CRS):
        epsg = text.to_epsg()
        return _checked(CoordSystem(f"EPSG:{epsg}" if epsg else text.name, crs=text), text)
    if text is None:
        raise InputError(f"no CRS given; pass one ({_CRS_HINT})", field="crs")
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise InputError(f"unknown CRS {text!r} ({_CRS_HINT})", field="crs")
    if isinstance(text, int):
        return _from_epsg_code(text, text)
    stripped = text.strip()
    if not stripped:
        raise InputError(f"empty CRS ({_CRS_HINT})", field="crs")
    alias = _ALIASES.get(_normalise_alias(stripped))
    if isinstance(alias, CoordSystem):
        return alias
    if alias is not None:
        return _from_epsg_code(alias, text)
    match = re.fullmatch(r"(?:epsg\s*:\s*)?(\d+)", stripped, flags=re.IGNORECASE)
    if match:
        return _from_epsg_code(int(match.group(1)), text)
    if not re.search(r"[:=\[]", stripped):
        # A bare word: pyproj would search its database by name and may match something unintended.
        raise InputError(f"unknown CRS {text!r} ({_CRS_HINT})", field="crs")
    try:
        crs = pyproj.CRS.from_user_input(stripped)
    except CRSError:
        raise InputError(f"unknown CRS {text!r} ({_CRS_HINT})", field="crs") from None
    epsg = crs.to_epsg()
    return _checked(CoordSystem(f"EPSG:{epsg}" if epsg else crs.name, crs=crs), text)


def _offset_to_wgs84(offset: Offset, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if offset == "gcj02":
        w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    else:
        w_lon, w_lat = bd09_to_wgs84(lon, lat)
    return np.asarray(w_lon, dtype=float), np.asarray(w_lat, dtype=float)


def points_to_storage(lon: ArrayLike, lat: ArrayLike,
                      crs: CoordSystem | str | int) -> tuple[FloatOrArray, FloatOrArray]:
    """Convert point coordinates to storage (EPSG:4490 longitude/latitude).

    Parameters
    ----------
    lon, lat
        x/y (or lon/lat) in ``crs``; scalars or arrays of the same shape.
    crs
        The coordinate system of the input (anything :func:`parse_crs` accepts).

    Returns
    -------
    tuple
        (lon, lat) degrees in EPSG:4490: floats for scalar input, arrays otherwise.
    """
    system = parse_crs(crs)
    lon_a, lat_a, scalar = _as_float_arrays(lon, lat)
    if system.offset is not None:
        # GCJ-02/BD-09 are offsets from WGS84; WGS84 → CGCS2000 is then treated as the identity:
        # the two frames agree to well under a metre, and pyproj itself only knows a null
        # ("ballpark") transformation between EPSG:4326 and EPSG:4490.
        out_lon, out_lat = _offset_to_wgs84(system.offset, lon_a, lat_a)
    else:
        out_lon, out_lat = _transformer(system.crs, _crs_from_epsg(4490)).transform(lon_a, lat_a)
        out_lon, out_lat = np.asarray(out_lon, dtype=float), np.asarray(out_lat, dtype=float)
    return _result(out_lon, out_lat, scalar)


def _offset_coordinates(offset: Offset) -> Callable[[np.ndarray], np.ndarray]:
    def transform(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=float, copy=True)
        out[:, 0], out[:, 1] = _offset_to_wgs84(offset, coords[:, 0], coords[:, 1])
        return out
    return transform


def frame_to_storage(gdf: gpd.GeoDataFrame, crs: CoordSystem | str | int | None = None) -> gpd.GeoDataFrame:
    """Copy of a frame converted to storage (EPSG:4490).

    Parameters
    ----------
    gdf
        Frame of any geometry types. It is not modified.
    crs
        The coordinate system of the coordinates, overriding ``gdf.crs`` when given (a GCJ-02 or
        BD-09 frame usually declares WGS84, wrongly). None means "use ``gdf.crs``".

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in EPSG:4490. Z coordinates, where present, are kept unchanged.

    Raises
    ------
    InputError
        If neither ``crs`` nor ``gdf.crs`` is set, or ``crs`` is unknown.
    """
    if crs is None:
        if gdf.crs is None:
            raise InputError(f"no CRS: the frame declares none; pass one ({_CRS_HINT})", field="crs")
        system = parse_crs(pyproj.CRS(gdf.crs))
    else:
        system = parse_crs(crs)
    storage = _crs_from_epsg(4490)
    if system.offset is None:
        return gdf.set_crs(system.crs, allow_override=True).to_crs(storage)
    out = gdf.copy()
    geoms = np.asarray(out.geometry.array, dtype=object)
    # include_z=None keeps 3D geometries 3D; only x and y are shifted. As in points_to_storage,
    # the WGS84 result is taken as CGCS2000 (sub-metre difference, null transformation in pyproj).
    converted = shapely.transform(geoms, _offset_coordinates(system.offset), include_z=None)
    out[out.geometry.name] = gpd.GeoSeries(converted, index=out.index)
    return out.set_crs(storage, allow_override=True)
