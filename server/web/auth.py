"""Users, roles, scopes and sign-in: the permission API every other module calls.

Roles and scopes
----------------
A user has one role and, except ``admin``, one scope: the code of the area (or grid) the role applies
to. Areas nest by code prefix (GB/T 2260 + 统计用区划代码, grids after Beijing DB11):

=========== ====== ===================================================
level       prefix how a code of that level is recognised
=========== ====== ===================================================
province    2      12 digits, the last 10 are zeros (``320000000000``)
city        4      12 digits, the last 8 are zeros (``320400000000``)
county      6      12 digits, the last 6 are zeros (``320499000000``)
township    9      12 digits, the last 3 are zeros (``320499001000``)
community   12     12 digits, the last 3 are not all zeros
grid        15     15 digits (community code + grid sequence)
micro_grid  17     17 digits (grid code + micro-grid sequence)
=========== ====== ===================================================

An area lies in a scope when its code starts with the scope's prefix (:func:`scope_contains`).

========================= =========================== ====================================================
role                      scope                       may (:func:`can`)
========================= =========================== ====================================================
``admin``                 none (everywhere)           everything
``municipal_reviewer``    a city                      read drafts, review (approve/return), read the audit
                                                      log, read approved data, in the city; never edit
``county_editor``         a county                    read and edit drafts, submit, read approved data
``township_operator``     a township/street           read and edit drafts, read approved data
``grid_staff``            a community or grid         read approved data of their grid(s) only
anonymous                 —                           nothing here: only the published (public) data,
                                                      which needs no permission check
========================= =========================== ====================================================

``reviewer`` is accepted everywhere as another name of ``municipal_reviewer`` (the name stored, fixed
by the schema's check constraint).

Sign-in
-------
Browsers sign in at ``/login`` and get a signed session cookie (HttpOnly, SameSite=Lax, Secure with
``WANGGE_SECURE_COOKIES``; it ends after ``WANGGE_SESSION_HOURS`` idle hours and when the password
changes). Scripts send ``Authorization: Bearer <token>`` with a token from ``wangge user token``; only
its SHA-256 is stored. Every unsafe request (POST, PUT, PATCH, DELETE) that is not authenticated by a
bearer token must carry the session's CSRF token, as form field ``csrf_token`` or header
``X-CSRF-Token`` (pages find it in ``<meta name="csrf-token">``).

Failed sign-ins are throttled: after 5 failures for one user name, or from one IP address, within 15
minutes, ``/login`` answers 429 until the oldest failure is 15 minutes old. The counts are kept in
memory, per process: each gunicorn worker counts on its own (so with N workers an attacker gets at most
5·N tries per window) and a restart forgets them. That bounds guessing well enough for argon2-hashed
passwords without a table; behind a reverse proxy the IP is the proxy's unless the app is wrapped in
``werkzeug.middleware.proxy_fix.ProxyFix``.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Blueprint, Flask, current_app, g, has_request_context, redirect, request, session, url_for
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.orm import Session

from server.errors import BadRequest, Conflict, Forbidden, Unauthorized
from server.store.models import ROLES, ApiToken, AuditLog, User

# -- roles, levels and scopes -----------------------------------------------------------------------

#: Other names accepted for a role; the value is the name stored.
ROLE_ALIASES = {"reviewer": "municipal_reviewer"}

#: Code prefix length of each level (see the module docstring).
LEVEL_PREFIX = {"province": 2, "city": 4, "county": 6, "township": 9, "community": 12, "grid": 15,
                "micro_grid": 17}

#: The scope levels each role may have; admin has no scope.
ROLE_SCOPE_LEVELS: dict[str, tuple[str, ...]] = {
    "admin": (),
    "municipal_reviewer": ("city",),
    "county_editor": ("county",),
    "township_operator": ("township",),
    "grid_staff": ("community", "grid", "micro_grid"),
}

#: What :func:`can` decides. ``read_approved`` is approved data beyond the published view (household
#: counts per building, unpublished staff contacts); the published view needs no check.
ACTIONS = ("read_approved", "read_draft", "edit_draft", "submit", "review", "admin", "read_audit", "manage_staff")

#: Which actions each role has inside its scope (admin: all, everywhere).
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(ACTIONS),
    "municipal_reviewer": frozenset({"read_approved", "read_draft", "review", "read_audit"}),
    "county_editor": frozenset({"read_approved", "read_draft", "edit_draft", "submit", "manage_staff"}),
    "township_operator": frozenset({"read_approved", "read_draft", "edit_draft", "manage_staff"}),
    "grid_staff": frozenset({"read_approved"}),
}


def normalise_role(role: str) -> str:
    """The stored name of ``role`` (``reviewer`` → ``municipal_reviewer``), or ValueError naming the roles."""
    name = ROLE_ALIASES.get(role, role)
    if name not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)} (or reviewer)")
    return name


def scope_level(code: str) -> str:
    """The level of an area or grid code, read from its length and trailing zeros.

    Raises
    ------
    ValueError
        When ``code`` is not 12, 15 or 17 digits, or is a 12-digit code with no province.
    """
    if not isinstance(code, str) or not code.isdigit() or len(code) not in (12, 15, 17):
        raise ValueError(f"{code!r} is not an area code (12 digits), grid code (15) or micro-grid code (17)")
    if len(code) == 15:
        return "grid"
    if len(code) == 17:
        return "micro_grid"
    if code[:2] == "00":
        raise ValueError(f"{code!r} is not an area code: it names no province")
    for level in ("province", "city", "county", "township"):
        if set(code[LEVEL_PREFIX[level]:]) == {"0"}:
            return level
    return "community"


def scope_prefix(scope_code: str) -> str:
    """The code prefix every area inside ``scope_code`` shares (for ``LIKE prefix || '%'`` filters)."""
    return scope_code[:LEVEL_PREFIX[scope_level(scope_code)]]


def scope_contains(scope_code: str, area_code: str) -> bool:
    """Whether the area (or grid) ``area_code`` lies inside the scope ``scope_code``.

    Parameters
    ----------
    scope_code
        An area, grid or micro-grid code; its level (from trailing zeros, see the module docstring)
        fixes how many leading digits must match.
    area_code
        Any area, grid or micro-grid code. A scope contains itself and everything below it, nothing
        above it: a county scope does not contain its city.

    Raises
    ------
    ValueError
        When either code is malformed (the message names it).
    """
    prefix = scope_prefix(scope_code)
    scope_level(area_code)  # validates; a malformed area code is an error, not "outside"
    return area_code.startswith(prefix)


def validate_scope(role: str, scope_code: str | None) -> tuple[str, str | None]:
    """Check that ``scope_code`` suits ``role``; return the stored role name and scope.

    Raises
    ------
    ValueError
        Naming the role and the scope levels it needs.
    """
    role = normalise_role(role)
    levels = ROLE_SCOPE_LEVELS[role]
    if not levels:
        if scope_code:
            raise ValueError(f"role {role} applies everywhere and takes no scope; got {scope_code!r}")
        return role, None
    if not scope_code:
        raise ValueError(f"role {role} needs a scope: the code of a {' or '.join(levels)}")
    level = scope_level(scope_code)
    if level not in levels:
        raise ValueError(f"role {role} needs the code of a {' or '.join(levels)}; {scope_code} is a {level}")
    return role, scope_code


def can(user: User | None, action: str, area_code: str | None = None) -> bool:
    """Whether ``user`` may do ``action`` on data of ``area_code``.

    Parameters
    ----------
    user
        The user, or None for anonymous (who may do none of these; public data needs no check).
        Inactive users may do nothing.
    action
        One of :data:`ACTIONS`.
    area_code
        The area, grid or micro-grid the data belongs to (for a division: its community code). None
        asks about everything at once (the whole audit log, a county-wide list): only admin may.

    Raises
    ------
    ValueError
        For an unknown action or a malformed area code (programming errors, not "no").
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    if area_code is not None:
        scope_level(area_code)
    if user is None or not user.active:
        return False
    role = ROLE_ALIASES.get(user.role, user.role)
    if role == "admin":
        return True
    if action not in ROLE_ACTIONS.get(role, ()) or area_code is None or not user.scope_code:
        return False
    return scope_contains(user.scope_code, area_code)


