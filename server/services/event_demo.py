"""Demo grid events in every stage of the loop, on the demo county (``wangge demo load``)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine

from gis.eventflow import ACTIONS
from gis.workcal import WorkCalendar
from server.services import events as ev
from server.services.divisions import divisions_in_force
from server.services.event_timers import sweep
from server.services.matters import ensure_demo_matters, usable_matter
from server.store import events as store
from server.store.audit import audit

log = logging.getLogger(__name__)

DEMO_PREFIX = "SJDEMO"
DEMO_COMMUNITY = "320499001001"  # the demo grid staff user's community
#: (category, title, description, how far along, reported by the public)
DEMO_EVENTS = (
    ("0301", "楼上漏水引发邻里争执", "302室与402室因楼上漏水多次争吵，需调解。", "closed_late", False),
    ("0101", "菜市场门口占道经营", "早市摊贩占用人行道，行人只能走机动车道。", "closed_on_time", True),
    ("0201", "小区消防通道被私家车堵塞", "3幢东侧消防通道长期停放私家车。", "overdue", False),
    ("0104", "垃圾桶满溢", "小区北门垃圾桶满溢两天未清运。", "warned", True),
    ("0107", "路灯不亮", "小区南侧道路三盏路灯夜间不亮。", "handling", True),
    ("0102", "楼道堆放杂物", "5幢2单元楼道堆放纸箱和旧家具。", "handled", False),
    ("0402", "餐馆油烟扰民", "沿街餐馆油烟直排居民楼。", "returned", True),
    ("0404", "空地焚烧垃圾", "村口空地有人焚烧垃圾。", "registered", True),
    ("0106", "人行道砖块松动", "人行道多处砖块松动，老人容易绊倒。", "reported", True),
    ("0601", "重复上报：占道经营", "与早市占道经营为同一事项。", "cancelled", True),
)
#: How many time limits before ``now`` each stage was dispatched.
_DISPATCHED_BACK = {"closed_late": 4, "closed_on_time": 3, "overdue": 1.5, "warned": 0.9, "handled": 0.6,
                    "handling": 0.3, "returned": 0.2}


def _demo_staff(conn: Connection, grid_codes: list[str], since: date) -> None:
    """A full-time worker (signed in as the demo user ``staff``) and a grid chief for the demo community's grids."""
    if not grid_codes or store.grids_have_staff(conn, grid_codes):
        return
    user = store.user_ids(conn, ["staff"]).get("staff")
    township = DEMO_COMMUNITY[:9] + "000"
    full_time = store.ensure_staff(conn, "DEMO-S01", {"name": "张晓网", "phone": "0512-5550101",
                                                      "user_id": user.id if user else None,
                                                      "township_code": township})
    chief = store.ensure_staff(conn, "DEMO-S02", {"name": "王建国", "phone": "0512-5550102", "user_id": None,
                                                  "township_code": township})
    for grid in grid_codes:
        store.assign_staff(conn, full_time, grid, "full_time", since)
        store.assign_staff(conn, chief, grid, "grid_chief", since)
    audit(conn, "staff_add", "staff", None, None, {"demo": True, "grids": grid_codes}, actor="demo")


def _steps(stage: str, reported_at: datetime, dispatch_at: datetime | None, limit: timedelta,
           calendar: WorkCalendar) -> list[tuple[str, datetime, str | None]]:
    """The actions that bring a demo event to ``stage``, with their times and notes."""
    hour = timedelta(hours=1)
    if stage == "cancelled":
        return [("cancel", reported_at + hour, "重复上报")]
    if stage == "reported":
        return []
    steps = [("register", calendar.add_working_time(reported_at, 0.5), None)]
    if dispatch_at is None:
        return steps
    steps.append(("dispatch", dispatch_at, None))

    def at(share: float) -> datetime:
        return calendar.add_working_time(dispatch_at, limit * share)

    if stage == "returned":
        return steps + [("return", at(0.1), "油烟扰民属生态环境部门职责，请改派")]
    if stage != "overdue":
        steps.append(("handle", at(0.05), None))
    if stage in ("handled", "closed_on_time", "closed_late"):
        done = 0.5 if stage != "closed_late" else 1.3
        steps.append(("feedback", at(done), "已处置完毕"))
    if stage in ("closed_on_time", "closed_late"):
        steps += [("verify", at(done + 0.2), "现场核查属实，已解决"), ("close", at(done + 0.4), None)]
    return steps


