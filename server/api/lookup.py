"""Find the grid: ``/api/v1/lookup/*`` (point, batch, address) and the public ``/lookup`` page.

Thin routes over :mod:`server.services.lookup`; no sign-in needed — published staff contacts are the only personal
data these answers hold.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from server.errors import BadRequest
from server.services.lookup import lookup_service, parse_coordinate, parse_date, parse_lookup_crs

lookup = Blueprint("lookup", __name__)


@lookup.get("/api/v1/lookup/point")
def lookup_point():
    """The grid, micro-grid, community, township and published staff at one point."""
    lon = parse_coordinate(request.args.get("lon"), "lon", -180.0, 180.0)
    lat = parse_coordinate(request.args.get("lat"), "lat", -90.0, 90.0)
    crs = parse_lookup_crs(request.args.get("crs"))
    on = parse_date(request.args.get("date"))
    geometry = request.args.get("geometry", "").lower() in ("1", "true", "yes")
    return lookup_service(current_app).point(lon, lat, crs, on, geometry=geometry)


@lookup.get("/api/v1/lookup/address")
def lookup_address():
    """Standard addresses matching a typed query, best first, each with its grid and staff."""
    q = request.args.get("q", "")
    if not q.strip():
        raise BadRequest("parameter 'q' is required: the address to search for")
    value = request.args.get("limit", "10")
    if not value.isdigit() or not 1 <= int(value) <= 50:
        raise BadRequest(f"parameter 'limit' must be an integer from 1 to 50; got {value!r}")
    on = parse_date(request.args.get("date"))
    return lookup_service(current_app).search(q, int(value), on)


@lookup.post("/api/v1/lookup/batch")
def lookup_batch():
    """A CSV of points or addresses in, the same CSV with grid columns added out."""
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("parameter 'file' is required: a CSV upload (multipart/form-data)")
    on = parse_date(request.form.get("date"))
    max_rows = int(current_app.config.get("LOOKUP_BATCH_MAX_ROWS", 200_000))
    body = lookup_service(current_app).batch(upload.read(), request.form.get("crs"), on, max_rows=max_rows)
    name = (upload.filename or "lookup.csv").rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".csv") else name
    # An ASCII fallback name plus the RFC 5987 form keeps Chinese file names intact.
    from urllib.parse import quote

    disposition = f"attachment; filename=\"grids.csv\"; filename*=UTF-8''{quote(stem + '-grids.csv')}"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": disposition})


@lookup.get("/lookup")
def lookup_page():
    """The public page: search an address or tap the map, see the grid and whom to call."""
    from server.web.pages import base_layers, render_page

    return render_page("lookup.html", base_layers=base_layers(current_app.config))
