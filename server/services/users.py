"""Users, passwords, API tokens and sessions: the rules, over :mod:`server.store.users`.

Passwords are hashed with argon2id (the library's defaults, RFC 9106 "low memory": 64 MiB, 3 passes).
API tokens and session ids are random and stored as SHA-256 only. Every change of who may sign in
(add, disable, enable, password, token issued or revoked, sessions ended) is audited in the same
transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine

from server.errors import Conflict, NotFound
from server.services.permissions import validate_scope
from server.store import users as store
from server.store.audit import audit, set_actor_source
from server.store.models import User

# The web layer records who acts through these (it imports services, never the store).
__all__ = ["DEMO_USERS", "User", "audit", "set_actor_source"]

_hasher = PasswordHasher()
_dummy_hash: str | None = None
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a megabyte "password" is only a way to burn CPU
#: Days an API token lives unless told otherwise (``wangge user token --days``).
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (ValueError when it is shorter than 8 characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters; got {len(password)}")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; takes as long for an unknown user (``password_hash`` None)."""
    global _dummy_hash
    if password_hash is None:
        # Hash anyway so response time does not tell which user names exist.
        _dummy_hash = _dummy_hash or _hasher.hash(secrets.token_hex(16))
        password_hash, password = _dummy_hash, password + "\0"
    try:
        return _hasher.verify(password_hash, password[:MAX_PASSWORD_LENGTH + 1])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at the next sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def secret_hash(secret: str) -> str:
    """The SHA-256 (hex) stored for an API token or a session id: random, so no salt or slow hash needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


#: The name the API token code used; kept because scripts and tests hash tokens with it.
token_hash = secret_hash


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the hash kept with a session: a password change ends sessions made before it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def user_by_name(conn: Connection, username: str) -> User | None:
    """The user called ``username`` (with its password hash), or None."""
    return store.user_by_name(conn, username)


def user_for_token(conn: Connection, token: str) -> User | None:
    """The active user of a live API token (marking it used), or None."""
    return store.user_of_token(conn, secret_hash(token))


def user_for_session(conn: Connection, sid: str, idle: timedelta, touch_after: timedelta) -> User | None:
    """The active user of a live browser session (see :func:`server.store.users.session_user`), or None."""
    return store.session_user(conn, secret_hash(sid), idle, touch_after)


def open_session(conn: Connection, user: User, sid: str, ip: str | None, user_agent: str | None) -> None:
    """Record a new browser session of ``user`` under the random id ``sid``."""
    store.insert_session(conn, user.id, secret_hash(sid), ip, user_agent)


def close_session(conn: Connection, sid: str) -> None:
    """End the browser session ``sid``."""
    store.delete_session(conn, secret_hash(sid))


def sign_in(conn: Connection, username: str, password: str, address: str) -> tuple[User | None, bool]:
    """Check a user name and password: ``(user, password right)``, audited either way.

    A password hashed with weaker parameters than today's is rehashed on the way.
    """
    user = store.user_by_name(conn, username)
    ok = verify_password(user.password_hash if user else None, password)
    if ok and user.active:
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
            store.set_password_hash(conn, user.id, user.password_hash)
        audit(conn, "login", "app_user", user.id, None, {"ip": address}, user=user)
    else:
        reason = "inactive" if ok else ("wrong_password" if user else "unknown_user")
        audit(conn, "login_failed", "app_user", user.id if user else None, None,
              {"username": username, "ip": address, "reason": reason}, actor="anonymous")
    return user, ok


def _require_user(conn: Connection, username: str) -> User:
    user = store.user_by_name(conn, username)
    if user is None:
        raise NotFound(f"没有用户 {username} / no user {username!r}")
    return user


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
    if store.username_taken(conn, username):
        raise Conflict(f"user {username!r} exists already")
    values = {"username": username, "display_name": display_name, "role": role, "scope_code": scope_code,
              "active": True}
    user_id = store.insert_user(conn, {"password_hash": hash_password(password), **values})
    audit(conn, "user_add", "app_user", user_id, None, values, actor=actor)
    return user_id


def create_token(conn: Connection, username: str, label: str | None = None, *, days: int = DEFAULT_TOKEN_DAYS,
                 actor: str | None = None) -> str:
    """Issue an API token for ``username`` valid ``days`` days and return it; only its hash is stored."""
    user = store.user_by_name(conn, username)
    if user is None:
        raise ValueError(f"no user {username!r}")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValueError(f"a token lives 1 to {MAX_TOKEN_DAYS} days; got {days}")
    token = "wg_" + secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + timedelta(days=days)
    token_id = store.insert_token(conn, user.id, secret_hash(token), label, expires_at)
    audit(conn, "token_create", "api_token", token_id, None,
          {"user_id": user.id, "label": label, "expires_at": expires_at.isoformat()}, actor=actor)
    return token


def list_users(conn: Connection) -> list[dict]:
    """Every user (no hashes), by user name, with counts of open sessions and live tokens."""
    return store.list_users(conn)


def set_active(conn: Connection, username: str, active: bool, *, actor: User | None = None) -> int:
    """Enable or disable a user; disabling ends their sessions. Returns the sessions ended."""
    user = _require_user(conn, username)
    if actor is not None and actor.id == user.id and not active:
        raise Conflict("不能停用自己的账号 / you cannot disable your own account")
    store.set_active(conn, user.id, active)
    ended = 0 if active else store.delete_sessions_of(conn, user.id)
    audit(conn, "user_enable" if active else "user_disable", "app_user", user.id, {"active": user.active},
          {"active": active, "sessions_ended": ended}, user=actor)
    return ended


def set_password(conn: Connection, username: str, password: str, *, actor: User | None = None,
                 keep_session_hash: str | None = None) -> int:
    """Set a new password and end the user's other sessions; return how many were ended.

    ``keep_session_hash`` keeps the caller's own session when users change their own password.
    """
    user = _require_user(conn, username)
    store.set_password_hash(conn, user.id, hash_password(password))
    ended = store.delete_sessions_of(conn, user.id, keep_hash=keep_session_hash)
    audit(conn, "password_change" if actor is not None and actor.id == user.id else "password_reset", "app_user",
          user.id, None, {"sessions_ended": ended}, user=actor)
    return ended


def check_password(conn: Connection, username: str, password: str) -> bool:
    """Whether ``password`` is the current password of ``username``."""
    user = store.user_by_name(conn, username)
    return verify_password(user.password_hash if user else None, password)


def revoke_token(conn: Connection, token_id: int, *, actor: User | None = None) -> dict:
    """Revoke an API token by its id (as listed); NotFound when there is no such live token."""
    before = store.revoke_token(conn, token_id)
    if before is None:
        raise NotFound(f"没有有效的令牌 {token_id} / no live API token with id {token_id}")
    audit(conn, "token_revoke", "api_token", token_id, before, {"revoked": True}, user=actor)
    return before


def list_tokens(conn: Connection, username: str | None = None) -> list[dict]:
    """API tokens (never their hashes), of one user or of all."""
    return store.list_tokens(conn, _require_user(conn, username).id if username else None)


def list_sessions(conn: Connection, username: str) -> list[dict]:
    """The open sessions of ``username``."""
    return store.list_sessions(conn, _require_user(conn, username).id)


def end_sessions(conn: Connection, username: str, *, actor: User | None = None) -> int:
    """End every session of ``username``; return how many."""
    user = _require_user(conn, username)
    ended = store.delete_sessions_of(conn, user.id)
    audit(conn, "sessions_end", "app_user", user.id, None, {"sessions_ended": ended}, user=actor)
    return ended


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
        existing = store.all_usernames(conn)
        for username, role, scope, password, name in DEMO_USERS:
            if username not in existing:
                create_user(conn, username, role, scope, password, display_name=name, actor="demo")
    return [(username, role, scope, password) for username, role, scope, password, _ in DEMO_USERS]
