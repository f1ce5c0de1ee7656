"""Bounds on every import, for the API's uploads and ``wangge import`` alike.

An uploaded file is checked before anything reads its features (:func:`check_upload`): the zip's member
count and uncompressed size, the feature count, and the text encoding of a Shapefile or GeoJSON (fixed
in place, so any GDAL reader then decodes the names right). Every import also runs under a time budget
(:func:`time_budget`). The caps are settings (``WANGGE_UPLOAD_*`` for the API, ``WANGGE_IMPORT_*`` for
the command line, where an operator imports whole counties).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gis.errors import InputError
from gis.io import (
    ImportLimits,
    LimitExceeded,
    TextEncoding,
    check_feature_count,
    check_zip,
    count_features,
    shapefile_encoding,
    text_file_encoding,
)
from server.errors import BadRequest, WanggeError

log = logging.getLogger(__name__)

#: Defaults of the settings (the API's uploads are drawings of one community: small).
UPLOAD_DEFAULTS = {"UPLOAD_MAX_BYTES": 64 * 2**20, "UPLOAD_MAX_MEMBERS": 64, "UPLOAD_MAX_FEATURES": 20_000,
                   "UPLOAD_TIME_LIMIT": 120}
IMPORT_DEFAULTS = {"IMPORT_MAX_BYTES": 8 * 2**30, "IMPORT_MAX_MEMBERS": 256, "IMPORT_MAX_FEATURES": 10_000_000,
                   "IMPORT_TIME_LIMIT": 3600}


class UploadTooLarge(WanggeError):
    """An upload over a cap (size, members, features or time): 413."""

    http_status = 413
    code = "upload_too_large"


class ImportTimeout(LimitExceeded):
    """An import that ran past its time budget; nothing of it was stored."""


def _setting(config: Mapping, key: str, defaults: Mapping) -> float:
    value = config.get(key) or defaults[key]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"configuration WANGGE_{key} must be a number, got {value!r}") from None


def upload_limits(config: Mapping) -> tuple[ImportLimits, float]:
    """The caps and the time budget (seconds) of an upload through the API."""
    limits = ImportLimits(max_bytes=int(_setting(config, "UPLOAD_MAX_BYTES", UPLOAD_DEFAULTS)),
                          max_members=int(_setting(config, "UPLOAD_MAX_MEMBERS", UPLOAD_DEFAULTS)),
                          max_features=int(_setting(config, "UPLOAD_MAX_FEATURES", UPLOAD_DEFAULTS)))
    return limits, _setting(config, "UPLOAD_TIME_LIMIT", UPLOAD_DEFAULTS)


def import_limits(config: Mapping) -> tuple[ImportLimits, float]:
    """The caps and the time budget (seconds) of ``wangge import``."""
    limits = ImportLimits(max_bytes=int(_setting(config, "IMPORT_MAX_BYTES", IMPORT_DEFAULTS)),
                          max_members=int(_setting(config, "IMPORT_MAX_MEMBERS", IMPORT_DEFAULTS)),
                          max_features=int(_setting(config, "IMPORT_MAX_FEATURES", IMPORT_DEFAULTS)))
    return limits, _setting(config, "IMPORT_TIME_LIMIT", IMPORT_DEFAULTS)


# -- the time budget ------------------------------------------------------------------------------------

class _OutOfTime(BaseException):
    """Raised into a thread whose budget ran out (a BaseException, so no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def time_budget(seconds: float, what: str = "the import", source: str | None = None) -> Iterator[None]:
    """Stop the block with :class:`ImportTimeout` when it runs longer than ``seconds``.

    A watchdog thread raises into the block's thread at the deadline, which works in any thread (a
    gunicorn gthread worker serves requests off the main thread, where ``signal.alarm`` cannot reach).
    The exception lands between two Python bytecodes, so a long C call (a GEOS operation, one SQL
    statement) finishes first: statements get their own ``statement_timeout`` for that reason. A
    transaction open in the block is rolled back by the exception like by any other.
    """
    if seconds <= 0:
        yield
        return
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(_OutOfTime))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except _OutOfTime:
        raise ImportTimeout(f"{what} took longer than its time budget of {seconds:g} s; nothing was stored",
                            limit="time", source=source) from None
    finally:
        with lock:
            state["done"] = True
            timer.cancel()
            if state["fired"]:
                # Fired just as the block ended: take back the exception not yet delivered.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)


