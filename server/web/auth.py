"""Sign-in for the web: sessions, the request's user, CSRF, the login throttle and the login routes.

The rules live elsewhere: roles, scopes and :func:`~server.services.permissions.can` in
:mod:`server.services.permissions`; passwords, tokens and user records in :mod:`server.services.users`.
This module applies them to requests.

Sessions
--------
Browsers sign in at ``/login``. The signed cookie (HttpOnly, SameSite=Lax, Secure with
``WANGGE_SECURE_COOKIES``) holds a random session id; the server keeps the id's SHA-256 in
``user_session``. Signing out, disabling the user, a password change or an admin's "end sessions"
deletes the row, so every copy of the cookie stops working at once, on every app instance, and
sessions survive a restart. A session ends after ``WANGGE_SESSION_HOURS`` idle hours.

Scripts send ``Authorization: Bearer <token>`` with a token from ``wangge user token`` (it expires,
has a name, records when it was last used, and can be revoked). Every unsafe request (POST, PUT,
PATCH, DELETE) that is not authenticated by a bearer token must carry the session's CSRF token, as
form field ``csrf_token`` or header ``X-CSRF-Token`` (pages find it in ``<meta name="csrf-token">``).
An unsafe request with no session at all is answered 401 (sign in first); one with a session but
without its token 403 ``csrf_failed``.

Throttling
----------
Failed sign-ins count per user name and per client address in :class:`server.store.limits.RateLimiter`
(PostgreSQL, shared by every worker): after ``WANGGE_LOGIN_LIMIT`` (5 per 900 s) failures for one of
them, ``/login`` answers 429 with ``Retry-After`` until the window ends. Behind a reverse proxy the
address is the proxy's unless ``WANGGE_PROXY_HOPS`` is set (see SECURITY.md).
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, redirect, request, session, url_for

from server.access import (
    app_engine,
    bearer_token,
    current_user,
    request_actor,
    require,
    require_login,
    require_permission,
    session_id,
)
from server.errors import Forbidden, TooManyRequests, Unauthorized
from server.services import users as users_service
from server.services.limits import RateLimiter
from server.services.permissions import ACTIONS, can
from server.services.users import User, audit, set_actor_source

# -- CSRF -------------------------------------------------------------------------------------------

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class CsrfError(Forbidden):
    """An unsafe request came without the session's CSRF token."""

    code = "csrf_failed"


def csrf_token() -> str:
    """The session's CSRF token (made on first use); put it in forms and in ``X-CSRF-Token`` headers."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return session[CSRF_FIELD]


#: POSTs that read or report without any authority of the caller's session (the batch lookup, a public
#: event report): a forged one gains the forger nothing, and scripts must be able to call them.
CSRF_EXEMPT_PATHS = frozenset({"/api/v1/lookup/batch", "/api/v1/public/events"})
#: Where a browser without any session may post (it got its token with the form).
_LOGIN_PATHS = frozenset({"/login"})


def _csrf_protect() -> None:
    if request.routing_exception is not None:
        return  # no such route or method: the 404/405 (with Allow) says more than a 401 would
    if request.method in _SAFE_METHODS or request.path in CSRF_EXEMPT_PATHS:
        return
    if bearer_token() is not None:
        current_user()  # an invalid token is refused here, before the view runs
        return  # no cookie, no ambient authority to abuse: CSRF does not apply
    expected = session.get(CSRF_FIELD)
    if not expected and request.path not in _LOGIN_PATHS:
        # No session at all: the caller is simply not signed in; 403 would send them looking for a token.
        raise Unauthorized("sign in first (or send an API token as 'Authorization: Bearer <token>')")
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError(f"the CSRF token is missing or wrong: reload the page, or send the session's token as "
                        f"form field '{CSRF_FIELD}' or header '{CSRF_HEADER}' (scripts: use an API token)")


# -- rate limits ------------------------------------------------------------------------------------

#: The configuration key (``COUNT/SECONDS``) of each limiter.
#: Limiters whose hits are shared in batches (seconds between two flushes per process): the point and
#: address lookups, hundreds a second in a busy week, where a round trip per hit was most of the tail.
BATCHED_LIMITS = {"lookup": 0.25}

LIMIT_SETTINGS = {"login": "LOGIN_LIMIT", "public_report": "PUBLIC_REPORT_LIMIT", "lookup": "LOOKUP_LIMIT",
                  "lookup_batch": "LOOKUP_BATCH_LIMIT"}


def rate_limiter(name: str, app: Flask | None = None) -> RateLimiter:
    """The app's limiter ``name`` (see :data:`LIMIT_SETTINGS`), shared by every worker through the database."""
    app = app or current_app
    key = f"wangge.limit.{name}"
    if key not in app.extensions:
        from server import engine_of

        setting = LIMIT_SETTINGS[name]
        app.extensions[key] = RateLimiter.from_setting(engine_of(app), name, app.config[setting], setting,
                                                       flush_every=BATCHED_LIMITS.get(name, 0.0))
    return app.extensions[key]


def login_throttle(app: Flask | None = None) -> RateLimiter:
    """The app's throttle of failed sign-ins."""
    return rate_limiter("login", app)


def client_address() -> str:
    """The client's address (the proxy's own unless ``WANGGE_PROXY_HOPS`` trusts its X-Forwarded-For)."""
    return request.remote_addr or "unknown"


#: Anonymous endpoints and the limiter that counts their calls per client address.
ANONYMOUS_LIMITS = {"lookup.lookup_point": "lookup", "lookup.lookup_address": "lookup",
                    "lookup.lookup_batch": "lookup_batch"}


