"""Reading and writing the import layers: the one place that knows their schemas and file formats.

Five kinds of layer are imported (:data:`LAYER_SCHEMAS`): administrative ``areas``, ``buildings``,
standard ``addresses``, ``barriers`` (roads, rivers, railways, walls) and ``sites`` (compounds and
the units that get exclusive grids). :func:`read_layer` reads GeoJSON, GeoPackage, Shapefile (plain or
zipped) and CSV with coordinates, checks the schema, repairs invalid geometries (reporting what it
did) and returns a frame in storage CRS (EPSG:4490). :func:`write_layers` writes GeoPackage, GeoJSON
or zipped Shapefiles atomically.

Every error is an :class:`~gis.errors.InputError` naming the file, the 1-based feature (or CSV data
row) and the field, with the offending value. Up to :data:`MAX_PROBLEMS` problems are collected and
reported together, so a user can fix a file in one pass.
"""

from __future__ import annotations

import codecs
import io
import logging
import math
import os
import re
import shutil
import struct
import tempfile
import threading
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import STORAGE_CRS, CoordSystem, frame_to_storage, parse_crs
from gis.errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "LAYER_SCHEMAS",
    "MAX_PROBLEMS",
    "ImportLimits",
    "LayerSchema",
    "LimitExceeded",
    "ReadResult",
    "Repair",
    "TextEncoding",
    "check_feature_count",
    "check_zip",
    "count_features",
    "read_layer",
    "shapefile_encoding",
    "text_file_encoding",
    "write_layers",
]

GeometryFamily = Literal["polygon", "line", "point"]

#: How many problems one error lists before it stops.
MAX_PROBLEMS = 20

#: Column that :func:`read_layer` adds: the 1-based feature (or CSV data row) number in the source.
SOURCE_ROW = "source_row"

#: Longest column name a Shapefile (dBase) can hold.
SHAPEFILE_MAX_FIELD = 10

_NO_CRS = "no CRS: the file declares none; pass --crs (e.g. EPSG:4490, wgs84, gcj02, bd09)"

_READ_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".shp", ".csv")
_WRITE_SUFFIXES = (".gpkg", ".geojson", ".json", ".zip")

_CODE_PATTERN = r"\d{12}"

#: Largest count the store keeps (a 32-bit integer column); more is a typo, not a building.
INT_MAX = 2**31 - 1


# --------------------------------------------------------------------------------------------------
# Schemas
# --------------------------------------------------------------------------------------------------

def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class LayerSchema:
    """Columns and geometry of one kind of import layer.

    Attributes
    ----------
    kind
        Layer kind, the key in :data:`LAYER_SCHEMAS`.
    geometry
        Geometry family: ``'polygon'`` (Polygon or MultiPolygon), ``'line'`` (LineString or
        MultiLineString) or ``'point'``.
    required
        Column name → type (``str`` or ``int``); a null value is an error.
    optional
        Column name → type; nulls allowed. Missing optional columns are added as all-null.
    choices
        Enumerated columns → allowed values (matched case-insensitively, stored lower case).
    patterns
        Columns → regular expression the whole (stripped) value must match.
    max_lengths
        Text columns → most characters the store keeps.

    Notes
    -----
    Every ``int`` column of these schemas is a count or a house number, so negative values are
    rejected. Columns not in the schema are kept unchanged.
    """

    kind: str
    geometry: GeometryFamily
    required: Mapping[str, type]
    optional: Mapping[str, type] = field(default_factory=lambda: _frozen({}))
    choices: Mapping[str, frozenset[str]] = field(default_factory=lambda: _frozen({}))
    patterns: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    max_lengths: Mapping[str, int] = field(default_factory=lambda: _frozen({}))

    @property
    def columns(self) -> dict[str, type]:
        """All schema columns, required first, with their types."""
        return {**self.required, **self.optional}


SITE_KINDS = frozenset({"school", "hospital", "government", "industrial_park", "market", "park",
                        "enterprise", "business"})

LAYER_SCHEMAS: Mapping[str, LayerSchema] = _frozen({
    "areas": LayerSchema(
        kind="areas", geometry="polygon",
        required=_frozen({"code": str, "name": str, "level": str}),
        optional=_frozen({"parent_code": str, "kind": str}),
        choices=_frozen({"level": frozenset({"province", "city", "county", "township", "community"}),
                         "kind": frozenset({"urban", "rural", "street", "town"})}),
        patterns=_frozen({"code": _CODE_PATTERN, "parent_code": _CODE_PATTERN}),
    ),
    "buildings": LayerSchema(
        kind="buildings", geometry="polygon",
        required=_frozen({"households": int}),
        optional=_frozen({"id": str, "community_code": str, "name": str, "road": str, "number": int,
                          "storeys": int, "units": int, "population": int, "compound": str,
                          "site": str}),
        choices=_frozen({"site": SITE_KINDS}),
        patterns=_frozen({"community_code": _CODE_PATTERN}),
    ),
    "addresses": LayerSchema(
        kind="addresses", geometry="point",
        required=_frozen({"address": str}),
        optional=_frozen({"id": str, "city": str, "district": str, "road": str, "number": int,
                          "building": str, "unit": str, "building_id": str, "households": int}),
    ),
    "barriers": LayerSchema(
        kind="barriers", geometry="line",
        required=_frozen({"kind": str}),
        optional=_frozen({"id": str, "class": str, "name": str}),
        choices=_frozen({"kind": frozenset({"road", "river", "rail", "wall"})}),
        max_lengths=_frozen({"class": 16}),
    ),
    "sites": LayerSchema(
        kind="sites", geometry="polygon",
        required=_frozen({"kind": str, "name": str}),
        optional=_frozen({"id": str, "community_code": str}),
        choices=_frozen({"kind": SITE_KINDS | {"residential_compound"}}),
        patterns=_frozen({"community_code": _CODE_PATTERN}),
    ),
})
"""Schema of each import layer kind."""

