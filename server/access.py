"""Who is asking: the request's user (session cookie or API token), and the guards routes put first.

Shared by the pages (:mod:`server.web`) and the REST API (:mod:`server.api`), which may not import
each other: a route reads ``current_user()`` or demands ``require_login()`` /
``require_permission(action, area)`` here, and the rules themselves live in
:mod:`server.services.permissions`. Sign-in, CSRF and the session's lifecycle stay in
:mod:`server.web.auth`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from flask import current_app, g, has_request_context, request, session
from sqlalchemy import Engine

from server.errors import BadRequest, Forbidden, Unauthorized
from server.services import users as users_service
from server.services.permissions import ACTIONS, ROLE_ACTIONS, can, normalise_role, scope_contains, scope_level
from server.services.users import User

#: A session's last-seen time is written at most this often (one write a minute, not one per request).
SESSION_TOUCH = timedelta(minutes=1)


# -- the request's user -----------------------------------------------------------------------------

def app_engine() -> Engine:
    """The current app's database engine."""
    from server import engine_of

    return engine_of(current_app)


def bearer_token() -> str | None:
    """The API token of ``Authorization: Bearer <token>``, if sent."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def session_id() -> str | None:
    """The session id the signed cookie carries, if any."""
    sid = session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def _load_user() -> User | None:
    token = bearer_token()
    if token is not None:
        # A bearer request is judged by its token alone, never by a cookie it may also carry.
        with app_engine().begin() as conn:
            user = users_service.user_for_token(conn, token)
        if user is None:
            raise Unauthorized("the API token is not recognised (mistyped, expired, revoked, or its user is "
                               "disabled)")
        return user
    sid = session_id()
    if sid is None:
        return None  # anonymous: no database round trip
    idle = current_app.permanent_session_lifetime
    with app_engine().begin() as conn:
        user = users_service.user_for_session(conn, sid, idle, SESSION_TOUCH)
    if user is None or session.get("pwfp") != users_service.password_fingerprint(user.password_hash):
        session.pop("sid", None)  # ended, idle, user disabled or password changed since sign-in
        session.pop("pwfp", None)
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


def request_actor() -> tuple[User | None, str] | None:
    """The audit log's default actor: the request's user, "anonymous", or None outside a request (CLI)."""
    if not has_request_context():
        return None
    user = current_user()
    return user, (user.username if user is not None else "anonymous")


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


def require_division(division_id: int, action: str) -> str:
    """The division's community once the caller may do ``action`` there (404, 401, 403 otherwise)."""
    from server.services import review

    with app_engine().connect() as conn:
        community, _ = review.division_community(conn, division_id)
    require_permission(action, community)
    return community