def limit_anonymous_clients() -> None:
    """Refuse an anonymous client over its limit on the endpoints of :data:`ANONYMOUS_LIMITS` (429)."""
    name = ANONYMOUS_LIMITS.get(request.endpoint or "")
    if name is None or request.routing_exception is not None or current_user() is not None:
        return
    wait = rate_limiter(name).hit(client_address())
    if wait > 0:
        raise TooManyRequests(f"查询过于频繁，请 {int(wait) + 1} 秒后再试 / too many lookups from this address; "
                              f"try again in {int(wait) + 1} s", retry_after=wait)


# -- pages: /login and /logout ----------------------------------------------------------------------

auth = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(value: str | None) -> str:
    # Only same-site paths: '/x' yes; '//evil.example', 'https://…' and '\\evil' would be open redirects.
    # With none, /home sends each role to its own work (server/web/navigation.py).
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/home"
    parts = urlsplit(value)
    return "/home" if parts.scheme or parts.netloc else value


def _login_page(next_url: str, *, error: str | None = None, status: int = 200, username: str = "",
                **values: Any):
    from server.web.i18n import current_language, translate
    from server.web.pages import render_page

    message = translate(error, current_language()).format(**values) if error else None
    response = render_page("login.html", next_url=next_url, error=message, username=username)
    response.status_code = status
    return response


@auth.get("/login")
def login_form():
    """The sign-in form (Chinese by default, ``?lang=en`` for English)."""
    next_url = _safe_next(request.args.get("next"))
    if current_user() is not None:
        return redirect(next_url, 303)
    return _login_page(next_url)


def _throttled(next_url: str, username: str, address: str, wait: float):
    with app_engine().begin() as conn:
        audit(conn, "login_throttled", "app_user", None, None, {"username": username, "ip": address},
              actor="anonymous")
    response = _login_page(next_url, error="login_throttled", status=429, username=username,
                           minutes=math.ceil(wait / 60))
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def start_session(user: User) -> None:
    """Start a fresh server-side session for ``user`` (new id and CSRF token: no session fixation)."""
    sid = secrets.token_urlsafe(32)
    with app_engine().begin() as conn:
        users_service.open_session(conn, user, sid, client_address(), request.headers.get("User-Agent"))
    session.clear()
    session.permanent = True
    session["sid"] = sid
    session["pwfp"] = users_service.password_fingerprint(user.password_hash)
    csrf_token()
    g.wangge_user = user


@auth.post("/login")
def login():
    """Check the form's user name and password; on success start a fresh session and go to ``next``."""
    next_url = _safe_next(request.form.get("next"))
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    if not username or not password:
        return _login_page(next_url, error="login_missing", status=400, username=username)
    address = client_address()
    keys = ["user:" + username.casefold(), "ip:" + address]
    throttle = login_throttle()
    wait = throttle.retry_after(keys)
    if wait > 0:
        return _throttled(next_url, username, address, wait)
    with app_engine().begin() as conn:
        user, ok = users_service.sign_in(conn, username, password, address)
    if not (ok and user.active):
        throttle.count(keys)
        if ok:  # the right password for a disabled account: say so, it reveals nothing to a guesser
            return _login_page(next_url, error="login_disabled", status=403, username=username)
        return _login_page(next_url, error="login_failed", status=401, username=username)
    throttle.reset(keys[0])  # not the address: one own account must not reset an attacker's per-address count
    start_session(user)
    return redirect(next_url, 303)


def end_session() -> None:
    """End this request's session on the server and in the cookie."""
    sid = session_id()
    if sid is not None:
        with app_engine().begin() as conn:
            users_service.close_session(conn, sid)
    session.clear()
    g.wangge_user = None


@auth.post("/logout")
def logout():
    """End the session on the server (CSRF-protected like every POST) and go to the map."""
    user = current_user()
    if user is not None:
        with app_engine().begin() as conn:
            audit(conn, "logout", "app_user", user.id, None, None, user=user)
    end_session()
    return redirect(url_for("pages.county_map"), 303)


# -- wiring -----------------------------------------------------------------------------------------

def _unauthorized(exc: Unauthorized):
    from server.errors import _answer, _wants_json

    if not _wants_json() and request.method == "GET":
        path = request.full_path.rstrip("?") if request.query_string else request.path
        return redirect(url_for("auth.login_form", next=path), 303)
    response, status = _answer(exc.http_status, exc.code, exc.message, exc.details)
    response = current_app.make_response((response, status))
    response.headers["WWW-Authenticate"] = 'Bearer realm="wangge"'
    return response


def init_app(app: Flask) -> None:
    """Install sessions, CSRF, the throttle, the template helpers and the sign-in pages on ``app``."""
    app.secret_key = app.config["SECRET_KEY"]
    app.config.update(
        SESSION_COOKIE_NAME="wangge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(app.config.get("SECURE_COOKIES")),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=int(app.config.get("SESSION_HOURS") or 8)),
    )
    set_actor_source(request_actor)
    app.before_request(_csrf_protect)
    app.before_request(limit_anonymous_clients)
    app.register_error_handler(Unauthorized, _unauthorized)
    # Functions, not values: only templates that show the user pay for loading it.
    app.context_processor(lambda: {"current_user": current_user, "csrf_token": csrf_token})
    app.register_blueprint(auth)


__all__ = ["ACTIONS", "CSRF_FIELD", "CSRF_HEADER", "CsrfError", "can", "client_address", "csrf_token",
           "current_user", "end_session", "init_app", "login_throttle", "rate_limiter", "require", "require_login",
           "require_permission", "start_session"]
