"""One error hierarchy for the web layer and one handler: JSON for the API, a page for the UI.

Each error carries an HTTP status, a stable machine code and a user-safe message. Unexpected
exceptions are logged with their traceback and answered with a generic message: details go to the
log, never to the client.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from gis.errors import InputError

log = logging.getLogger(__name__)


class WanggeError(Exception):
    """Base of errors the web layer answers on purpose."""

    http_status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(WanggeError):
    """The request names something impossible: a bad parameter, file or value."""

    http_status = 400
    code = "bad_request"


class Unauthorized(WanggeError):
    """The request needs a signed-in user (or a valid API token) and has none."""

    http_status = 401
    code = "unauthorized"


class Forbidden(WanggeError):
    """The caller is known but their role or scope does not allow this (or the CSRF token is missing)."""

    http_status = 403
    code = "forbidden"


class NotFound(WanggeError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    http_status = 404
    code = "not_found"


class Conflict(WanggeError):
    """The request is valid but clashes with the current state (stale version, wrong status)."""

    http_status = 409
    code = "conflict"


class ServiceUnavailable(WanggeError):
    """A dependency (the database) is down."""

    http_status = 503
    code = "service_unavailable"


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" or request.accept_mimetypes.best == \
        "application/json"


def _answer(status: int, code: str, message: str, details: dict | None = None):
    if request.path == "/ogc" or request.path.startswith("/ogc/"):
        # OGC API clients parse the OGC exception JSON, never the API envelope nor an HTML page.
        return jsonify({"code": code, "description": message}), status
    if _wants_json():
        body = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message), status


def register_error_handlers(app: Flask) -> None:
    """Install the one handler for every error the app can raise."""

    @app.errorhandler(WanggeError)
    def _wangge_error(exc: WanggeError):
        return _answer(exc.http_status, exc.code, exc.message, exc.details)

    @app.errorhandler(InputError)
    def _input_error(exc: InputError):
        details = {k: v for k, v in (("source", exc.source), ("row", exc.row), ("field", exc.field)) if v is not None}
        return _answer(400, "invalid_input", str(exc), details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _answer(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, "internal_error", "Internal error; it has been logged.")
