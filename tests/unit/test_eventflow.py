"""The event state machine: every legal and illegal transition, with frozen times."""

from __future__ import annotations

from datetime import datetime

import pytest

from gis.errors import InputError
from gis.eventflow import (
    ACTIONS,
    STATES,
    EventState,
    TimeLimit,
    allowed_actions,
    due_timers,
    on_time,
    transition,
)
from gis.workcal import WorkCalendar

CAL = WorkCalendar()
NOW = datetime(2026, 12, 4, 16, 0)  # a Friday
ROLES = ("public", "system", "grid_staff", "township_operator", "county_editor", "municipal_reviewer", "admin")
CENTRE = {"admin", "county_editor", "township_operator"}
HANDLERS = CENTRE | {"grid_staff"}

#: The loop written out independently of the module: (from, action) -> (to, roles).
LEGAL = {
    ("reported", "register"): ("registered", CENTRE),
    ("reported", "cancel"): ("cancelled", CENTRE),
    ("registered", "cancel"): ("cancelled", CENTRE),
    ("returned", "cancel"): ("cancelled", CENTRE),
    ("registered", "dispatch"): ("dispatched", CENTRE),
    ("returned", "dispatch"): ("dispatched", CENTRE),
    ("dispatched", "handle"): ("handling", HANDLERS),
    ("dispatched", "return"): ("returned", HANDLERS),
    ("handling", "return"): ("returned", HANDLERS),
    ("handling", "feedback"): ("handled", HANDLERS),
    ("handled", "reject"): ("handling", HANDLERS),
    ("handled", "verify"): ("verified", HANDLERS),
    ("verified", "close"): ("closed", CENTRE),
}
USER_ACTIONS = sorted({a for _, a in LEGAL})


def _state(status: str) -> EventState:
    timed = status in ("dispatched", "handling", "handled", "verified", "closed")
    return EventState(status=status, dispatched_at=datetime(2026, 12, 4, 9, 0) if timed else None,
                      deadline_at=datetime(2026, 12, 7, 10, 0) if timed else None)


CASES = [(s, a, r) for s in STATES for a in USER_ACTIONS for r in ROLES]


@pytest.mark.parametrize(("status", "action", "role"), CASES)
def test_every_transition(status, action, role):
    legal = LEGAL.get((status, action))
    kwargs = {"calendar": CAL, "limit": TimeLimit(4, "working_hours")} if action == "dispatch" else {}
    if legal is not None and role in legal[1]:
        after = transition(_state(status), action, role, NOW, **kwargs)
        assert after.status == legal[0]
        assert action in allowed_actions(status, role)
    else:
        with pytest.raises(InputError) as err:
            transition(_state(status), action, role, NOW, **kwargs)
        message = str(err.value)
        assert action in message
        assert (status in message) if legal is None else (role in message)
        assert action not in allowed_actions(status, role)


def test_the_table_is_exactly_the_loop():
    table = {(s, name) for name, a in ACTIONS.items() if a.target is not None for s in a.sources}
    assert table == set(LEGAL)


def test_dispatch_starts_the_clock_on_the_working_calendar():
    state = transition(_state("registered"), "dispatch", "township_operator", NOW, calendar=CAL,
                       limit=TimeLimit(4, "working_hours"))
    assert state.dispatched_at == NOW
    assert state.deadline_at == datetime(2026, 12, 7, 11, 30)  # Friday 16:00 + 4 h → Monday 11:30
    with pytest.raises(InputError, match="time limit") as err:
        transition(_state("registered"), "dispatch", "admin", NOW)
    assert err.value.field == "category"


def test_redispatch_after_return_is_a_fresh_clock():
    s = EventState(status="returned", dispatched_at=datetime(2026, 12, 1, 9), deadline_at=datetime(2026, 12, 1, 12),
                   warned_at=datetime(2026, 12, 1, 11), escalated_at=datetime(2026, 12, 1, 12))
    after = transition(s, "dispatch", "admin", NOW, calendar=CAL, limit=TimeLimit(3, "working_days"))
    assert after.deadline_at == datetime(2026, 12, 9, 16, 0)
    assert after.warned_at is None and after.escalated_at is None


