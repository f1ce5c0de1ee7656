"""Users, API tokens and browser sessions: every SQL statement about who may sign in.

Tokens and session ids are random; only their SHA-256 is stored, so a copy of the database lets nobody
in. Expiry is decided here, in SQL, against the database clock, so every app instance agrees.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from server.store.models import ApiToken, User, UserSession

_USER_COLUMNS = (User.id, User.username, User.display_name, User.role, User.scope_code, User.active,
                 User.created_at)


def user_by_name(conn: Connection, username: str) -> User | None:
    """The user row (with its hash) called ``username``, or None."""
    row = conn.execute(select(User).where(User.username == username)).first()
    return _user(row)


def user_by_id(conn: Connection, user_id: int) -> User | None:
    """The user row with id ``user_id``, or None."""
    return _user(conn.execute(select(User).where(User.id == user_id)).first())


def _user(row) -> User | None:
    # Plain (detached) User objects from Core rows: callers read attributes, nobody flushes them.
    if row is None:
        return None
    mapping = row._mapping
    return User(**{c.key: mapping[c.key] for c in User.__table__.columns})


def username_taken(conn: Connection, username: str) -> bool:
    """Whether a user called ``username`` exists."""
    return conn.execute(select(User.id).where(User.username == username)).first() is not None


def insert_user(conn: Connection, values: dict[str, Any]) -> int:
    """Add a user row; return its id."""
    return conn.execute(insert(User).values(**values).returning(User.id)).scalar_one()


def all_usernames(conn: Connection) -> set[str]:
    """Every user name."""
    return set(conn.execute(select(User.username)).scalars())


def list_users(conn: Connection) -> list[dict]:
    """Every user (no hashes) by user name, with their open sessions and live tokens counted."""
    sessions = (select(func.count()).where(UserSession.user_id == User.id).correlate(User).scalar_subquery())
    tokens = (select(func.count()).where(ApiToken.user_id == User.id, ApiToken.revoked_at.is_(None),
                                         or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()))
              .correlate(User).scalar_subquery())
    rows = conn.execute(select(*_USER_COLUMNS, sessions.label("sessions"), tokens.label("tokens"))
                        .order_by(User.username))
    return [dict(row._mapping) for row in rows]


def set_active(conn: Connection, user_id: int, active: bool) -> None:
    """Enable or disable a user."""
    conn.execute(update(User).where(User.id == user_id).values(active=active))


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    """Store a new password hash."""
    conn.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


# -- API tokens -------------------------------------------------------------------------------------

def insert_token(conn: Connection, user_id: int, token_hash: str, label: str | None, expires_at: datetime) -> int:
    """Add a token row; return its id."""
    return conn.execute(insert(ApiToken).values(user_id=user_id, token_hash=token_hash, label=label,
                                                expires_at=expires_at).returning(ApiToken.id)).scalar_one()


def user_of_token(conn: Connection, token_hash: str) -> User | None:
    """The active user of a live (not revoked, not expired) token, marking the token used; else None."""
    live = or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now())
    row = conn.execute(select(ApiToken.id, ApiToken.user_id).where(
        ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None), live)).first()
    if row is None:
        return None
    user = user_by_id(conn, row.user_id)
    if user is None or not user.active:
        return None
    conn.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=func.now()))
    return user


def list_tokens(conn: Connection, user_id: int | None = None) -> list[dict]:
    """Tokens (never their hashes): id, user, label, created, last used, expiry, revoked; newest first."""
    query = (select(ApiToken.id, User.username, ApiToken.label, ApiToken.created_at, ApiToken.last_used_at,
                    ApiToken.expires_at, ApiToken.revoked_at)
             .join(User, User.id == ApiToken.user_id).order_by(ApiToken.id.desc()))
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [dict(row._mapping) for row in conn.execute(query)]


def revoke_token(conn: Connection, token_id: int) -> dict | None:
    """Revoke one token now; return its row before (None when there is no such live token)."""
    row = conn.execute(select(ApiToken.id, ApiToken.user_id, ApiToken.label).where(
        ApiToken.id == token_id, ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=func.now()))
    return dict(row._mapping)


def revoke_tokens_of(conn: Connection, user_id: int) -> int:
    """Revoke every live token of a user; return how many."""
    result = conn.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                          .values(revoked_at=func.now()))
    return result.rowcount


# -- browser sessions -------------------------------------------------------------------------------

def insert_session(conn: Connection, user_id: int, session_hash: str, ip: str | None, user_agent: str | None) -> int:
    """Record a new session; return its id."""
    return conn.execute(insert(UserSession).values(
        user_id=user_id, session_hash=session_hash, ip=(ip or "")[:45] or None,
        user_agent=(user_agent or "")[:256] or None).returning(UserSession.id)).scalar_one()


def session_user(conn: Connection, session_hash: str, idle: timedelta, touch_after: timedelta) -> User | None:
    """The active user of a live session (seen within ``idle``); refreshes its last-seen time now and then.

    The last-seen time is written only when older than ``touch_after``, so a page with many requests
    costs one write a minute, not one per request. An idle session is deleted when found.
    """
    row = conn.execute(select(UserSession.id, UserSession.user_id, UserSession.last_seen_at,
                              (UserSession.last_seen_at > func.now() - idle).label("live"),
                              (UserSession.last_seen_at < func.now() - touch_after).label("stale"))
                       .where(UserSession.session_hash == session_hash)).first()
    if row is None:
        return None
    if not row.live:
        conn.execute(delete(UserSession).where(UserSession.id == row.id))
        return None
    user = user_by_id(conn, row.user_id)
    if user is None or not user.active:
        return None
    if row.stale:
        conn.execute(update(UserSession).where(UserSession.id == row.id).values(last_seen_at=func.now()))
    return user


def delete_session(conn: Connection, session_hash: str) -> None:
    """End one session."""
    conn.execute(delete(UserSession).where(UserSession.session_hash == session_hash))


def delete_sessions_of(conn: Connection, user_id: int, *, keep_hash: str | None = None) -> int:
    """End every session of a user (but ``keep_hash``, the caller's own); return how many."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_hash is not None:
        query = query.where(UserSession.session_hash != keep_hash)
    return conn.execute(query).rowcount


def list_sessions(conn: Connection, user_id: int) -> list[dict]:
    """A user's sessions: id, started, last seen, address and browser; newest first."""
    rows = conn.execute(select(UserSession.id, UserSession.created_at, UserSession.last_seen_at, UserSession.ip,
                               UserSession.user_agent)
                        .where(UserSession.user_id == user_id).order_by(UserSession.last_seen_at.desc()))
    return [dict(row._mapping) for row in rows]