_FAMILY_TYPES: dict[str, frozenset[str]] = {
    "polygon": frozenset({"Polygon", "MultiPolygon"}),
    "line": frozenset({"LineString", "MultiLineString"}),
    "point": frozenset({"Point"}),
}


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Repair:
    """One geometry repaired on import.

    Attributes
    ----------
    row
        1-based feature (or CSV data row) number in the source.
    reason
        Why the geometry was invalid (``shapely.is_valid_reason``, e.g. ``'Self-intersection[1 1]'``).
    action
        What was done: ``'make_valid'`` or ``'dropped N non-polygon parts'`` (``line``, ``point``
        for the other families).
    """

    row: int
    reason: str
    action: str


@dataclass(frozen=True)
class ReadResult:
    """What :func:`read_layer` returns.

    Attributes
    ----------
    frame
        The layer in EPSG:4490 with typed schema columns, any extra columns, and a 1-based
        ``source_row`` column.
    repairs
        Geometries that were repaired, in row order.
    source
        The file name (with ``:layer`` when a layer was chosen), as used in error messages.
    encoding
        The encoding the text was read in (None for a GeoPackage, which is UTF-8 by definition).
    """

    frame: gpd.GeoDataFrame
    repairs: list[Repair]
    source: str
    encoding: TextEncoding | None = None


