"""One error hierarchy for the web layer and one handler: JSON for the API, a page for the UI.

Each error carries an HTTP status, a stable machine code and a user-safe message. Unexpected
exceptions are logged with their traceback and answered with a generic message: details go to the
log, never to the client.
"""

from __future__ import annotations

import logging
import math

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

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


class PayloadTooLarge(WanggeError):
    """The request body is larger (or a JSON body deeper) than the configured limit."""

    http_status = 413
    code = "payload_too_large"


class TooManyRequests(WanggeError):
    """A client went over a rate limit; ``retry_after`` seconds say when it may try again."""

    http_status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: float, details: dict | None = None) -> None:
        super().__init__(message, details={"retry_after": math.ceil(retry_after), **(details or {})})
        self.retry_after = math.ceil(retry_after)


class ServiceUnavailable(WanggeError):
    """A dependency (the database) is down."""

    http_status = 503
    code = "service_unavailable"


#: Seconds a client is told to wait when the database is down (a restart or fail-over takes about that).
RETRY_AFTER_DOWN = 30


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


def database_down(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (not that a statement was wrong)."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        # Connection refused, the server shut down or restarted, too many clients: all "try again later".
        # psycopg reports them as OperationalError without a SQLSTATE, or in classes 08 and 57P.
        state = getattr(exc.orig, "sqlstate", None) or ""
        return not state or state.startswith(("08", "57P", "53"))
    return False


def _with_headers(answer, headers: dict[str, str]):
    from flask import current_app

    response = current_app.make_response(answer)
    response.headers.update(headers)
    return response


def _database_error(exc: Exception):
    if database_down(exc):
        log.error("database unavailable on %s %s: %s", request.method, request.path, exc.__class__.__name__)
        return _with_headers(_answer(503, "service_unavailable", "数据库暂时不可用，请稍后再试 / the database is "
                                     "unavailable; try again shortly"), {"Retry-After": str(RETRY_AFTER_DOWN)})
    if isinstance(exc, DataError):
        # A value PostgreSQL cannot hold (a number out of range, an invalid byte) slipped past the parsers:
        # the caller's input, not our fault; logged so the missing parser gets added.
        log.warning("database refused a value on %s %s: %s", request.method, request.path, exc.orig)
        return _answer(400, "invalid_input", "输入的值超出范围或无法保存 / a value is out of range or cannot be stored")
    return _unexpected_answer(exc)


def _unexpected_answer(exc: Exception):
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return _answer(500, "internal_error", "Internal error; it has been logged.")


def _http_answer(exc: HTTPException):
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    if isinstance(exc, RequestEntityTooLarge):
        from flask import current_app

        limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return _answer(413, "payload_too_large", f"上传内容超过 {limit} MB 上限 / the request body is larger than "
                       f"the {limit} MB limit (WANGGE_MAX_UPLOAD_MB)", {"limit_mb": limit})
    headers = {}
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    answer = _answer(status, code, exc.description or "")
    return _with_headers(answer, headers) if headers else answer


def register_error_handlers(app: Flask) -> None:
    """Install the one handler for every error the app can raise."""

    @app.errorhandler(WanggeError)
    def _wangge_error(exc: WanggeError):
        answer = _answer(exc.http_status, exc.code, exc.message, exc.details)
        if isinstance(exc, TooManyRequests):
            return _with_headers(answer, {"Retry-After": str(exc.retry_after)})
        if isinstance(exc, ServiceUnavailable):
            return _with_headers(answer, {"Retry-After": str(RETRY_AFTER_DOWN)})
        return answer

    @app.errorhandler(InputError)
    def _input_error(exc: InputError):
        details = {k: v for k, v in (("source", exc.source), ("row", exc.row), ("field", exc.field)) if v is not None}
        return _answer(400, "invalid_input", str(exc), details)

    app.register_error_handler(HTTPException, _http_answer)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(PoolTimeout, _database_error)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, DBAPIError | PoolTimeout) and database_down(cause):
            return _database_error(cause)  # wrapped by a service: still "down", not a bug
        return _unexpected_answer(exc)