# -- passwords and tokens ---------------------------------------------------------------------------

# argon2id with the library's defaults (RFC 9106 "low memory" profile: 64 MiB, 3 passes).
_hasher = PasswordHasher()
_dummy_hash: str | None = None
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (ValueError when it is shorter than 8 characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters; got {len(password)}")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; takes as long for an unknown user (``password_hash`` None)."""
    global _dummy_hash
    if password_hash is None:
        # Hash anyway so response time does not tell which user names exist.
        _dummy_hash = _dummy_hash or _hasher.hash(secrets.token_hex(16))
        password_hash, password = _dummy_hash, password + "\0"
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """The SHA-256 (hex) stored for an API token; tokens are random, so no salt or slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _fingerprint(password_hash: str) -> str:
    # Kept in the session: a password change (new hash) ends every session made with the old one.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


# -- users (used by the CLI, the demo and tests) ----------------------------------------------------

def create_user(conn: Connection, username: str, role: str, scope_code: str | None, password: str, *,
                display_name: str | None = None, actor: str | None = None) -> int:
    """Add a user and audit it; return the new id.

    Raises
    ------
    ValueError
        Bad user name, role, scope for the role, or a short password.
    Conflict
        The user name is taken.
    """
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise ValueError(f"user name must be 1-64 characters without spaces; got {username!r}")
    role, scope_code = validate_scope(role, scope_code)
    if conn.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(f"user {username!r} exists already")
    values = {"username": username, "display_name": display_name, "role": role, "scope_code": scope_code,
              "active": True}
    user_id = conn.execute(insert(User).values(password_hash=hash_password(password), **values)
                           .returning(User.id)).scalar_one()
    audit(conn, "user_add", "app_user", user_id, None, values, actor=actor)
    return user_id


def create_token(conn: Connection, username: str, label: str | None = None, *, actor: str | None = None) -> str:
    """Issue an API token for ``username`` and return it; only its hash is stored, so show it once."""
    user_id = conn.execute(select(User.id).where(User.username == username)).scalar_one_or_none()
    if user_id is None:
        raise ValueError(f"no user {username!r}")
    token = "wg_" + secrets.token_urlsafe(32)
    token_id = conn.execute(insert(ApiToken).values(user_id=user_id, token_hash=token_hash(token), label=label)
                            .returning(ApiToken.id)).scalar_one()
    audit(conn, "token_create", "api_token", token_id, None, {"user_id": user_id, "label": label}, actor=actor)
    return token


def list_users(conn: Connection) -> list[dict]:
    """Every user (no hashes), by user name."""
    rows = conn.execute(select(User.id, User.username, User.display_name, User.role, User.scope_code, User.active,
                               User.created_at).order_by(User.username))
    return [dict(row._mapping) for row in rows]


#: One demo user per role for the demo county (示范县 320499). DEMO ONLY: the passwords are public.
DEMO_USERS: tuple[tuple[str, str, str | None, str, str], ...] = (
    ("admin", "admin", None, "admin-demo-1", "系统管理员"),
    ("reviewer", "municipal_reviewer", "320400000000", "reviewer-demo-1", "市网格化中心审核员"),
    ("editor", "county_editor", "320499000000", "editor-demo-1", "示范县网格化中心"),
    ("operator", "township_operator", "320499001000", "operator-demo-1", "街道网格工作站"),
    ("staff", "grid_staff", "320499001001", "staff-demo-1", "网格员"),
)


def ensure_demo_users(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    """Create the demo users that do not exist yet; return ``(username, role, scope, password)`` of all.

    Demo only: the passwords are fixed and published. Existing users are left as they are (a changed
    password is not reset), so the list shows the demo password, not necessarily the current one.
    """
    with engine.begin() as conn:
        existing = set(conn.execute(select(User.username)).scalars())
        for username, role, scope, password, name in DEMO_USERS:
            if username not in existing:
                create_user(conn, username, role, scope, password, display_name=name, actor="demo")
    return [(username, role, scope, password) for username, role, scope, password, _ in DEMO_USERS]


# -- audit ------------------------------------------------------------------------------------------

def cli_actor() -> str:
    """The actor recorded for writes made outside a request: ``cli:<operating-system user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        return "cli:unknown"


def _jsonable(value: Any) -> Any:
    # JSONB takes what json takes; dates, Decimals and the like become their str().
    return None if value is None else json.loads(json.dumps(value, default=str, ensure_ascii=False))


def audit(conn: Connection, action: str, entity: str, entity_id: Any, before: dict | None, after: dict | None,
          *, user: User | None = None, actor: str | None = None) -> None:
    """Append one row to ``audit_log`` in ``conn``'s transaction (so it commits or rolls back with the write).

    Parameters
    ----------
    conn
        The connection of the write being recorded (``session.connection()`` from an ORM session).
    action, entity, entity_id
        What was done to which row: ``('division_submit', 'division', 42)``.
    before, after
        The row's relevant values before and after (None for creation/deletion); JSON-serialisable,
        other values are stored as their ``str()``. Never put passwords or tokens here.
    user, actor
        Who did it. By default the request's user (its user name as actor), or ``cli:<os user>``
        outside a request.
    """
    if user is None and has_request_context():
        user = current_user()
    if actor is None:
        actor = user.username if user is not None else ("anonymous" if has_request_context() else cli_actor())
    conn.execute(insert(AuditLog).values(
        user_id=user.id if user is not None else None, actor=actor, action=action, entity=entity,
        entity_id=None if entity_id is None else str(entity_id), before=_jsonable(before), after=_jsonable(after)))


# -- the request's user -----------------------------------------------------------------------------

def _engine() -> Engine:
    from server import engine_of

    return engine_of(current_app)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _load_user() -> User | None:
    token = _bearer_token()
    if token is not None:
        # A bearer request is judged by its token alone, never by a cookie it may also carry.
        with Session(_engine(), expire_on_commit=False) as db, db.begin():
            row = db.execute(select(User, ApiToken.id).join(ApiToken, ApiToken.user_id == User.id)
                             .where(ApiToken.token_hash == token_hash(token))).first()
            if row is None or not row[0].active:
                raise Unauthorized("the API token is not recognised (mistyped, revoked, or its user is disabled)")
            db.execute(update(ApiToken).where(ApiToken.id == row[1]).values(last_used_at=func.now()))
            return row[0]
    user_id = session.get("uid")
    if user_id is None:
        return None  # anonymous: no database round trip
    with Session(_engine(), expire_on_commit=False) as db:
        user = db.get(User, user_id)
    if user is None or not user.active or session.get("pwfp") != _fingerprint(user.password_hash):
        session.clear()  # deleted, disabled, or password changed since sign-in
        return None
    return user


def current_user() -> User | None:
    """The signed-in user of this request (session cookie or bearer token), or None for anonymous.

    Raises
    ------
    Unauthorized
        When a bearer token is sent and is not valid (a script should hear that, not be anonymous).
    """
    if "wangge_user" not in g:
        g.wangge_user = _load_user()
    return g.wangge_user


def _describe(user: User) -> str:
    return f"{user.username} ({user.role}" + (f", scope {user.scope_code})" if user.scope_code else ")")


def _check_login() -> User:
    user = current_user()
    if user is None:
        raise Unauthorized("sign in first (or send an API token as 'Authorization: Bearer <token>')")
    return user


def _as_decorator_or_check(check: Callable[[dict], Any]):
    # Inside a request: check now and return the user. Outside (at import, decorating a view):
    # return a decorator that checks on every call with the view's keyword arguments.
    if has_request_context():
        return check({})

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            check(kwargs)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def require_login():
    """Demand a signed-in user: ``@require_login()`` on a view, or ``user = require_login()`` inside one.

    Raises :class:`~server.errors.Unauthorized` (pages are redirected to ``/login?next=…``).
    """
    return _as_decorator_or_check(lambda kwargs: _check_login())


AreaArg = str | Callable[[dict], str | None] | None


def _area(area_code: AreaArg, kwargs: dict) -> str | None:
    code = area_code(kwargs) if callable(area_code) else area_code
    if code is not None:
        try:
            scope_level(code)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    return code


def require(role_or_roles: str | Sequence[str], area_code: AreaArg = None):
    """Demand one of the roles, with a scope containing ``area_code`` when given; admin always passes.

    Use as ``@require('county_editor')`` on a view or ``user = require(['county_editor',
    'township_operator'], division.community_code)`` inside one. As a decorator ``area_code`` may be a
    function of the view's keyword arguments, e.g. ``lambda kw: kw['community']``.

    Raises
    ------
    Unauthorized
        Nobody is signed in.
    Forbidden
        Wrong role or area outside the scope; the message names what is needed and what the user has.
    BadRequest
        ``area_code`` is malformed.
    """
    roles = [role_or_roles] if isinstance(role_or_roles, str) else list(role_or_roles)
    roles = [normalise_role(r) for r in roles]

    def check(kwargs: dict) -> User:
        user = _check_login()
        code = _area(area_code, kwargs)
        if user.role == "admin":
            return user
        if user.role in roles and (code is None or (user.scope_code and scope_contains(user.scope_code, code))):
            return user
        where = f" with a scope containing {code}" if code else ""
        raise Forbidden(f"this needs role {' or '.join(roles)}{where}; you are {_describe(user)}",
                        details={"roles": roles, "area_code": code, "role": user.role, "scope": user.scope_code})
    return _as_decorator_or_check(check)


def require_permission(action: str, area_code: AreaArg = None):
    """Demand :func:`can` ``(current_user(), action, area_code)``; decorator or call, like :func:`require`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")

    def check(kwargs: dict) -> User:
        user = _check_login()
        code = _area(area_code, kwargs)
        if can(user, action, code):
            return user
        allowed = [role for role, actions in ROLE_ACTIONS.items() if action in actions]
        where = f" in {code}" if code else " everywhere"
        raise Forbidden(f"'{action}'{where} needs role {' or '.join(allowed)} with a scope containing it; "
                        f"you are {_describe(user)}",
                        details={"action": action, "area_code": code, "role": user.role, "scope": user.scope_code})
    return _as_decorator_or_check(check)


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


def _csrf_protect() -> None:
    if request.method in _SAFE_METHODS or request.path in CSRF_EXEMPT_PATHS:
        return
    if _bearer_token() is not None:
        current_user()  # an invalid token is refused here, before the view runs
        return  # no cookie, no ambient authority to abuse: CSRF does not apply
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    expected = session.get(CSRF_FIELD)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError(f"the CSRF token is missing or wrong: reload the page, or send the session's token as "
                        f"form field '{CSRF_FIELD}' or header '{CSRF_HEADER}' (scripts: use an API token)")


# -- login throttling -------------------------------------------------------------------------------

class LoginThrottle:
    """Failed sign-ins per key within a sliding window, in memory (per process; see the module docstring).

    Parameters
    ----------
    limit
        Failures within ``window`` after which a key is refused.
    window
        Seconds a failure counts.
    clock
        Monotonic seconds; tests pass a fake.
    """

    def __init__(self, limit: int = 5, window: float = 15 * 60, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()  # gthread workers serve several requests at once

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, keys: Iterable[tuple[str, str]]) -> float:
        """Seconds until every key may try again; 0 when none is blocked."""
        now = self.clock()
        with self._lock:
            waits = [times[-self.limit] + self.window - now for key in keys
                     if len(times := self._recent(key, now)) >= self.limit]
        return max(waits, default=0.0)

    def fail(self, keys: Iterable[tuple[str, str]]) -> None:
        """Count one failure against every key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times

    def clear(self, key: tuple[str, str]) -> None:
        """Forget a key's failures (after a successful sign-in)."""
        with self._lock:
            self._failures.pop(key, None)


def login_throttle(app: Flask | None = None) -> LoginThrottle:
    """The app's throttle."""
    return (app or current_app).extensions["wangge.login_throttle"]


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


@auth.post("/login")
def login():
    """Check the form's user name and password; on success start a fresh session and go to ``next``."""
    next_url = _safe_next(request.form.get("next"))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        return _login_page(next_url, error="login_missing", status=400, username=username)
    keys = [("user", username.casefold()), ("ip", request.remote_addr or "unknown")]
    throttle = login_throttle()
    engine = _engine()
    wait = throttle.retry_after(keys)
    if wait > 0:
        with engine.begin() as conn:
            audit(conn, "login_throttled", "app_user", None, None, {"username": username, "ip": keys[1][1]},
                  actor="anonymous")
        response = _login_page(next_url, error="login_throttled", status=429, username=username,
                               minutes=math.ceil(wait / 60))
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    with Session(engine, expire_on_commit=False) as db, db.begin():
        user = db.execute(select(User).where(User.username == username)).scalar_one_or_none()
        ok = verify_password(user.password_hash if user else None, password)
        if ok and user.active:
            if _hasher.check_needs_rehash(user.password_hash):  # parameters were raised since it was set
                user.password_hash = _hasher.hash(password)
            audit(db.connection(), "login", "app_user", user.id, None, {"ip": keys[1][1]}, user=user)
        else:
            reason = "inactive" if ok else ("wrong_password" if user else "unknown_user")
            audit(db.connection(), "login_failed", "app_user", user.id if user else None, None,
                  {"username": username, "ip": keys[1][1], "reason": reason}, actor="anonymous")
    if not (ok and user.active):
        throttle.fail(keys)
        if ok:  # the right password for a disabled account: say so, it reveals nothing to a guesser
            return _login_page(next_url, error="login_disabled", status=403, username=username)
        return _login_page(next_url, error="login_failed", status=401, username=username)
    throttle.clear(keys[0])  # not the IP: one own account must not reset an attacker's per-IP count
    session.clear()  # a new session (and CSRF token) at sign-in: no session fixation
    session.permanent = True
    session["uid"] = user.id
    session["pwfp"] = _fingerprint(user.password_hash)
    csrf_token()  # a fresh token for the new session
    g.wangge_user = user
    return redirect(next_url, 303)


@auth.post("/logout")
def logout():
    """End the session (CSRF-protected like every POST) and go to the map."""
    user = current_user()
    if user is not None:
        with _engine().begin() as conn:
            audit(conn, "logout", "app_user", user.id, None, None, user=user)
    session.clear()
    g.wangge_user = None
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
    app.extensions["wangge.login_throttle"] = LoginThrottle()
    app.before_request(_csrf_protect)
    app.register_error_handler(Unauthorized, _unauthorized)
    # Functions, not values: only templates that show the user pay for loading it.
    app.context_processor(lambda: {"current_user": current_user, "csrf_token": csrf_token})
    app.register_blueprint(auth)


__all__ = ["ACTIONS", "ROLE_ACTIONS", "ROLE_SCOPE_LEVELS", "LEVEL_PREFIX", "CsrfError", "LoginThrottle",
           "audit", "can", "create_token", "create_user", "csrf_token", "current_user",
           "ensure_demo_users", "hash_password", "init_app", "list_users", "normalise_role", "require",
           "require_login", "require_permission", "scope_contains", "scope_level", "scope_prefix", "validate_scope",
           "verify_password"]