def test_feedback_close_and_on_time():
    s = transition(_state("handling"), "feedback", "grid_staff", datetime(2026, 12, 7, 9, 30))
    assert s.handled_at == datetime(2026, 12, 7, 9, 30)
    assert transition(s, "reject", "grid_staff", NOW).handled_at is None
    s = transition(transition(s, "verify", "grid_staff", NOW), "close", "admin", datetime(2026, 12, 8, 9))
    assert s.closed_at == datetime(2026, 12, 8, 9)
    assert on_time(s) is True  # fed back before the deadline; verification and closure do not count
    late = EventState(status="closed", deadline_at=datetime(2026, 12, 7, 10), handled_at=datetime(2026, 12, 7, 11),
                      closed_at=datetime(2026, 12, 7, 12))
    assert on_time(late) is False
    assert on_time(_state("handling")) is None


def test_timers_warn_at_20_percent_and_escalate_when_overdue():
    start = datetime(2026, 11, 30, 9, 0)
    deadline = CAL.add_working_time(start, 10, "working_hours")  # Tuesday 12:00
    s = EventState(status="dispatched", dispatched_at=start, deadline_at=deadline)
    assert due_timers(s, datetime(2026, 12, 1, 9, 59), CAL) == []  # 2 h 01 min of 10 h left
    assert due_timers(s, datetime(2026, 12, 1, 10, 0), CAL) == ["warn"]
    warned = transition(s, "warn", "system", datetime(2026, 12, 1, 10, 0))
    assert warned.warned_at == datetime(2026, 12, 1, 10, 0) and warned.status == "dispatched"
    assert due_timers(warned, datetime(2026, 12, 1, 11, 0), CAL) == []
    assert due_timers(warned, deadline, CAL) == ["escalate"]
    escalated = transition(warned, "escalate", "system", deadline)
    assert escalated.escalated_at == deadline and escalated.overdue
    assert due_timers(escalated, datetime(2026, 12, 9, 9), CAL) == []
    # Overdue without a warning on record: both, warning first.
    assert due_timers(s, datetime(2026, 12, 2, 9), CAL) == ["warn", "escalate"]
    # No clock, no timers.
    assert due_timers(_state("handled"), datetime(2027, 1, 1), CAL) == []
    assert due_timers(_state("registered"), datetime(2027, 1, 1), CAL) == []


def test_timers_are_the_system_s_and_only_when_due():
    s = _state("dispatched")
    for role in ROLES[2:]:
        with pytest.raises(InputError, match="may not warn"):
            transition(s, "warn", role, NOW)
    with pytest.raises(InputError, match="not overdue"):
        transition(s, "escalate", "system", NOW)
    with pytest.raises(InputError, match="cannot escalate"):
        transition(_state("closed"), "escalate", "system", datetime(2027, 1, 1))
    with pytest.raises(InputError, match="already warned"):
        transition(EventState(status="handling", deadline_at=NOW, warned_at=NOW), "warn", "system", NOW)


def test_unknown_action_and_status():
    with pytest.raises(InputError, match="unknown action 'approve'"):
        transition(_state("reported"), "approve", "admin", NOW)
    with pytest.raises(InputError, match="unknown event status"):
        transition(EventState(status="lost"), "register", "admin", NOW)


def test_the_one_who_fed_back_may_not_verify_it():
    now = datetime(2026, 12, 1, 10, 0)
    state = transition(EventState(status="handling"), "feedback", "grid_staff", now, actor=7)
    assert state.handled_by == 7
    for action in ("verify", "reject"):
        with pytest.raises(InputError, match="separation of duties"):
            transition(state, action, "grid_staff", now, actor=7)
    assert "verify" not in allowed_actions("handled", "grid_staff", state=state, actor=7)
    assert "verify" in allowed_actions("handled", "township_operator", state=state, actor=8)
    verified = transition(state, "verify", "township_operator", now, actor=8)
    assert verified.status == "verified"
    # A rejection sends it back to handling: the next feedback is a new one, by whoever gives it.
    again = transition(transition(state, "reject", "county_editor", now, actor=9), "feedback", "grid_staff", now,
                       actor=9)
    assert again.handled_by == 9