# --------------------------------------------------------------------------------------------------
# Problem collection
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Problem:
    row: int | None
    field: str | None
    message: str

    def where(self) -> str:
        parts = []
        if self.row is not None:
            parts.append(f"feature {self.row}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)


class _Problems:
    """Problems found in one source, raised together as one :class:`InputError`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[_Problem] = []

    def add(self, row: int | None, field: str | None, message: str) -> None:
        self.items.append(_Problem(row, field, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        items = sorted(self.items, key=lambda p: (p.row is not None, p.row or 0))
        first = items[0]
        if len(items) == 1:
            raise InputError(first.message, source=self.source, row=first.row, field=first.field)
        # The first line names the first problem whole (the CLI prints one line per error); the
        # others follow, so a user can fix the file in one pass.
        others = items[1:MAX_PROBLEMS]
        more = len(items) - 1
        lines = [f"{first.message}; {more} more problem{'s' if more > 1 else ''}"
                 + (f" (the next {len(others)} listed)" if more > len(others) else "") + ":"]
        lines += [f"  {p.where() or self.source}: {p.message}" for p in others]
        raise InputError("\n".join(lines), source=self.source, row=first.row, field=first.field)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value) if isinstance(value, str) else repr(_python_scalar(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------------------
# Limits: what one import may hold (zip bombs, endless files)
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportLimits:
    """Caps on what one file may hold, checked before its features are read.

    Attributes
    ----------
    max_bytes
        Most bytes the file may hold uncompressed (for a zip: all members together).
    max_members
        Most members a zip may hold.
    max_features
        Most features (or CSV data rows) the layer may hold.
    """

    max_bytes: int = 8 * 2**30
    max_members: int = 256
    max_features: int = 10_000_000


class LimitExceeded(InputError):
    """A file that breaks one of the :class:`ImportLimits` (``limit`` names which)."""

    def __init__(self, message: str, *, limit: str, source: str | None = None, field: str | None = None) -> None:
        self.limit = limit
        super().__init__(message, source=source, field=field)


def _megabytes(count: int) -> str:
    return f"{count / 2**20:,.1f} MB"


def check_zip(path: str | os.PathLike[str], limits: ImportLimits, source: str | None = None) -> list[str]:
    """Check a zip against ``limits`` before anything reads its members; return the member names.

    The member count and the declared uncompressed sizes are read from the central directory first,
    so a zip bomb is refused without inflating a byte. Then every member is inflated once into
    nothing, which proves the declared sizes (a member that inflates past its declared size fails its
    CRC check) at a cost bounded by ``limits.max_bytes``.

    Raises
    ------
    LimitExceeded
        Too many members, or too many bytes uncompressed.
    InputError
        Not a readable zip, or a member that is damaged or encrypted.
    """
    path = Path(path)
    source = source or path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot open the file: not a readable zip ({exc})", source=source) from None
    with archive:
        members = archive.infolist()
        if len(members) > limits.max_members:
            raise LimitExceeded(f"the zip holds {len(members):,} members; at most {limits.max_members:,} are "
                                f"accepted", limit="members", source=source)
        declared = sum(m.file_size for m in members)
        if declared > limits.max_bytes:
            raise LimitExceeded(f"the zip holds {_megabytes(declared)} uncompressed; at most "
                                f"{_megabytes(limits.max_bytes)} are accepted", limit="bytes", source=source)
        for member in members:
            try:
                with archive.open(member) as stream:
                    while stream.read(1 << 20):
                        pass
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError,
                    zlib.error) as exc:
                raise InputError(f"the zip member {member.filename!r} cannot be read: {exc}",
                                 source=source) from None
        return [m.filename for m in members]


def check_feature_count(count: int, limits: ImportLimits, source: str) -> None:
    """Refuse a layer of more than ``limits.max_features`` features (or rows)."""
    if count > limits.max_features:
        raise LimitExceeded(f"the layer holds {count:,} features; at most {limits.max_features:,} are accepted",
                            limit="features", source=source)


def count_features(target: str, layer: str | None, source: str) -> int:
    """Features of a GDAL-readable layer, counted without reading them (fast for Shapefile and GeoPackage)."""
    try:
        info = pyogrio.read_info(target, layer=layer, force_feature_count=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        # GDAL messages carry the full path; show only the file name.
        detail = str(exc).replace(str(Path(target).resolve()), source).replace(target, source)
        raise InputError(f"cannot open the file: {detail}", source=source) from None
    return int(info["features"])


# --------------------------------------------------------------------------------------------------
# Text encodings of Shapefiles and GeoJSON
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextEncoding:
    """The encoding a file's text was read in, and why (for the import report)."""

    name: str
    note: str | None = None


#: ESRI code page numbers in .cpg files that are not plain Python codec names.
_CPG_NUMBERS = {"65001": "utf-8", "88591": "latin-1", "936": "gbk", "54936": "gb18030", "950": "big5"}


def _cpg_codec(text: str) -> str | None:
    """The Python codec a .cpg's text names (``UTF-8``, ``936``, ``ANSI 1252``, ``GBK``), or None."""
    value = text.strip().strip("\x00").lower().removeprefix("ansi").strip()
    if not value:
        return None
    value = _CPG_NUMBERS.get(value, f"cp{value}" if value.isdigit() else value)
    try:
        return codecs.lookup(value).name
    except LookupError:
        return None


def _dbf_texts(dbf: bytes, source: str) -> list[tuple[int | None, str, bytes]]:
    """Every field name and every non-blank character value of a dBase file as (row, field, bytes).

    ``row`` is None for a field name. Only what GDAL decodes as text is collected (type C fields).
    """
    if len(dbf) < 32:
        raise InputError("the .dbf is too short to be a dBase file", source=source)
    records, header_length, record_length = struct.unpack("<IHH", dbf[4:12])
    fields: list[tuple[str, int, int]] = []  # (name, offset in the record, width)
    texts: list[tuple[int | None, str, bytes]] = []
    offset, position = 1, 32  # a record starts with its deletion flag
    while position + 32 <= min(header_length, len(dbf)) and dbf[position] != 0x0D:
        descriptor = dbf[position:position + 32]
        raw_name = descriptor[:11].split(b"\x00", 1)[0]
        width = descriptor[16]
        name = raw_name.decode("gb18030", "replace")
        texts.append((None, name, raw_name))
        if descriptor[11:12] == b"C":
            fields.append((name, offset, width))
        offset += width
        position += 32
    for row in range(records):
        start = header_length + row * record_length
        record = dbf[start:start + record_length]
        if len(record) < record_length:
            break
        for name, field_offset, width in fields:
            value = record[field_offset:field_offset + width].rstrip(b" \x00")
            if not value.isascii():
                texts.append((row + 1, name, value))
    return texts


def _undecodable(texts: list[tuple[int | None, str, bytes]], codec: str) -> tuple[int | None, str, bytes] | None:
    """The first text that is not valid in ``codec``, or None when all are."""
    # One decode of everything, joined by a byte no multi-byte sequence contains; only on failure
    # are the values tried one by one to name the culprit.
    try:
        b"\n".join(t[2] for t in texts).decode(codec)
        return None
    except UnicodeDecodeError:
        pass
    for text in texts:
        try:
            text[2].decode(codec)
        except UnicodeDecodeError:
            return text
    return None


def shapefile_encoding(dbf: bytes, cpg: str | None, source: str) -> TextEncoding:
    """The encoding of a Shapefile's attributes: the .cpg's if its text decodes in it, else UTF-8, else GB18030.

    Parameters
    ----------
    dbf
        The bytes of the ``.dbf``.
    cpg
        The text of the ``.cpg`` beside it, or None when there is none.
    source
        The file name for messages.

    Raises
    ------
    InputError
        When the names decode in none of them, naming the first feature and field that does not.
    """
    texts = _dbf_texts(dbf, source)
    declared = _cpg_codec(cpg) if cpg is not None else None
    if declared is not None and _undecodable(texts, declared) is None:
        return TextEncoding(_display_codec(declared))
    bad = None
    for codec in ("utf-8", "gb18030"):
        bad = _undecodable(texts, codec)
        if bad is None:
            return TextEncoding(_display_codec(codec), _encoding_note(codec, cpg, declared))
    # Name the text GB18030 cannot read: it is the one that is wrong in any encoding tried.
    row, name, value = bad
    said = f"the .cpg says {cpg.strip()!r}, but " if cpg is not None else ""
    hint = ("save the file as UTF-8" + (" and fix its .cpg" if cpg is not None else " (with a .cpg saying UTF-8)"))
    raise InputError(f"{said}the text {value[:24].hex(' ')} is neither UTF-8 nor GB18030 (GBK); {hint}",
                     source=source, row=row, field=name if row is not None else "field name")


def _display_codec(codec: str) -> str:
    return {"utf-8": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}.get(codec, codec.upper())


def _encoding_note(codec: str, cpg: str | None, declared: str | None) -> str | None:
    if cpg is None:
        return None if codec == "utf-8" else "no .cpg and the text is not UTF-8: read as GB18030"
    if declared is None:
        return f"the .cpg names an unknown encoding {cpg.strip()!r}: read as {_display_codec(codec)}"
    return f"the .cpg says {cpg.strip()!r}, which the text is not: read as {_display_codec(codec)}"


def text_file_encoding(raw: bytes, source: str, what: str = "the file") -> TextEncoding:
    """The encoding of a text file (GeoJSON, CSV): UTF-8 (with or without BOM), else GB18030."""
    try:
        raw.decode("utf-8-sig")
        return TextEncoding("UTF-8")
    except UnicodeDecodeError as exc:
        position = exc.start
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        raise InputError(f"{what} is neither UTF-8 nor GB18030 (GBK) text (byte {position:,} is "
                         f"{raw[position:position + 2].hex(' ')}); save it as UTF-8", source=source) from None
    return TextEncoding("GB18030", f"{what} is not UTF-8: read as GB18030")


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def read_layer(path: str | os.PathLike[str], kind: str, *, crs: CoordSystem | str | int | None = None,
               layer: str | None = None, limits: ImportLimits | None = None) -> ReadResult:
    """Read, validate and repair one import layer, converting it to storage CRS.

    Parameters
    ----------
    path
        ``.geojson``/``.json``, ``.gpkg``, ``.zip`` (zipped Shapefile), ``.shp`` or ``.csv``. A CSV
        is UTF-8 (with or without BOM) or GB18030 (Chinese Excel exports), with coordinate columns
        ``lon``/``lat``, ``lng``/``lat``, ``longitude``/``latitude``, ``x``/``y`` or ``经度``/``纬度``
        (any case), or a ``wkt`` (or ``geometry``) column of WKT; the columns used for the geometry
        are not kept.
    kind
        One of :data:`LAYER_SCHEMAS`: ``areas``, ``buildings``, ``addresses``, ``barriers``, ``sites``.
    crs
        Coordinate system of the file's coordinates, overriding what the file declares (GeoJSON
        always declares WGS84, even when the coordinates came from Amap in GCJ-02). Required for
        CSV and for a Shapefile without ``.prj``. Anything :func:`gis.crs.parse_crs` accepts.
    layer
        Layer of a GeoPackage, or Shapefile inside a zip; required when there are several.
    limits
        Caps on bytes, zip members and features, checked before the features are read
        (:class:`ImportLimits` defaults when None).

    Returns
    -------
    ReadResult
        The frame in EPSG:4490 with 2D geometries, a ``source_row`` column (1-based feature or CSV
        data row number), the repairs made and the source name.

    Raises
    ------
    InputError
        When the file cannot be read, declares no CRS and none is given, or has any schema or
        geometry problems (up to :data:`MAX_PROBLEMS` listed in one error whose ``row`` and
        ``field`` are those of the first). :class:`LimitExceeded` when it breaks ``limits``.

    Notes
    -----
    Text is read as :func:`shapefile_encoding` and :func:`text_file_encoding` find (``.cpg``, UTF-8,
    GB18030); ``ReadResult.encoding`` says which was used and why.
    """
    schema = LAYER_SCHEMAS.get(kind)
    path = Path(path)
    source = path.name
    if schema is None:
        raise InputError(f"unknown layer kind {kind!r} (expected one of: {', '.join(LAYER_SCHEMAS)})",
                         source=source, field="kind")
    override = _parse_crs_for(crs, source) if crs is not None else None
    suffix = path.suffix.lower()
    if suffix not in _READ_SUFFIXES:
        raise InputError(f"unsupported file type {path.suffix or '(none)'!r} "
                         f"(expected one of: {', '.join(_READ_SUFFIXES)})", source=source)
    if not path.is_file():
        raise InputError("cannot open the file: it does not exist or is not a file", source=source)
    limits = limits or ImportLimits()
    if suffix != ".zip":  # a zip's inflated size is checked by check_zip
        _check_file_size(path, limits, source)
    if suffix == ".csv":
        raw, encoding = _read_csv(path, source, limits)
        declared = None
    else:
        raw, source, encoding = _read_vector(path, suffix, layer, source, limits)
        declared = raw.crs

    if override is not None:
        system = override
    elif declared is not None:
        system = _parse_crs_for(declared, source)
    else:
        raise InputError(_NO_CRS, source=source, field="crs")

    frame, repairs = _validate(raw, schema, source, shapefile=suffix in (".shp", ".zip"))
    frame = frame_to_storage(frame, system)
    _check_storage_range(frame, source)
    for repair in repairs:
        logger.info("%s feature %d: %s (%s)", source, repair.row, repair.action, repair.reason)
    logger.info("read %d %s from %s (CRS %s, %d repaired%s)", len(frame), kind, source, system,
                len(repairs), f"; {encoding.note}" if encoding is not None and encoding.note else "")
    return ReadResult(frame=frame, repairs=repairs, source=source, encoding=encoding)


def _check_file_size(path: Path, limits: ImportLimits, source: str) -> None:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise LimitExceeded(f"the file holds {_megabytes(size)}; at most {_megabytes(limits.max_bytes)} are "
                            "accepted", limit="bytes", source=source)


def _parse_crs_for(value: Any, source: str) -> CoordSystem:
    try:
        return parse_crs(value)
    except InputError as exc:
        raise InputError(exc.message, source=source, field="crs") from None


def _open_error(exc: Exception, path: Path, source: str) -> InputError:
    # GDAL messages carry the full path; show only the file name.
    detail = str(exc).replace(str(path.resolve()), source).replace(str(path), source)
    return InputError(f"cannot open the file: {detail}", source=source)


def _read_vector(path: Path, suffix: str, layer: str | None, source: str,
                 limits: ImportLimits) -> tuple[gpd.GeoDataFrame, str, TextEncoding | None]:
    target = str(path)
    chosen: str | None = None
    encoding: TextEncoding | None = None
    if suffix == ".gpkg":
        chosen = _choose_gpkg_layer(path, layer, source)
        if layer is not None:
            source = f"{source}:{chosen}"
    elif suffix == ".zip":
        check_zip(path, limits, source)
        inner = _choose_zipped_shapefile(path, layer, source)
        target = f"/vsizip/{path.resolve()}/{inner}"
        if layer is not None:
            source = f"{source}:{inner}"
        encoding = _zipped_shapefile_encoding(path, inner, source)
    elif suffix == ".shp":
        encoding = _shapefile_encoding_beside(path, source)
    else:  # GeoJSON: UTF-8 by the standard, but Chinese desktop tools write GBK too
        encoding = text_file_encoding(path.read_bytes(), source)
    with tempfile.TemporaryDirectory() as folder:
        if suffix in (".geojson", ".json") and encoding.name != "UTF-8":
            # GDAL reads GeoJSON as UTF-8 only: hand it a UTF-8 copy.
            target = str(Path(folder) / path.name)
            Path(target).write_text(path.read_bytes().decode("gb18030"), encoding="utf-8")
        check_feature_count(count_features(target, chosen, source), limits, source)
        frame = _read_dataframe(target, chosen, path, source,
                                encoding.name if suffix in (".shp", ".zip") else None)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError("the layer has no geometry column", source=source, field="geometry")
    return frame, source, encoding


def _read_dataframe(target: str, layer: str | None, path: Path, source: str,
                    encoding: str | None) -> gpd.GeoDataFrame:
    try:
        # pyogrio warns about things like a mixed-type GeoJSON property it leaves as text; the
        # schema check reports what matters, so the warnings only go to the log.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pyogrio.read_dataframe(target, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise _open_error(exc, path, source) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"the text is not UTF-8 (bytes {exc.object[exc.start:exc.start + 2].hex(' ')}); "
                         "save the file as UTF-8", source=source) from None
    for warning in caught:
        logger.warning("%s: %s", source, warning.message)
    return frame