def _play(engine: Engine, event_id: int, stage: str, steps: list, people: dict, calendar: WorkCalendar) -> None:
    """Do the steps as the dispatch centre and the grid worker (each where their role allows)."""
    for action, when, note in steps:
        if stage == "closed_late" and action == "feedback":
            sweep(engine, when - timedelta(minutes=1), calendar)  # warned and escalated before it was handled
        spec = ACTIONS[action]
        # The worker does the work, the centre dispatches and checks (never the one who fed back).
        by_worker = "grid_staff" in spec.roles and action not in ("verify", "reject")
        user = people["worker"] if by_worker else people["centre"]
        role = ev.actor_role(user) if user else "admin"
        with engine.begin() as conn:
            row = store.lock_event(conn, event_id)
            ev.apply_action(conn, row, action, role=role, user=user, now=when, calendar=calendar, note=note)


def _places(engine: Engine) -> tuple[list, list[str]]:
    """Where the demo events go, and the codes of the demo community's grids."""
    with engine.connect() as conn:
        grids = store.grid_points(conn, list(divisions_in_force(conn).values()), DEMO_COMMUNITY)
    home = [g for g in grids if g.community_code == DEMO_COMMUNITY]
    # Spread the events over the home community's grids first, then a few elsewhere.
    places = home[:6] + [g for g in grids if g.community_code != DEMO_COMMUNITY][::max(1, len(grids) // 8)]
    return places, [g.code for g in home]


def _demo_event(engine: Engine, service, n: int, spec: tuple, place, people: dict, now: datetime,
                calendar: WorkCalendar) -> None:
    category, title, description, stage, public = spec
    with engine.connect() as conn:
        matter = usable_matter(conn, category, now.date())
    limit = calendar.amount_to_timedelta(matter.time_limit, matter.time_unit)
    back = _DISPATCHED_BACK.get(stage)
    dispatch_at = calendar.subtract_working_time(now, limit * back) if back else None
    reported_at = calendar.subtract_working_time(dispatch_at or now, timedelta(hours=1.5))
    report = ev.Report(description=description, title=title, category=category, lon=place.lon, lat=place.lat)
    reporter = None if public or place.community_code != DEMO_COMMUNITY else people["worker"]
    event = ev.report_event(engine, service, report, user=reporter, now=reported_at, calendar=calendar,
                            code=f"{DEMO_PREFIX}{n:02d}")
    _play(engine, event["id"], stage, _steps(stage, reported_at, dispatch_at, limit, calendar), people, calendar)


def ensure_demo_events(engine: Engine, *, now: datetime | None = None, calendar: WorkCalendar | None = None) -> int:
    """Demo events in every stage of the loop (once: nothing happens when demo events exist); return how many.

    Also loads the missing matters and, when the demo community's grids have no staff, a demo full-time
    worker linked to the demo user ``staff`` and a grid chief. Times are set back from ``now`` on the
    working calendar so that one event is warned, one overdue, one closed on time and one late.
    """
    from server.services.lookup import LookupService

    calendar = calendar or WorkCalendar.china()
    now = ev._aware(now or ev.clock(), calendar)
    ensure_demo_matters(engine)
    with engine.connect() as conn:
        if store.event_ids_with_code(conn, DEMO_PREFIX):
            return 0
        users = store.user_ids(conn, ["admin", "operator", "staff"])
    places, home = _places(engine)
    if not places:
        log.warning("no grids in force: no demo events")
        return 0
    with engine.begin() as conn:
        # Serving since well before the back-dated demo events, so they are assigned too.
        _demo_staff(conn, home, now.astimezone(calendar._zone).date() - timedelta(days=365))
    centre = users.get("operator") or users.get("admin")
    people = {"centre": centre, "worker": users.get("staff") or centre}
    service = LookupService(engine, background=False, check_interval=0)
    try:
        for n, spec in enumerate(DEMO_EVENTS, start=1):
            _demo_event(engine, service, n, spec, places[(n - 1) % len(places)], people, now, calendar)
    finally:
        service.close()
    sweep(engine, now, calendar)
    log.info("demo: %d grid events", len(DEMO_EVENTS))
    return len(DEMO_EVENTS)
