"""The closed loop of a grid event (网格事件) as data: states, actions, who may do them, and the timers.

The loop (city regs art. 18-19; Binzhou art. 11-12; how-to §6)::

    reported ──register──▶ registered ──dispatch──▶ dispatched ──handle──▶ handling ──feedback──▶ handled
       │                      │                        │  ▲                 │   ▲                   │
     cancel                 cancel                   return│              return  └──────reject─────────┤
       ▼                      ▼                        ▼  │dispatch         ▼                      verify
    cancelled              cancelled                returned ◀────────────────┘                       ▼
                                                       │                                          verified
                                                     cancel                                           │
                                                       ▼                                            close
                                                    cancelled                                         ▼
                                                                                                    closed

* 上报 ``report`` creates an event in ``reported``; 立案 ``register`` accepts it, 作废 ``cancel`` drops it.
* 派遣 ``dispatch`` sends it to the responsible unit and **starts the clock**: the deadline is the
  matter's time limit counted on the working calendar (:mod:`gis.workcal`).
* 处置 ``handle`` (the unit or grid worker takes it on), 反馈 ``feedback`` (reports it handled, which
  stops the clock: "承办单位应当在规定时限内予以办理并反馈办理结果", city regs art. 18, so the time limit
  binds the handler up to its feedback), 核查 ``verify`` (on-site check) or ``reject``
  (not solved: back to handling, the clock runs on), 结案 ``close``.
* Separation of duties (分离职责): whoever fed back (reported the work done) may not verify or reject
  it; another person checks it on the spot (DOMAIN.md: "the one who handles a matter does not verify
  it"). The state remembers who fed back (``handled_by``).
* 退回 ``return``: a unit sends back what is outside its remit; the sender re-dispatches it (a new
  clock, often with another category) or cancels it.
* Timers (system actions, no status change): ``warn`` when 20 % or less of the working time is left
  (预警), ``escalate`` when overdue (超期: the event is reported to the level above and counted in the
  backlog 挂账 until closed).

Roles are the roles of :mod:`server.services.permissions` plus ``public`` (anonymous residents, who may only report)
and ``system`` (the sweep). Scope (which events a user may touch) is checked by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from gis.errors import InputError
from gis.workcal import WorkCalendar

STATES = ("reported", "registered", "cancelled", "dispatched", "handling", "handled", "verified", "closed",
          "returned")
#: States in which the clock runs (dispatched and not yet fed back).
CLOCK_RUNNING = frozenset({"dispatched", "handling"})
#: States that end the loop.
FINAL = frozenset({"cancelled", "closed"})

#: The dispatch centre: township/street stations, the county agency, administrators.
DISPATCHERS = frozenset({"admin", "county_editor", "township_operator"})
#: Who may take an event on, feed back and return it: grid staff, and the centre on a unit's behalf.
HANDLERS = DISPATCHERS | {"grid_staff"}
#: Who may check on the spot (grid staff usually) and close.
VERIFIERS = HANDLERS
REPORTERS = HANDLERS | {"public", "municipal_reviewer"}
SYSTEM = frozenset({"system"})

#: Fraction of the working time left at which a warning is raised.
WARNING_SHARE = 0.2


@dataclass(frozen=True)
class Action:
    """One action of the loop: the states it may start from, the state it leads to, who may do it."""

    name: str
    sources: frozenset[str]
    target: str | None  # None: the status does not change (timers)
    roles: frozenset[str]
    label: str  # the Chinese name (for history and messages)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("register", frozenset({"reported"}), "registered", DISPATCHERS, "立案"),
    Action("cancel", frozenset({"reported", "registered", "returned"}), "cancelled", DISPATCHERS, "作废"),
    Action("dispatch", frozenset({"registered", "returned"}), "dispatched", DISPATCHERS, "派遣"),
    Action("handle", frozenset({"dispatched"}), "handling", HANDLERS, "处置"),
    Action("return", frozenset({"dispatched", "handling"}), "returned", HANDLERS, "退回"),
    Action("feedback", frozenset({"handling"}), "handled", HANDLERS, "反馈"),
    Action("reject", frozenset({"handled"}), "handling", VERIFIERS, "核查不通过"),
    Action("verify", frozenset({"handled"}), "verified", VERIFIERS, "核查"),
    Action("close", frozenset({"verified"}), "closed", DISPATCHERS, "结案"),
    Action("warn", CLOCK_RUNNING, None, SYSTEM, "预警"),
    Action("escalate", CLOCK_RUNNING, None, SYSTEM, "超期上报"),
)}
#: Actions a person may ask for (the timers are the sweep's).
USER_ACTIONS = tuple(name for name, a in ACTIONS.items() if a.roles != SYSTEM)


@dataclass(frozen=True)
class TimeLimit:
    """A matter's time limit: ``amount`` in ``unit`` (``working_hours`` or ``working_days``)."""

    amount: float
    unit: str


