"""The audit log: one append-only row per write, in the write's own transaction.

Who did it: the caller says (``user`` or ``actor``), or, by default, the *actor source* installed by the
web layer (the request's user) answers; outside a request the actor is ``cli:<operating-system user>``.
The store stays free of Flask: the web layer installs its source with :func:`set_actor_source`.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert

from server.store.models import AuditLog, User

#: Returns ``(user, actor)`` for the current context, or None when there is no request (CLI, jobs).
ActorSource = Callable[[], "tuple[User | None, str] | None"]
_actor_source: ActorSource | None = None


def set_actor_source(source: ActorSource | None) -> None:
    """Install the function that names the request's user (the web layer does, at app creation)."""
    global _actor_source
    _actor_source = source


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
        Who did it. By default the request's user (its user name as actor, ``anonymous`` when nobody
        is signed in), or ``cli:<os user>`` outside a request.
    """
    if user is None and actor is None:
        found = _actor_source() if _actor_source is not None else None
        user, actor = found if found is not None else (None, cli_actor())
    elif actor is None:
        actor = user.username
    conn.execute(insert(AuditLog).values(
        user_id=user.id if user is not None else None, actor=actor, action=action, entity=entity,
        entity_id=None if entity_id is None else str(entity_id), before=_jsonable(before), after=_jsonable(after)))