def _zipped_shapefile_encoding(path: Path, inner: str, source: str) -> TextEncoding:
    stem = inner[:-4]
    with zipfile.ZipFile(path) as archive:
        names = {n.lower(): n for n in archive.namelist()}
        dbf = names.get(f"{stem}.dbf".lower())
        cpg = names.get(f"{stem}.cpg".lower())
        if dbf is None:
            raise InputError(f"the Shapefile {inner!r} has no .dbf beside it in the zip", source=source)
        return shapefile_encoding(archive.read(dbf), archive.read(cpg).decode("latin-1") if cpg else None,
                                  source)


def _shapefile_encoding_beside(path: Path, source: str) -> TextEncoding:
    dbf, cpg = path.with_suffix(".dbf"), path.with_suffix(".cpg")
    if not dbf.exists():
        raise InputError("the Shapefile has no .dbf beside it", source=source)
    return shapefile_encoding(dbf.read_bytes(), cpg.read_text("latin-1") if cpg.exists() else None, source)


def _choose_gpkg_layer(path: Path, layer: str | None, source: str) -> str:
    try:
        listed = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise _open_error(exc, path, source) from None
    names = [str(name) for name, _ in listed]
    spatial = [str(name) for name, geometry_type in listed if geometry_type is not None]
    if layer is not None:
        if layer not in names:
            raise InputError(f"no layer {layer!r} (layers: {', '.join(names) or 'none'})",
                             source=source, field="layer")
        return layer
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError("the GeoPackage holds no layer with geometry", source=source, field="layer")
    raise InputError(f"the GeoPackage holds {len(spatial)} layers; pass --layer with one of: "
                     f"{', '.join(spatial)}", source=source, field="layer")


