"""Find the grid: ``/api/v1/lookup/*`` (point, batch, address) and the public ``/lookup`` page.

Thin routes over :mod:`server.services.lookup`; no sign-in needed — published staff contacts are the only personal
data these answers hold. Anonymous callers are limited per client address (``WANGGE_LOOKUP_LIMIT``,
``WANGGE_LOOKUP_BATCH_LIMIT``, counted in PostgreSQL so the limit holds across workers); signed-in users and
API tokens are not (the hook is :func:`server.web.auth.limit_anonymous_clients`).

Point and address answers from approved divisions are cacheable (:func:`server.caching.public_cache`) for
:data:`CACHE_SECONDS`; their ETag mixes in the directory signature the answer came from and the query, so
an approval (or a staff change) gives a new one. An answer that shows a draft is ``no-store``.

The batch lookup streams: the upload (spooled to disk by werkzeug above 500 kB, and refused above
``WANGGE_MAX_UPLOAD_MB``) is counted, then looked up and answered :data:`BATCH_CHUNK_ROWS` rows at a
time, so a worker holds one chunk in memory, never the whole file. ``WANGGE_LOOKUP_BATCH_MAX_ROWS`` caps
the rows of one batch.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request

from server.api import params
from server.caching import no_store, public_cache
from server.errors import BadRequest
from server.services.lookup import from_approved, lookup_service, parse_coordinate, parse_date, parse_lookup_crs

lookup = Blueprint("lookup", __name__)

#: Rows looked up and written per step of a batch (bounds the memory of one request).
BATCH_CHUNK_ROWS = 5000
#: How long a cache may serve a lookup answer: the public may see an approval up to this much later.
CACHE_SECONDS = 60


def _validator() -> tuple:
    # The directory the answer came from, and the question (the body has only the rounded point).
    return lookup_service(current_app).signature, sorted(request.args.items(multi=True))


def _cacheable(answer: dict):
    """Only answers from approved divisions may be kept by a cache; one that shows a draft may not."""
    return answer if from_approved(answer) else no_store(answer)


@lookup.get("/api/v1/lookup/point")
@public_cache(CACHE_SECONDS, validator=_validator)
def lookup_point():
    """The grid, micro-grid, community, township and published staff at one point."""
    lon = parse_coordinate(request.args.get("lon"), "lon", -180.0, 180.0)
    lat = parse_coordinate(request.args.get("lat"), "lat", -90.0, 90.0)
    crs = parse_lookup_crs(request.args.get("crs"))
    on = parse_date(request.args.get("date"))
    geometry = request.args.get("geometry", "").lower() in ("1", "true", "yes")
    return _cacheable(lookup_service(current_app).point(lon, lat, crs, on, geometry=geometry))


@lookup.get("/api/v1/lookup/address")
@public_cache(CACHE_SECONDS, validator=_validator)
def lookup_address():
    """Standard addresses matching a typed query, best first, each with its grid and staff."""
    q = params.text(request.args.get("q"), "q", max_length=200, required=True)
    limit = params.integer(request.args.get("limit"), "limit", minimum=1, maximum=50, default=10)
    on = parse_date(request.args.get("date"))
    return _cacheable(lookup_service(current_app).search(q, limit, on))


def _encoding_of(stream) -> str:
    # UTF-8 (with or without BOM) when every byte decodes, else GBK/GB18030; read in blocks, never whole.
    for encoding, name in (("utf-8", "utf-8-sig"), ("gb18030", "gb18030")):
        decoder = codecs.getincrementaldecoder(encoding)()
        stream.seek(0)
        try:
            for block in iter(lambda: stream.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return name
        except UnicodeDecodeError:
            continue
        finally:
            stream.seek(0)
    raise BadRequest("parameter 'file' is neither UTF-8 nor GBK text")


def _csv_rows(stream, encoding: str) -> Iterator[list[str]]:
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        yield from csv.reader(text)
    except csv.Error as exc:
        raise BadRequest(f"parameter 'file' is not a readable CSV: {exc}") from None
    finally:
        text.detach()  # the upload's stream belongs to werkzeug


def _chunks(stream, encoding: str) -> Iterator[bytes]:
    # The CSV again, BATCH_CHUNK_ROWS rows (plus the header) at a time, as UTF-8 for the service.
    rows = _csv_rows(stream, encoding)
    header = next(rows, None)
    buffer, writer, count = io.StringIO(), None, 0
    for row in rows:
        if writer is None:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
        writer.writerow(row)
        count += 1
        if count == BATCH_CHUNK_ROWS:
            yield buffer.getvalue().encode()
            writer, count = None, 0
    if writer is not None:
        yield buffer.getvalue().encode()


def _count_rows(stream, encoding: str, max_rows: int) -> int:
    with closing(_csv_rows(stream, encoding)) as rows:  # closed (reader detached) before any raise
        header = next(rows, None)
        if header is None or not "".join(header).strip():
            raise BadRequest("parameter 'file' is empty")
        count = 0
        for _ in rows:
            count += 1
            if count > max_rows:
                raise BadRequest(f"parameter 'file' has more than {max_rows:,} rows; at most {max_rows:,} per "
                                 f"batch (WANGGE_LOOKUP_BATCH_MAX_ROWS)")
    return count


@lookup.post("/api/v1/lookup/batch")
def lookup_batch():
    """A CSV of points or addresses in, the same CSV with grid columns added out (streamed)."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("parameter 'file' is required: a CSV upload (multipart/form-data)")
    on = parse_date(request.form.get("date"))
    crs = request.form.get("crs")
    parse_lookup_crs(crs)  # a bad crs is a 400 now, not a broken stream later
    service = lookup_service(current_app)
    # A file of our own on disk: werkzeug closes the upload when the request ends, before the answer has
    # been streamed.
    stream = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the answer is done
    try:
        shutil.copyfileobj(upload.stream, stream, 1 << 20)
        encoding = _encoding_of(stream)
        if _count_rows(stream, encoding, current_app.config["LOOKUP_BATCH_MAX_ROWS"]) == 0:
            chunks = iter([_header_only(stream, encoding)])
        else:
            chunks = _chunks(stream, encoding)
        first = service.batch(next(chunks), crs, on)  # header problems are a 400 before anything is sent
    except BaseException:
        stream.close()
        raise

    def body() -> Iterator[bytes]:
        try:
            yield first
            for chunk in chunks:
                answer = service.batch(chunk, crs, on)
                yield answer[answer.index(b"\n") + 1:]  # the header (and BOM) once, at the top
        finally:
            if hasattr(chunks, "close"):
                chunks.close()  # its text reader lets go of the file first
            stream.close()
    name = (upload.filename or "lookup.csv").rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".csv") else name
    # An ASCII fallback name plus the RFC 5987 form keeps Chinese file names intact.
    disposition = f"attachment; filename=\"grids.csv\"; filename*=UTF-8''{quote(stem + '-grids.csv')}"
    return Response(body(), mimetype="text/csv", headers={"Content-Disposition": disposition})


def _header_only(stream, encoding: str) -> bytes:
    buffer = io.StringIO()
    with closing(_csv_rows(stream, encoding)) as rows:
        csv.writer(buffer, lineterminator="\n").writerow(next(rows))
    return buffer.getvalue().encode()
