"""The event clock's timers: warn events with little time left and escalate overdue ones (预警, 超期上报).

Run by ``wangge events sweep`` (cron) and lazily on reads (:func:`sweep_if_due`), so pages show the
current state without a scheduler.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from gis.eventflow import CLOCK_RUNNING, WARNING_SHARE, EventState, due_timers
from gis.workcal import WorkCalendar
from server.services import events as ev
from server.store import events as store

log = logging.getLogger(__name__)


class _Row:
    """An event row with its state replaced (two timers in one sweep see the first's effect)."""

    def __init__(self, row, state: EventState) -> None:
        self._row, self._state = row, state

    def __getattr__(self, name):
        if name in ev.STATE_FIELDS:
            return getattr(self._state, name)
        return getattr(self._row, name)


def _timer_note(conn: Connection, row, action: str, state: EventState, share: float,
                calendar: WorkCalendar) -> str:
    deadline = ev.local_text(state.deadline_at, calendar)
    if action == "warn":
        return f"剩余工作时间不足{share:.0%}，截止{deadline}"
    township = store.township_of(conn, row.community_code)
    where = f"{township.name}（{township.code}）" if township else "上级"
    return f"已超过处置时限（截止{deadline}），上报{where}，计入挂账"


def sweep(engine: Engine, now: datetime, calendar: WorkCalendar, share: float = WARNING_SHARE) -> dict:
    """Warn events with ``share`` or less of their time left and escalate overdue ones; return their codes.

    Every warning and escalation is a history row (action ``warn``/``escalate``, no status change) and an
    audit row by ``system``. Escalation reports the event to the township/street above its community.
    Safe to run concurrently: rows being changed by someone else are skipped until the next sweep.
    """
    now = ev._aware(now, calendar)
    done: dict[str, list[str]] = {"warned": [], "escalated": []}
    with engine.begin() as conn:
        for row in store.running_unswept(conn, CLOCK_RUNNING):
            state = ev.event_state(row)
            for action in due_timers(state, now, calendar, share):
                note = _timer_note(conn, row, action, state, share, calendar)
                state = ev.apply_action(conn, _Row(row, state), action, role="system", user=None, now=now,
                                        calendar=calendar, note=note)
                done["warned" if action == "warn" else "escalated"].append(row.code)
    if done["warned"] or done["escalated"]:
        log.info("event sweep at %s: %d warned, %d escalated", now.isoformat(), len(done["warned"]),
                 len(done["escalated"]))
    return done


_SWEEP_LOCK = threading.Lock()


def sweep_if_due(app, now: datetime | None = None, every: timedelta = timedelta(seconds=5)) -> None:
    """Run :func:`sweep` on a read when the event clock moved ``every`` since the last one."""
    from server import engine_of

    now = now or ev.clock()
    last = app.extensions.get("wangge.event_sweep")
    if last is not None and timedelta() <= now - last < every:
        return
    with _SWEEP_LOCK:
        app.extensions["wangge.event_sweep"] = now
    sweep(engine_of(app), now, ev.work_calendar(app), ev.warning_share(app))