def _choose_zipped_shapefile(path: Path, layer: str | None, source: str) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot open the file: not a readable zip ({exc})", source=source) from None
    shapefiles = [e for e in entries
                  if e.lower().endswith(".shp") and not e.startswith("__MACOSX/")]
    if layer is not None:
        wanted = layer.lower().removesuffix(".shp")
        matches = [e for e in shapefiles
                   if e.lower().removesuffix(".shp") == wanted
                   or Path(e).stem.lower() == wanted]
        if len(matches) != 1:
            raise InputError(f"no Shapefile {layer!r} inside the zip "
                             f"(Shapefiles: {', '.join(shapefiles) or 'none'})",
                             source=source, field="layer")
        return matches[0]
    if not shapefiles:
        raise InputError(f"no Shapefile (.shp) inside the zip (entries: {', '.join(entries) or 'none'})",
                         source=source)
    if len(shapefiles) > 1:
        raise InputError(f"the zip holds {len(shapefiles)} Shapefiles; pass --layer with one of: "
                         f"{', '.join(Path(s).stem for s in shapefiles)}", source=source, field="layer")
    return shapefiles[0]


_COORDINATE_PAIRS = (("lon", "lat"), ("lng", "lat"), ("longitude", "latitude"), ("x", "y"),
                     ("经度", "纬度"))