@dataclass(frozen=True)
class EventState:
    """What the loop needs to know about an event (times are those of the steps, None before them)."""

    status: str = "reported"
    dispatched_at: datetime | None = None
    deadline_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    warned_at: datetime | None = None
    escalated_at: datetime | None = None
    handled_by: int | None = None  # the user who fed back (None: not fed back, or by the system)

    @property
    def overdue(self) -> bool:
        """Escalated as overdue and not closed (the backlog 挂账)."""
        return self.escalated_at is not None and self.status != "closed"

    def is_overdue(self, now: datetime) -> bool:
        """Whether the deadline has passed with the clock running at ``now``."""
        return self.status in CLOCK_RUNNING and self.deadline_at is not None and now >= self.deadline_at


#: Actions the one who fed back may not take (the check on the spot is someone else's).
CHECKS = frozenset({"verify", "reject"})


def same_person(state: EventState, actor: int | None) -> bool:
    """Whether ``actor`` is the one who fed back the work (and so may not check it)."""
    return actor is not None and state.handled_by is not None and actor == state.handled_by


def allowed_actions(status: str, role: str, *, state: EventState | None = None,
                    actor: int | None = None) -> list[str]:
    """The user actions ``role`` (user ``actor``) may take on an event in ``status`` (for buttons).

    With ``state`` and ``actor``, the checks are left out for the one who fed back.
    """
    names = [name for name in USER_ACTIONS if status in ACTIONS[name].sources and role in ACTIONS[name].roles]
    if state is not None and same_person(state, actor):
        names = [name for name in names if name not in CHECKS]
    return names


def transition(state: EventState, action: str, actor_role: str, now: datetime, *,
               calendar: WorkCalendar | None = None, limit: TimeLimit | None = None,
               actor: int | None = None) -> EventState:
    """The state after ``actor_role`` does ``action`` at ``now``.

    Parameters
    ----------
    state
        The event's current state.
    action
        A name of :data:`ACTIONS`.
    actor_role
        A role of :mod:`server.services.permissions`, ``public`` or ``system``.
    now
        The moment of the action (tests pass frozen times).
    calendar, limit
        ``dispatch`` only: the working calendar and the matter's time limit the deadline is counted from.
    actor
        The acting user's id (None for the public and the system): recorded on ``feedback``, and
        refused on ``verify``/``reject`` when it is the one who fed back.

    Raises
    ------
    InputError
        An unknown action or status, an action not allowed from this status or for this role, a
        dispatch without a time limit, a check by the one who fed back, or a timer that is not due;
        the message names the transition.
    """
    spec = ACTIONS.get(action)
    if spec is None:
        raise InputError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}", field="action")
    if state.status not in STATES:
        raise InputError(f"unknown event status {state.status!r}", field="status")
    if state.status not in spec.sources:
        raise InputError(f"cannot {action} ({spec.label}) an event that is {state.status}; {action} applies to "
                         f"{', '.join(sorted(spec.sources))} events", field="action")
    if actor_role not in spec.roles:
        raise InputError(f"role {actor_role} may not {action} ({spec.label}) an event; that needs "
                         f"{' or '.join(sorted(spec.roles))}", field="action")
    if action in CHECKS and same_person(state, actor):
        raise InputError(f"the one who fed back may not {action} ({spec.label}) the same event: another person "
                         "checks it (separation of duties)", field="action")
    target = spec.target or state.status
    if action == "dispatch":
        if calendar is None or limit is None:
            raise InputError("dispatch needs the matter's time limit (choose a category with a time limit)",
                             field="category")
        deadline = calendar.add_working_time(now, limit.amount, limit.unit)
        # A re-dispatch (after a return) is a fresh start: new clock, no old warning or escalation.
        return replace(state, status=target, dispatched_at=now, deadline_at=deadline, handled_at=None,
                       warned_at=None, escalated_at=None, handled_by=None)
    if action == "feedback":
        return replace(state, status=target, handled_at=now, handled_by=actor)
    if action == "reject":
        return replace(state, status=target, handled_at=None, handled_by=None)
    if action == "close":
        return replace(state, status=target, closed_at=now)
    if action == "warn":
        if state.warned_at is not None or state.deadline_at is None:
            raise InputError("no warning is due: already warned or no deadline", field="action")
        return replace(state, warned_at=now)
    if action == "escalate":
        if state.escalated_at is not None or not state.is_overdue(now):
            raise InputError("no escalation is due: already escalated or not overdue", field="action")
        return replace(state, escalated_at=now, warned_at=state.warned_at or now)
    return replace(state, status=target)


def due_timers(state: EventState, now: datetime, calendar: WorkCalendar,
               warning_share: float = WARNING_SHARE) -> list[str]:
    """The timer actions due at ``now``: ``warn`` (at most ``warning_share`` left) and/or ``escalate`` (overdue).

    An event that becomes overdue unwarned (the sweep did not run in between) gets both, warning first.
    """
    if state.status not in CLOCK_RUNNING or state.deadline_at is None or state.dispatched_at is None:
        return []
    due = []
    overdue = now >= state.deadline_at
    if state.warned_at is None and (overdue or calendar.remaining_share(now, state.dispatched_at,
                                                                        state.deadline_at) <= warning_share):
        due.append("warn")
    if state.escalated_at is None and overdue:
        due.append("escalate")
    return due


def on_time(state: EventState) -> bool | None:
    """Whether a closed event was handled (fed back) by its deadline; None when not closed or never timed."""
    if state.status != "closed" or state.deadline_at is None:
        return None
    done = state.handled_at or state.closed_at
    return done is not None and done <= state.deadline_at