def deadline_left(started: float, seconds: float) -> float:
    """Seconds left of a budget of ``seconds`` started at ``started`` (``time.monotonic``); inf when none."""
    return float("inf") if seconds <= 0 else max(0.0, started + seconds - time.monotonic())


# -- uploads through the API ------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckedUpload:
    """What :func:`check_upload` found: the features and the text encoding."""

    features: int
    encoding: TextEncoding | None


def check_upload(path: Path, config: Mapping) -> CheckedUpload:
    """Check an uploaded drawing against the upload caps and make its text encoding explicit.

    A zipped Shapefile gets a ``.cpg`` naming the encoding found (the one its ``.cpg`` says when the
    text is valid in it, else UTF-8, else GB18030); a GeoJSON in GB18030 is rewritten as UTF-8.

    Raises
    ------
    UploadTooLarge
        Over a cap (413), naming the cap.
    BadRequest
        Unreadable, or text in no known encoding (400), naming the file, feature and field.
    """
    limits, _ = upload_limits(config)
    source = path.name
    try:
        encoding = _normalise_encoding(path, limits, source)
        if path.suffix.lower() == ".zip":
            targets = [f"/vsizip/{path}/{name}" for name in _zipped_shapefiles(path)] or [f"/vsizip/{path}"]
        else:
            targets = [str(path)]
        # Every layer counts: a reader may take any of them.
        features = sum(count_features(target, layer, source) for target in targets
                       for layer in _layers(target, source))
        check_feature_count(features, limits, source)
    except LimitExceeded as exc:
        raise too_large(exc) from None
    except InputError as exc:
        raise BadRequest(f"上传的文件无法读取 / {exc}") from None
    if encoding is not None and encoding.note:
        log.info("%s: %s", source, encoding.note)
    return CheckedUpload(features=features, encoding=encoding)


@contextlib.contextmanager
def upload_budget(config: Mapping) -> Iterator[None]:
    """Run an API import under the upload time budget; a broken cap inside becomes a 413."""
    _, seconds = upload_limits(config)
    try:
        with time_budget(seconds, "the upload"):
            yield
    except LimitExceeded as exc:
        raise too_large(exc) from None


def too_large(exc: LimitExceeded) -> UploadTooLarge:
    """The 413 answer for a broken cap."""
    words = {"bytes": "文件解压后过大", "members": "压缩包内文件过多", "features": "要素过多",
             "time": "导入超时"}
    return UploadTooLarge(f"{words.get(exc.limit, '文件过大')} / {exc}", details={"limit": exc.limit})


def _normalise_encoding(path: Path, limits: ImportLimits, source: str) -> TextEncoding | None:
    suffix = path.suffix.lower()
    if suffix != ".zip" and path.stat().st_size > limits.max_bytes:
        raise LimitExceeded(f"the file holds {path.stat().st_size:,} bytes; at most {limits.max_bytes:,} "
                            "are accepted", limit="bytes", source=source)
    if suffix in (".geojson", ".json"):
        raw = path.read_bytes()
        encoding = text_file_encoding(raw, source)
        if encoding.name != "UTF-8":
            path.write_text(raw.decode("gb18030"), encoding="utf-8")
        return encoding
    if suffix != ".zip":
        return None
    check_zip(path, limits, source)
    return _fix_zipped_cpg(path, source)


def _fix_zipped_cpg(path: Path, source: str) -> TextEncoding | None:
    """Find each zipped Shapefile's encoding and write it into its ``.cpg`` (rewriting the zip)."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        lower = {n.lower(): n for n in names}
        found: dict[str, TextEncoding] = {}
        for dbf in (n for n in names if n.lower().endswith(".dbf") and not n.startswith("__MACOSX/")):
            stem = dbf[:-4]
            cpg = lower.get(f"{stem}.cpg".lower())
            found[stem] = shapefile_encoding(archive.read(dbf),
                                             archive.read(cpg).decode("latin-1") if cpg else None, source)
        if not found:
            return None
        rewritten = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as out:
            for name in names:
                if name.lower().endswith(".cpg") and name[:-4] in found:
                    continue
                out.writestr(archive.getinfo(name), archive.read(name))
            for stem, encoding in found.items():
                out.writestr(f"{stem}.cpg", encoding.name)
    rewritten.replace(path)
    return next(iter(found.values()))


def _zipped_shapefiles(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return [n for n in archive.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX/")]


def _layers(target: str, source: str) -> list[str]:
    import pyogrio

    try:
        return [str(name) for name, _ in pyogrio.list_layers(target)]
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"cannot open the file: {str(exc).replace(target, source)}", source=source) from None