def _read_csv(path: Path, source: str, limits: ImportLimits) -> tuple[gpd.GeoDataFrame, TextEncoding]:
    """Read a CSV into a frame without CRS, dropping the columns that made the geometry."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _open_error(exc, path, source) from None
    encoding = text_file_encoding(raw, source)
    text = raw.decode("utf-8-sig" if encoding.name == "UTF-8" else "gb18030")
    del raw
    try:
        # Everything as text: the schema decides types, so "0012" or "12.0" are judged, not guessed.
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty", source=source) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse the CSV: {exc}", source=source) from None
    check_feature_count(len(table), limits, source)
    # Blank cells are missing values; object columns keep them as None (not NaN) for the checks.
    table = pd.DataFrame(
        {str(name).strip(): pd.Series([_blank_to_none(v) for v in table[name]], dtype=object)
         for name in table.columns})

    by_lower = {c.lower(): c for c in reversed(table.columns)}
    problems = _Problems(source)
    pair = next(((by_lower[x], by_lower[y]) for x, y in _COORDINATE_PAIRS
                 if x in by_lower and y in by_lower), None)
    if pair is not None:
        geometry = _points_from_columns(table, pair, problems)
        consumed = set(pair)
    elif "wkt" in by_lower or "geometry" in by_lower:
        # geopandas' to_csv writes the WKT in a column named "geometry".
        column = by_lower.get("wkt", by_lower.get("geometry"))
        geometry = _geometries_from_wkt(table, column, problems)
        consumed = {column}
    else:
        names = ", ".join("/".join(p) for p in _COORDINATE_PAIRS)
        raise InputError(f"no coordinates: expected columns {names}, or wkt (or geometry) "
                         f"(columns present: {', '.join(table.columns) or 'none'})",
                         source=source, field="lon")
    problems.raise_if_any()
    return gpd.GeoDataFrame(table.drop(columns=list(consumed)), geometry=geometry), encoding


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    return None if _is_null(value) else value


def _parse_coordinate(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _points_from_columns(table: pd.DataFrame, pair: tuple[str, str],
                         problems: _Problems) -> list[BaseGeometry | None]:
    x_col, y_col = pair
    points: list[BaseGeometry | None] = []
    for position, (x_raw, y_raw) in enumerate(zip(table[x_col], table[y_col], strict=True), start=1):
        x, y = _parse_coordinate(x_raw), _parse_coordinate(y_raw)
        for column, raw, value in ((x_col, x_raw, x), (y_col, y_raw, y)):
            if raw is None:
                problems.add(position, column, "missing coordinate")
            elif value is None:
                problems.add(position, column, f"cannot parse coordinate {_show(raw)}")
        points.append(shapely.Point(x, y) if x is not None and y is not None else None)
    return points


def _geometries_from_wkt(table: pd.DataFrame, column: str,
                         problems: _Problems) -> list[BaseGeometry | None]:
    geometries: list[BaseGeometry | None] = []
    for position, text in enumerate(table[column], start=1):
        geometry = None
        if text is not None:
            try:
                geometry = shapely.from_wkt(text, on_invalid="raise")
            except shapely.errors.ShapelyError:
                problems.add(position, column, f"cannot parse WKT {_show(text)}")
        geometries.append(geometry)
    return geometries


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------

def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def _coerce_str(value: Any) -> str:
    value = _python_scalar(value)
    if isinstance(value, float) and value.is_integer():
        # Numeric columns come back as floats when they hold nulls: 320102001001.0 is a code.
        return str(int(value))
    return str(value).strip()


_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")


def _coerce_int(value: Any) -> int | None:
    """The integer a value stands for, or None if it is not one ("12.5", "abc", True)."""
    value = _python_scalar(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip().split(".")[0])  # not via float: 17-digit counts would lose digits
    return None


def _canonical_columns(frame: pd.DataFrame, schema: LayerSchema, shapefile: bool) -> dict[str, str]:
    """Map each source column to its schema name (matched case-insensitively)."""
    present = [c for c in frame.columns if c != frame.geometry.name]
    exact = set(present)
    renames: dict[str, str] = {}
    for name in schema.columns:
        if name in exact:
            continue
        aliases = {name.lower()}
        if shapefile and len(name) > SHAPEFILE_MAX_FIELD:
            # dBase truncates field names to 10 characters: community_code → community_.
            aliases.add(name[:SHAPEFILE_MAX_FIELD].lower())
        match = next((c for c in present if c.lower() in aliases and c not in renames), None)
        if match is not None:
            renames[match] = name
    return renames


def _validate(raw: gpd.GeoDataFrame, schema: LayerSchema, source: str, *,
              shapefile: bool) -> tuple[gpd.GeoDataFrame, list[Repair]]:
    frame = raw.rename(columns=_canonical_columns(raw, schema, shapefile))
    geometry_name = frame.geometry.name
    problems = _Problems(source)
    present = [c for c in frame.columns if c != geometry_name]
    if len(frame) == 0:
        # An empty layer (no walls, say) is not an error, and GDAL reports no columns for it.
        logger.warning("%s: the layer has no features", source)
    for name in schema.required:
        if name not in frame.columns and len(frame) > 0:
            problems.add(None, name, f"missing required column '{name}' "
                                     f"(columns present: {', '.join(present) or 'none'})")
    problems.raise_if_any()

    rows = range(1, len(frame) + 1)
    columns: dict[str, Any] = {}
    for name, kind in schema.columns.items():
        required = name in schema.required
        if name not in frame.columns:
            columns[name] = pd.Series([None] * len(frame), dtype="Int64" if kind is int else object)
            continue
        values = []
        for row, value in zip(rows, frame[name], strict=True):
            values.append(_check_value(value, row, name, kind, required, schema, problems))
        if kind is int:
            # Required counts are plain int64 (None only appears when a problem will be raised).
            columns[name] = pd.Series(values, dtype="int64" if required and None not in values else "Int64")
        else:
            columns[name] = pd.Series(values, dtype=object)

    geometries, repairs = _check_geometries(frame.geometry, schema.geometry, problems)
    problems.raise_if_any()

    extras = [c for c in frame.columns if c not in schema.columns and c != geometry_name]
    if SOURCE_ROW in extras:
        logger.warning("%s: column %r is replaced by the feature number", source, SOURCE_ROW)
        extras.remove(SOURCE_ROW)
    data = pd.DataFrame(columns)
    for name in extras:
        data[name] = frame[name].reset_index(drop=True)
    data[SOURCE_ROW] = np.arange(1, len(frame) + 1, dtype="int64")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometries), crs=frame.crs), repairs


def _check_value(value: Any, row: int, name: str, kind: type, required: bool, schema: LayerSchema,
                 problems: _Problems) -> Any:
    if _is_null(value):
        if required:
            problems.add(row, name, f"required value is null ({_show(value)})")
        return None
    if kind is int:
        number = _coerce_int(value)
        if number is None:
            problems.add(row, name, f"not an integer: {_show(value)}")
        elif number < 0:
            problems.add(row, name, f"negative count: {number}")
            number = None
        elif number > INT_MAX:
            problems.add(row, name, f"implausibly large: {number} (at most {INT_MAX})")
            number = None
        return number
    text = _coerce_str(value)
    if name in schema.max_lengths and len(text) > schema.max_lengths[name]:
        problems.add(row, name, f"too long: {_show(value)} has {len(text)} characters, at most "
                                f"{schema.max_lengths[name]}")
    if name in schema.choices:
        allowed = schema.choices[name]
        text = text.lower()
        if text not in allowed:
            problems.add(row, name, f"unknown value {_show(value)} (expected one of: "
                                    f"{', '.join(sorted(allowed))})")
    if name in schema.patterns and not re.fullmatch(schema.patterns[name], text):
        problems.add(row, name, f"bad code {_show(value)}: expected 12 digits "
                                f"(statistical division code 统计用区划代码)")
    return text


def _check_geometries(series: gpd.GeoSeries, family: GeometryFamily,
                      problems: _Problems) -> tuple[list[BaseGeometry | None], list[Repair]]:
    allowed = _FAMILY_TYPES[family]
    geometries: list[BaseGeometry | None] = []
    repairs: list[Repair] = []
    # Imported layers are planar; Z from PolygonZ exports would only confuse storage.
    values = shapely.force_2d(np.asarray(series.array, dtype=object))
    for row, geometry in enumerate(values, start=1):
        if geometry is None:
            problems.add(row, "geometry", "no geometry (null)")
        elif geometry.is_empty:
            problems.add(row, "geometry", "empty geometry")
        else:
            if family == "point" and geometry.geom_type == "MultiPoint" and len(geometry.geoms) == 1:
                geometry = geometry.geoms[0]
            if geometry.geom_type not in allowed:
                problems.add(row, "geometry", f"expected a {family}, got {geometry.geom_type}")
            elif not shapely.is_valid(geometry):
                geometry = _repair(geometry, row, family, repairs, problems)
            geometries.append(geometry)
            continue
        geometries.append(None)
    return geometries, repairs


def _repair(geometry: BaseGeometry, row: int, family: GeometryFamily, repairs: list[Repair],
            problems: _Problems) -> BaseGeometry | None:
    reason = shapely.is_valid_reason(geometry)
    if family == "point" or not np.all(np.isfinite(shapely.get_coordinates(geometry))):
        problems.add(row, "geometry", f"invalid geometry ({reason})")
        return None
    fixed = shapely.make_valid(geometry)
    parts = [p for p in shapely.get_parts(fixed) for p in _atomic_parts(p)]
    kept = [p for p in parts if p.geom_type in _FAMILY_TYPES[family] and not p.is_empty]
    if not kept:
        problems.add(row, "geometry", f"invalid geometry ({reason}) and repair left no {family}")
        return None
    dropped = len(parts) - len(kept)
    action = "make_valid" if dropped == 0 else f"dropped {dropped} non-{family} parts"
    repairs.append(Repair(row=row, reason=reason, action=action))
    if len(kept) == 1:
        return kept[0]
    return shapely.MultiPolygon(kept) if family == "polygon" else shapely.MultiLineString(kept)


def _atomic_parts(geometry: BaseGeometry) -> list[BaseGeometry]:
    if geometry.geom_type.startswith("Multi") or geometry.geom_type == "GeometryCollection":
        return [p for part in shapely.get_parts(geometry) for p in _atomic_parts(part)]
    return [geometry]


def _check_storage_range(frame: gpd.GeoDataFrame, source: str) -> None:
    """Catch a wrong CRS: after conversion every coordinate must be a longitude/latitude."""
    bounds = shapely.bounds(np.asarray(frame.geometry.array, dtype=object))
    bad = ~((bounds[:, 0] >= -180) & (bounds[:, 2] <= 180) & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90))
    problems = _Problems(source)
    for index in np.flatnonzero(bad)[:MAX_PROBLEMS]:
        row = int(frame[SOURCE_ROW].iloc[index])
        x, y = bounds[index, 0], bounds[index, 1]
        problems.add(row, "geometry", f"coordinates ({x:.6g}, {y:.6g}) in {STORAGE_CRS} are not a "
                                      f"longitude/latitude; is the CRS right? (pass --crs)")
    problems.raise_if_any()


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

_LAYER_NAME = re.compile(r"[^\\/:*?\"<>|\x00-\x1f]+")

#: The GeoPackage version written. The GDAL in pyogrio's wheels (3.12) writes 1.4 by default, which GDAL 3.6
#: (Debian 12's, and the QGIS built on it) opens only with "user_version=0x000028A0 … may only be partially
#: supported"; 1.3 is the newest version it reads silently, and wangge's layers need nothing 1.4 added.
GPKG_VERSION = "1.3"


def write_layers(path: str | os.PathLike[str], layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    """Write layers to one file, atomically.

    Parameters
    ----------
    path
        ``.gpkg`` (all layers), ``.geojson``/``.json`` (exactly one layer) or ``.zip`` (one Shapefile
        per layer, named after the layer; column names must fit in 10 characters).
    layers
        Layer name → frame. Each frame must have a CRS; it is written in that CRS (a GeoJSON in
        another CRS than WGS 84 names it in its top-level ``crs`` member, the only place it can).

    Raises
    ------
    InputError
        For an unsupported extension, no layers, several layers for GeoJSON, a frame without CRS,
        a column name too long for a Shapefile, or a layer the format cannot hold.

    Notes
    -----
    Everything is written in a temporary folder beside ``path`` and moved into place with
    :func:`os.replace`, so a failure leaves neither partial output nor a damaged older file. Empty or
    blank text is written as NULL in every format, and a GeoPackage is version :data:`GPKG_VERSION`.
    """
    path = Path(path)
    source = path.name
    suffix = path.suffix.lower()
    if suffix not in _WRITE_SUFFIXES:
        raise InputError(f"unsupported output type {path.suffix or '(none)'!r} "
                         f"(expected one of: {', '.join(_WRITE_SUFFIXES)})", source=source)
    _check_layers_to_write(layers, suffix, source)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError("cannot write: the folder does not exist", source=source)

    layers = {name: _blank_text_to_null(frame) for name, frame in layers.items()}
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder))
    try:
        target = staging / path.name
        if suffix == ".gpkg":
            with _sqlite_unsynced():
                for name, frame in layers.items():
                    _write_one(frame, target, name, "GPKG", source, dataset_options={"VERSION": GPKG_VERSION})
            _fsync(target)
        elif suffix == ".zip":
            _write_zipped_shapefiles(target, layers, source)
        else:
            (name, frame), = layers.items()
            _write_one(frame, target, name, "GeoJSON", source, **_geojson_options(frame))
        os.replace(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("wrote %d layer(s) to %s", len(layers), source)


_UNSYNCED_LOCK = threading.Lock()
_unsynced_writers = 0
_synchronous_before: str | None = None


@contextmanager
def _sqlite_unsynced() -> Iterator[None]:
    """SQLite without fsync while GDAL writes the staged GeoPackage.

    Every layer is a write of its own, and each waited on several fsyncs (a fifth of a second of the
    old town's 0.27 s write). A staged file half written by a crash is never moved into place, so
    those fsyncs bought nothing: one fsync of the finished file before :func:`os.replace` keeps the
    output durable. GDAL has this only as a process-wide config option, so concurrent writers share
    one setting, and the last one out restores what was there.
    """
    global _unsynced_writers, _synchronous_before
    with _UNSYNCED_LOCK:
        if _unsynced_writers == 0:
            _synchronous_before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
            pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
        _unsynced_writers += 1
    try:
        yield
    finally:
        with _UNSYNCED_LOCK:
            _unsynced_writers -= 1
            if _unsynced_writers == 0:
                pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": _synchronous_before})


def _fsync(path: Path) -> None:
    """Flush ``path`` to disk (what SQLite would have done, once instead of at every commit)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _blank_text_to_null(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with empty or all-blank text values missing, so every format writes them as NULL.

    A DBF cannot tell ``''`` from NULL (a Shapefile reads both back as NULL) while GeoPackage and GeoJSON
    keep ``''``: without this one rule an unnamed grid would be NULL in one export and ``''`` in another.
    The caller's frame is left as it is.
    """
    blanks = {}
    for column in frame.columns:
        series = frame[column]
        if column == frame.geometry.name or not (pd.api.types.is_object_dtype(series)
                                                 or pd.api.types.is_string_dtype(series)):
            continue
        blank = np.fromiter((isinstance(v, str) and not v.strip() for v in series), bool, len(series))
        if blank.any():
            blanks[column] = series.mask(blank)
    return frame.assign(**blanks) if blanks else frame


def _check_layers_to_write(layers: Mapping[str, gpd.GeoDataFrame], suffix: str, source: str) -> None:
    if not layers:
        raise InputError("no layers to write", source=source)
    if suffix in (".geojson", ".json") and len(layers) > 1:
        raise InputError(f"GeoJSON holds one layer, got {len(layers)} ({', '.join(layers)}); "
                         "write a .gpkg or .zip instead", source=source, field="layer")
    seen: set[str] = set()
    for name, frame in layers.items():
        if not isinstance(name, str) or not _LAYER_NAME.fullmatch(name):
            raise InputError(f"bad layer name {name!r}", source=source, field="layer")
        if name.lower() in seen:
            raise InputError(f"duplicate layer name {name!r} (names are case-insensitive)",
                             source=source, field="layer")
        seen.add(name.lower())
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(f"layer {name!r} is a {type(frame).__name__}, not a GeoDataFrame",
                             source=source, field="layer")
        if frame.crs is None:
            raise InputError(f"layer {name!r} has no CRS", source=source, field="crs")
        if suffix == ".zip":
            too_long = [str(c) for c in frame.columns
                        if c != frame.geometry.name and len(str(c)) > SHAPEFILE_MAX_FIELD]
            if too_long:
                raise InputError(f"layer {name!r}: column name(s) longer than {SHAPEFILE_MAX_FIELD} "
                                 f"characters cannot go in a Shapefile: {', '.join(too_long)}",
                                 source=source, field=too_long[0])


def _write_one(frame: gpd.GeoDataFrame, target: Path, layer: str, driver: str, source: str,
               **options: Any) -> None:
    try:
        pyogrio.write_dataframe(frame, target, layer=layer, driver=driver, **options)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        detail = str(exc).replace(str(target), source)
        raise InputError(f"cannot write layer {layer!r}: {detail}", source=source,
                         field="layer") from None


def _geojson_options(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    # In WGS 84 the file is RFC 7946 GeoJSON (no crs member, counter-clockwise outer rings); without the
    # option GDAL names CRS84 in a legacy crs member. Any other CRS keeps that member: it is the only place
    # a GeoJSON can say its CRS, and RFC7946=YES would silently reproject to WGS 84. Degrees get RFC 7946's
    # 7 decimals (1 cm) in any datum, not 15 digits of noise.
    crs = pyproj.CRS(frame.crs)
    if crs.equals("EPSG:4326", ignore_axis_order=True):
        return {"layer_options": {"RFC7946": "YES"}}
    return {"layer_options": {"COORDINATE_PRECISION": "7"}} if crs.is_geographic else {}


def _write_zipped_shapefiles(target: Path, layers: Mapping[str, gpd.GeoDataFrame], source: str) -> None:
    shapes = target.parent / "shapefiles"
    shapes.mkdir()
    for name, frame in layers.items():
        _write_one(frame, shapes / f"{name}.shp", name, "ESRI Shapefile", source, encoding="UTF-8")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in sorted(shapes.iterdir()):
            archive.write(member, arcname=member.name)
