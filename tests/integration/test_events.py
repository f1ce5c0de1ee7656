"""Grid events end to end over the API, with a frozen clock: report → register → dispatch → handle → feedback →
verify → close, returns, cancellation, warnings and escalation, routing, the matter list and permissions.

Runs on the editor database (the demo county divided into drafts, with the demo users); it writes events,
matters and staff, never divisions. 2026-12-04 is a Friday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, select, text

from server import engine_of
from server.services import event_demo, event_timers, matters
from server.services import events as ev
from server.services.divisions import divisions_in_force
from server.store import models as m
from server.web.auth import CSRF_FIELD, CSRF_HEADER

pytestmark = pytest.mark.db

CST = ZoneInfo("Asia/Shanghai")
FRIDAY_4PM = datetime(2026, 12, 4, 16, 0, tzinfo=CST)
STAFF_COMMUNITY = "320499001001"  # the demo user staff's scope


class FrozenClock:
    """What ``server.services.events.clock`` answers; tests move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    frozen = FrozenClock(FRIDAY_4PM)
    monkeypatch.setattr(ev, "clock", frozen)
    return frozen


@pytest.fixture
def client(editor_app):
    matters.ensure_demo_matters(engine_of(editor_app))
    ev.report_limiter(editor_app).clear()
    return editor_app.test_client()


@pytest.fixture
def engine(editor_app):
    return engine_of(editor_app)


def bearer(editor_tokens, user: str) -> dict:
    return {"Authorization": f"Bearer {editor_tokens[user]}"}


def grid_points(engine, community_prefix: str, n: int = 3) -> list:
    """``(code, community_code, lon, lat)`` of grids in force under a code prefix, a point inside each."""
    with engine.connect() as conn:
        ids = list(divisions_in_force(conn).values())
        return conn.execute(text("""
            SELECT g.code, d.community_code, ST_X(ST_PointOnSurface(g.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM grid g JOIN division d ON d.id = g.division_id
            WHERE g.division_id = ANY(CAST(:ids AS int[])) AND g.code LIKE :p AND g.geom IS NOT NULL
            ORDER BY g.code LIMIT :n"""), {"ids": ids, "p": community_prefix + "%", "n": n}).all()


def error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]


def act(client, headers, event_id: int, action: str, **extra):
    return client.post(f"/api/v1/events/{event_id}/actions", json={"action": action, **extra}, headers=headers)


def history(engine, event_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(m.EventHistory.action, m.EventHistory.from_status, m.EventHistory.to_status)
            .where(m.EventHistory.event_id == event_id).order_by(m.EventHistory.at, m.EventHistory.id))]


def staff_report(client, editor_tokens, point, category="0101", **extra) -> dict:
    response = client.post("/api/v1/events", headers=bearer(editor_tokens, "staff"), json={
        "description": "测试事件", "category": category, "lon": point.lon, "lat": point.lat, **extra})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


# -- the matter list ------------------------------------------------------------------------------------

def test_matter_list_is_loaded_with_limits_units_and_exit(client):
    matters = {x["code"]: x for x in client.get("/api/v1/matters").get_json()["matters"]}
    assert matters["0101"]["name"] == "占道经营" and matters["0101"]["parent_name"] == "城市管理"
    assert (matters["0101"]["time_limit"], matters["0101"]["time_unit"]) == (4, "working_hours")
    assert matters["0101"]["responsible_unit"] == "县城市管理局"
    assert (matters["0301"]["name"], matters["0301"]["time_limit"], matters["0301"]["time_unit"],
            matters["0301"]["responsible_unit"]) == ("邻里纠纷", 3, "working_days", "司法所")
    assert "0504" not in matters  # exited 2025-06-30
    every = {x["code"]: x for x in client.get("/api/v1/matters?all=1").get_json()["matters"]}
    assert every["0504"]["exited_on"] == "2025-06-30" and not every["0504"]["in_force"]
    assert len([x for x in every.values() if x["parent_id"]]) >= 30


def test_admin_admits_and_exits_matters_and_an_exited_matter_is_refused(client, editor_tokens, engine, clock):
    admin = bearer(editor_tokens, "admin")
    for who in (None, "staff", "editor"):
        headers = bearer(editor_tokens, who) if who else {}
        response = client.post("/api/v1/matters", json={"code": "99", "name": "测试大类"}, headers=headers)
        assert response.status_code == (401 if who is None else 403)  # anonymous: no session, so 401 first
    assert client.post("/api/v1/matters", json={"code": "99", "name": "测试大类"}, headers=admin).status_code == 201
    created = client.post("/api/v1/matters", headers=admin, json={
        "code": "9901", "name": "测试小类", "parent": "99", "time_limit": 2, "time_unit": "working_hours",
        "responsible_unit": "测试局", "admitted_on": "2026-01-01"})
    assert created.status_code == 201, created.get_data(as_text=True)
    matter = created.get_json()
    assert error(client.post("/api/v1/matters", headers=admin, json={"code": "9901", "name": "x", "parent": "99",
                                                                     "time_limit": 1, "time_unit": "working_days"}),
                 409)["details"]["field"] == "code"
    assert error(client.post("/api/v1/matters", headers=admin, json={"code": "9902", "name": "x", "parent": "99",
                                                                     "time_limit": 1, "time_unit": "hours"}),
                 400)["details"]["field"] == "time_unit"
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    staff_report(client, editor_tokens, point, category="9901")  # in force: accepted
    exited = client.patch(f"/api/v1/matters/{matter['id']}", json={"exited_on": "2026-12-01"}, headers=admin)
    assert exited.status_code == 200 and exited.get_json()["exited_on"] == "2026-12-01"
    assert error(client.patch(f"/api/v1/matters/{matter['id']}", json={"exited_on": "2026-12-01"},
                              headers=bearer(editor_tokens, "staff")), 403)
    refused = error(client.post("/api/v1/events", headers=bearer(editor_tokens, "staff"), json={
        "description": "x", "category": "9901", "lon": point.lon, "lat": point.lat}), 400)
    assert refused["details"]["field"] == "category" and "left the matter list" in refused["message"]
    assert "9901" not in {x["code"] for x in client.get("/api/v1/matters").get_json()["matters"]}


# -- the loop -------------------------------------------------------------------------------------------

def test_the_whole_loop_with_a_deadline_across_the_weekend(client, editor_tokens, engine, clock):
    staff, operator = bearer(editor_tokens, "staff"), bearer(editor_tokens, "operator")
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    clock.now = FRIDAY_4PM - timedelta(minutes=30)
    event = staff_report(client, editor_tokens, point, title="菜场门口占道经营")
    assert event["status"] == "reported" and event["grid"]["code"] == point.code
    assert event["community"]["code"] == STAFF_COMMUNITY and event["code"].startswith("SJ20261204")
    eid = event["id"]
    assert act(client, staff, eid, "register").status_code == 403  # grid staff do not register
    clock.now = FRIDAY_4PM - timedelta(minutes=10)
    assert act(client, operator, eid, "register").get_json()["status"] == "registered"
    clock.now = FRIDAY_4PM
    dispatched = act(client, operator, eid, "dispatch").get_json()
    assert dispatched["status"] == "dispatched"
    # 占道经营: 4 working hours from Friday 16:00 → 1.5 h on Friday, 2.5 h on Monday → Monday 11:30.
    assert dispatched["dispatched_at"] == "2026-12-04T16:00:00+08:00"
    assert dispatched["deadline_at"] == "2026-12-07T11:30:00+08:00"
    assert dispatched["handler_unit"] == "县城市管理局"
    assert dispatched["remaining_share"] == 1.0 and dispatched["actions"] == ["handle", "return"]
    clock.now = datetime(2026, 12, 7, 9, 10, tzinfo=CST)
    handling = act(client, staff, eid, "handle").get_json()
    assert handling["status"] == "handling"
    assert handling["remaining_share"] == pytest.approx(2.33 / 4, abs=0.01)
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=CST)
    fed_back = act(client, staff, eid, "feedback", note="摊贩已劝离").get_json()
    assert fed_back["status"] == "handled" and fed_back["handled_at"] == "2026-12-07T10:00:00+08:00"
    clock.now = datetime(2026, 12, 7, 14, 0, tzinfo=CST)
    # Separation of duties: the one who fed back does not verify; another person does.
    assert "verify" not in fed_back["actions"] and fed_back["fed_back_by_me"] is True
    refused = error(act(client, staff, eid, "verify", note="自己核查"), 403)
    assert refused["details"]["rule"] == "separation_of_duties" and "反馈" in refused["message"]
    assert act(client, operator, eid, "verify", note="现场核查无占道").get_json()["status"] == "verified"
    clock.now = datetime(2026, 12, 7, 15, 0, tzinfo=CST)
    closed = act(client, operator, eid, "close").get_json()
    assert closed["status"] == "closed" and closed["on_time"] is True and closed["actions"] == []
    assert closed["closed_at"] == "2026-12-07T15:00:00+08:00"
    assert history(engine, eid) == [
        ("report", None, "reported"), ("register", "reported", "registered"),
        ("dispatch", "registered", "dispatched"), ("handle", "dispatched", "handling"),
        ("feedback", "handling", "handled"), ("verify", "handled", "verified"), ("close", "verified", "closed")]
    detail = client.get(f"/api/v1/events/{eid}", headers=staff).get_json()
    assert [h["action"] for h in detail["history"]][-1] == "close"
    assert "截止2026-12-07 11:30" in detail["history"][2]["note"]  # a local time people read, not ISO
    with engine.connect() as conn:
        audited = conn.execute(select(m.AuditLog.action).where(m.AuditLog.entity == "event",
                                                               m.AuditLog.entity_id == str(eid))
                               .order_by(m.AuditLog.id)).scalars().all()
    assert audited == ["event_report", "event_register", "event_dispatch", "event_handle", "event_feedback",
                       "event_verify", "event_close"]
    assert act(client, operator, eid, "close").status_code == 409  # closed is final


def test_return_to_sender_redispatch_and_cancel(client, editor_tokens, engine, clock):
    staff, operator = bearer(editor_tokens, "staff"), bearer(editor_tokens, "operator")
    point = grid_points(engine, STAFF_COMMUNITY, 2)[1]
    eid = staff_report(client, editor_tokens, point, category="0402")["id"]
    act(client, operator, eid, "register")
    act(client, operator, eid, "dispatch")
    missing = error(act(client, staff, eid, "return"), 400)
    assert missing["details"]["field"] == "note"
    clock.now = FRIDAY_4PM + timedelta(minutes=5)
    returned = act(client, staff, eid, "return", note="不属于本单位职责")
    assert returned.get_json()["status"] == "returned"
    assert "cannot handle" in error(act(client, staff, eid, "handle"), 409)["message"]
    # Re-dispatched with another category: a fresh clock from the new dispatch, the new unit.
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=CST)
    again = act(client, operator, eid, "dispatch", category="0401").get_json()
    assert again["status"] == "dispatched" and again["category"]["code"] == "0401"
    assert again["deadline_at"] == "2026-12-07T17:30:00+08:00"  # 1 working day = 7 working hours
    assert again["handler_unit"] == "县生态环境局"
    assert [h[0] for h in history(engine, eid)] == ["report", "register", "dispatch", "return", "dispatch"]

    other = staff_report(client, editor_tokens, point)["id"]
    assert error(act(client, operator, other, "cancel"), 400)["details"]["field"] == "note"
    cancelled = act(client, operator, other, "cancel", note="重复上报").get_json()
    assert cancelled["status"] == "cancelled"
    assert error(act(client, operator, other, "register"), 409)["details"] == {"action": "register",
                                                                              "status": "cancelled"}
    assert history(engine, other)[-1] == ("cancel", "reported", "cancelled")


def test_warning_at_20_percent_left_and_escalation_when_overdue(client, editor_tokens, engine, editor_app, clock):
    operator = bearer(editor_tokens, "operator")
    point = grid_points(engine, STAFF_COMMUNITY, 3)[2]
    clock.now = datetime(2026, 12, 7, 8, 30, tzinfo=CST)
    eid = staff_report(client, editor_tokens, point, category="0102")["id"]  # 乱堆乱放: 8 working hours
    act(client, operator, eid, "register")
    clock.now = datetime(2026, 12, 7, 9, 0, tzinfo=CST)
    deadline = act(client, operator, eid, "dispatch").get_json()["deadline_at"]
    assert deadline == "2026-12-08T10:00:00+08:00"  # 7 h on Monday, 1 h on Tuesday
    calendar = ev.work_calendar(editor_app)
    code = client.get(f"/api/v1/events/{eid}", headers=operator).get_json()["code"]

    def sweep(at: datetime) -> dict:
        done = event_timers.sweep(engine, at, calendar)
        return {k: [c for c in v if c == code] for k, v in done.items()}

    # 20 % of 8 h is 1 h 36 min: left at 16:54 (36 min on Monday + 1 h on Tuesday).
    assert sweep(datetime(2026, 12, 7, 16, 53, tzinfo=CST)) == {"warned": [], "escalated": []}
    assert sweep(datetime(2026, 12, 7, 16, 54, tzinfo=CST)) == {"warned": [code], "escalated": []}
    assert sweep(datetime(2026, 12, 8, 9, 59, tzinfo=CST)) == {"warned": [], "escalated": []}
    assert sweep(datetime(2026, 12, 8, 10, 0, tzinfo=CST)) == {"warned": [], "escalated": [code]}
    assert sweep(datetime(2026, 12, 9, 10, 0, tzinfo=CST)) == {"warned": [], "escalated": []}
    assert history(engine, eid)[-2:] == [("warn", "dispatched", "dispatched"), ("escalate", "dispatched", "dispatched")]
    clock.now = datetime(2026, 12, 8, 11, 0, tzinfo=CST)
    detail = client.get(f"/api/v1/events/{eid}", headers=operator).get_json()
    assert detail["warned_at"] == "2026-12-07T16:54:00+08:00" and detail["escalated_at"] == "2026-12-08T10:00:00+08:00"
    assert detail["overdue"] is True and detail["remaining_share"] == 0.0
    assert "城关街道" in detail["history"][-1]["note"]  # escalated to the street above the community
    overdue = client.get("/api/v1/events?overdue=1", headers=operator).get_json()["events"]
    assert eid in [e["id"] for e in overdue]
    with engine.connect() as conn:
        actors = conn.execute(select(m.AuditLog.actor).where(m.AuditLog.entity_id == str(eid),
                                                             m.AuditLog.action.in_(["event_warn", "event_escalate"]))
                              ).scalars().all()
    assert actors == ["system", "system"]
    stats = client.get(f"/api/v1/events/stats?area={STAFF_COMMUNITY}", headers=operator).get_json()
    row = next(g for g in stats["grids"] if g["grid_code"] == point.code)
    assert row["overdue"] >= 1
    # Handled late: closed, but not on time (verified by someone other than the one who fed back).
    for action in ("handle", "feedback"):
        assert act(client, operator, eid, action).status_code == 200
    assert act(client, bearer(editor_tokens, "editor"), eid, "verify").status_code == 200
    assert act(client, operator, eid, "close").status_code == 200
    assert client.get(f"/api/v1/events/{eid}", headers=operator).get_json()["on_time"] is False


def test_lazy_sweep_on_reads(client, editor_tokens, engine, clock):
    operator = bearer(editor_tokens, "operator")
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    eid = staff_report(client, editor_tokens, point, category="0203")["id"]  # 燃气安全隐患: 1 working hour
    act(client, operator, eid, "register")
    act(client, operator, eid, "dispatch")  # Friday 16:00 → 17:00
    clock.now = datetime(2026, 12, 4, 17, 1, tzinfo=CST)
    detail = client.get(f"/api/v1/events/{eid}", headers=operator).get_json()
    assert detail["escalated_at"] == "2026-12-04T17:01:00+08:00" and detail["overdue"]


# -- routing --------------------------------------------------------------------------------------------

def test_routing_to_the_grid_its_community_and_its_staff(client, engine, clock):
    # A town's grid served only by staff of this test (the demo staffs every grid: clear one grid's).
    with engine.connect() as conn:
        served = set(conn.execute(select(m.StaffAssignment.grid_code).join(m.Staff).where(
            m.Staff.code.like("EVT-%"))).scalars())
    grid = next(g for g in grid_points(engine, "320499101", 50) if g.code not in served)
    with engine.begin() as conn:
        conn.execute(delete(m.StaffAssignment).where(m.StaffAssignment.grid_code == grid.code))
        ids = conn.execute(insert(m.Staff).returning(m.Staff.id, sort_by_parameter_order=True), [
            {"code": "EVT-CHIEF", "name": "李网格长", "phone": "0512-0000001"},
            {"code": "EVT-FULL", "name": "赵专职", "phone": "0512-0000002"},
            {"code": "EVT-OLD", "name": "钱离任", "phone": "0512-0000003"}]).scalars().all()
        conn.execute(insert(m.StaffAssignment), [
            {"staff_id": ids[2], "grid_code": grid.code, "role": "full_time", "start_date": date(2020, 1, 1),
             "end_date": date(2021, 1, 1)},
            {"staff_id": ids[0], "grid_code": grid.code, "role": "grid_chief", "start_date": date(2020, 1, 1),
             "end_date": None},
            {"staff_id": ids[1], "grid_code": grid.code, "role": "full_time", "start_date": date(2020, 1, 1),
             "end_date": None}])
    router = ev.event_router(client.application)
    router.invalidate()  # the staff changed just now
    body = {"description": "路面塌陷", "category": "0106", "lon": grid.lon, "lat": grid.lat}
    answer = client.post("/api/v1/public/events", json=body)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    event = answer.get_json()
    assert event["community"]["code"] == grid.community_code and event["township"]["code"] == "320499101000"
    # Drafts only here: routed to the draft's grid, but its code and staff are not published to the public.
    assert event["grid"] is None and event["staff"] == []
    shown = ev.report_event(engine, router, ev.Report(**body), user=None, now=clock.now, calendar=ev.work_calendar(
        client.application), public_approved_only=False)
    assert shown["grid"]["code"] == grid.code
    assert {s["name"] for s in shown["staff"]} == {"李网格长", "赵专职"}
    with engine.connect() as conn:
        row = conn.execute(select(m.Event).where(m.Event.id == event["id"])).one()
        geom = conn.execute(select(func.ST_X(m.Event.geom), func.ST_Y(m.Event.geom), func.ST_SRID(m.Event.geom))
                            .where(m.Event.id == event["id"])).one()
    assert row.assigned_staff_id == ids[1]  # the full-time worker serving today, not the one who left
    assert row.source == "public" and row.reporter_user_id is None
    assert row.community_code == grid.community_code and row.grid_code == grid.code
    assert geom[2] == 4490 and geom[0] == pytest.approx(grid.lon) and geom[1] == pytest.approx(grid.lat)

    # An address routes the same way: a standard address inside that grid.
    with engine.connect() as conn:
        address = conn.execute(text("""
            SELECT a.address FROM address a JOIN grid g ON g.code = :code AND ST_Contains(g.geom, a.geom)
            WHERE g.division_id = ANY(CAST(:ids AS int[])) ORDER BY a.id LIMIT 1"""),
                               {"code": grid.code, "ids": list(divisions_in_force(conn).values())}).scalar()
    assert address is not None, f"the demo has no standard address in grid {grid.code}"
    by_address = client.post("/api/v1/public/events", json={"description": "路灯不亮", "address": address})
    assert by_address.status_code == 201, by_address.get_data(as_text=True)
    assert by_address.get_json()["address"] == address
    with engine.connect() as conn:
        routed = conn.execute(select(m.Event.grid_code).where(m.Event.id == by_address.get_json()["id"])).scalar()
    assert routed == grid.code


def test_gcj02_coordinates_are_converted(client, engine, clock):
    from gis.crs import wgs84_to_gcj02

    grid = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    lon, lat = wgs84_to_gcj02(grid.lon, grid.lat)  # CGCS2000 and WGS84 agree to well under a metre
    answer = client.post("/api/v1/public/events", json={"description": "x", "lon": float(lon), "lat": float(lat),
                                                        "crs": "gcj02"})
    assert answer.status_code == 201
    assert answer.get_json()["point"]["lon"] == pytest.approx(grid.lon, abs=1e-5)
    with engine.connect() as conn:
        routed = conn.execute(select(m.Event.grid_code).where(m.Event.id == answer.get_json()["id"])).scalar()
    assert routed == grid.code


# -- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field", "words"), [
    ({"description": "x", "category": "0999", "lon": None}, "category", "no matter"),
    ({"description": "x", "category": "01"}, "category", "大类"),
    ({"description": "x", "lon": 116.4, "lat": 39.9}, "lon,lat", "in no grid"),
    ({"description": "x", "lon": 500, "lat": 31}, "lon", "between"),
    ({"description": "x", "lon": 120.5}, "lat", "required"),
    ({"description": "x"}, "location", "location is required"),
    ({"description": "  ", "lon": 120.5, "lat": 31.3}, "description", "required"),
    ({"description": "x", "address": "火星路999号"}, "address", "no standard address"),
    ({"description": "x" * 2001, "lon": 120.5, "lat": 31.3}, "description", "at most 2000"),
])
def test_bad_reports_name_the_field(client, engine, clock, body, field, words):
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    if body.get("lon", 0) is None:
        body = {**body, "lon": point.lon, "lat": point.lat}
    err = error(client.post("/api/v1/public/events", json=body), 400)
    assert err["details"]["field"] == field and words in err["message"], err


def test_bad_actions_and_bodies(client, editor_tokens, engine, clock):
    operator = bearer(editor_tokens, "operator")
    eid = staff_report(client, editor_tokens, grid_points(engine, STAFF_COMMUNITY, 1)[0])["id"]
    assert error(act(client, operator, eid, "approve"), 400)["details"]["field"] == "action"
    assert error(act(client, operator, eid, "warn"), 400)["details"]["field"] == "action"  # the sweep's
    assert "cannot dispatch" in error(act(client, operator, eid, "dispatch"), 409)["message"]
    assert error(act(client, operator, eid, "handle", category="0101"), 409)
    assert error(act(client, operator, eid, "register", category="nope"), 400)["details"]["field"] == "category"
    assert error(act(client, operator, 10**9, "register"), 404)
    assert error(client.post(f"/api/v1/events/{eid}/actions", data="x", headers=operator), 400)
    assert error(client.post("/api/v1/public/events", data="[1]", content_type="application/json"), 400)
    assert error(client.get("/api/v1/events?status=lost", headers=operator), 400)
    assert error(client.get("/api/v1/events/stats?area=12", headers=operator), 400)


# -- permissions ---------------------------------------------------------------------------------------

def test_permissions(client, editor_tokens, engine, clock):
    staff, operator = bearer(editor_tokens, "staff"), bearer(editor_tokens, "operator")
    reviewer = bearer(editor_tokens, "reviewer")
    mine = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    other = grid_points(engine, "320499001002", 1)[0]  # same street, another community
    # The public reports, but may not act or read.
    public = client.post("/api/v1/public/events", json={"description": "x", "lon": other.lon, "lat": other.lat})
    assert public.status_code == 201
    pid = public.get_json()["id"]
    assert error(act(client, {}, pid, "register"), 401)["code"] == "unauthorized"  # no session at all
    with client.session_transaction() as session:
        session[CSRF_FIELD] = "events-test-token"
    assert error(act(client, {CSRF_HEADER: "events-test-token"}, pid, "register"), 401)
    assert error(client.get("/api/v1/events"), 401)
    assert error(client.get(f"/api/v1/events/{pid}"), 401)
    # Staff act only on events of their grids and see only those.
    act(client, operator, pid, "register")
    act(client, operator, pid, "dispatch", category="0101")
    assert "outside your scope" in error(act(client, staff, pid, "handle"), 403)["message"]
    assert error(client.get(f"/api/v1/events/{pid}", headers=staff), 404)
    listed = client.get("/api/v1/events", headers=staff).get_json()["events"]
    assert listed and all(e["grid_code"].startswith(STAFF_COMMUNITY) for e in listed)
    assert pid not in [e["id"] for e in listed]
    assert error(client.post("/api/v1/events", headers=staff, json={
        "description": "x", "lon": other.lon, "lat": other.lat}), 403)
    assert error(client.get("/api/v1/events/stats?area=320499000000", headers=staff), 403)
    assert client.get("/api/v1/events/stats", headers=staff).get_json()["area"] == STAFF_COMMUNITY
    # The operator's street contains both; the reviewer reads but never acts.
    assert act(client, operator, pid, "handle").status_code == 200
    own = staff_report(client, editor_tokens, mine)["id"]
    assert error(act(client, reviewer, own, "register"), 403)["details"]["role"] == "municipal_reviewer"
    assert client.get(f"/api/v1/events/{own}", headers=reviewer).get_json()["actions"] == []
    assert client.get(f"/api/v1/events/{own}", headers=operator).get_json()["actions"] == ["register", "cancel"]


def test_public_reports_need_no_csrf_but_are_rate_limited(client, editor_tokens, engine, editor_app, clock,
                                                          monkeypatch):
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    body = {"description": "x", "lon": point.lon, "lat": point.lat}
    with client.session_transaction() as session:
        session[CSRF_FIELD] = "events-test-token"
    # A cookie session without its CSRF token: the public endpoint takes it (and grants nothing) ...
    assert client.post("/api/v1/public/events", json=body).status_code == 201
    # ... while every other write still needs the token.
    assert error(client.post("/api/v1/events", json=body), 403)["code"] == "csrf_failed"
    assert error(client.post("/api/v1/events", json=body, headers={CSRF_HEADER: "events-test-token"}), 401)
    limiter = ev.report_limiter(editor_app)
    limiter.clear()
    monkeypatch.setattr(limiter, "limit", 2)
    assert [client.post("/api/v1/public/events", json=body).status_code for _ in range(3)] == [201, 201, 429]
    limited = client.post("/api/v1/public/events", json=body)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    limiter.clear()


# -- statistics, map data, CLI, demo ------------------------------------------------------------------

def test_statistics_heat_and_csv(client, editor_tokens, engine, clock):
    operator, editor = bearer(editor_tokens, "operator"), bearer(editor_tokens, "editor")
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    eid = staff_report(client, editor_tokens, point)["id"]
    for who, action in (("operator", "register"), ("operator", "dispatch"), ("operator", "handle"),
                        ("operator", "feedback"), ("editor", "verify"), ("operator", "close")):
        assert act(client, bearer(editor_tokens, who), eid, action).status_code == 200
    stats = client.get("/api/v1/events/stats", headers=editor).get_json()  # the editor's county by default
    assert stats["area"] == "320499000000"
    row = next(g for g in stats["grids"] if g["grid_code"] == point.code)
    assert row["events"] >= 1 and row["closed"] >= 1 and row["on_time"] >= 1
    assert row["closure_rate"] == pytest.approx(row["closed"] / row["registered"], abs=1e-4)
    assert stats["total"]["events"] == sum(g["events"] for g in stats["grids"])
    empty = client.get("/api/v1/events/stats?from=2030-01-01", headers=editor).get_json()
    assert empty["total"]["events"] == 0 and empty["total"]["closure_rate"] is None
    csv = client.get("/api/v1/events/stats?format=csv", headers=editor)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("grid_code,grid_name,community_code") and lines[-1].startswith("total,")
    heat = client.get("/api/v1/events/grids?area=320499001000", headers=operator)
    assert heat.mimetype == "application/geo+json"
    feature = next(f for f in heat.get_json()["features"] if f["properties"]["code"] == point.code)
    assert feature["properties"]["n_events"] >= 1 and feature["geometry"]["type"] == "MultiPolygon"
    points = client.get("/api/v1/events?format=geojson&area=" + STAFF_COMMUNITY, headers=operator).get_json()
    assert points["features"] and points["features"][0]["geometry"]["type"] == "Point"


def test_cli_loads_matters_and_sweeps(runner, editor_db_url, tmp_path):
    from server.cli.events import events, matters

    env = {"DATABASE_URL": editor_db_url}
    result = runner.invoke(matters, ["load"], env=env)
    assert result.exit_code == 0, result.output
    assert "added" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("code,category,subcategory,time_limit,time_unit,responsible_unit,admitted_on,exited_on\n"
                   "0101,城市管理,占道经营,4,hours,城管局,2024-01-01,\n", encoding="utf-8")
    result = runner.invoke(matters, ["load", str(bad)], env=env)
    assert result.exit_code == 1 and "feature 1" in result.output and "time_unit" in result.output
    result = runner.invoke(events, ["sweep", "--now", "2026-12-04T16:00:00+08:00"], env=env)
    assert result.exit_code == 0 and "warned" in result.output, result.output


def test_demo_events_cover_the_loop_and_are_idempotent(engine):
    created = event_demo.ensure_demo_events(engine)
    assert created in (0, len(event_demo.DEMO_EVENTS))
    assert event_demo.ensure_demo_events(engine) == 0
    with engine.connect() as conn:
        rows = conn.execute(select(m.Event.code, m.Event.status, m.Event.warned_at, m.Event.escalated_at,
                                   m.Event.assigned_staff_id)
                            .where(m.Event.code.like(event_demo.DEMO_PREFIX + "%")).order_by(m.Event.code)).all()
    assert {r.status for r in rows} == {"reported", "registered", "cancelled", "dispatched", "handling", "handled",
                                        "closed", "returned"}
    assert any(r.escalated_at is not None and r.status == "dispatched" for r in rows)
    # One was warned when made; other tests' sweeps with clocks set later may have escalated it since.
    assert sum(r.warned_at is not None for r in rows) >= 2


# -- photos and following a report by its code (issue 12, defect 10) -----------------------------------------

def _jpeg_with_exif() -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model X"  # Model
    exif[0x0112] = 6  # Orientation: rotate 90° to show
    exif[0x8825] = {1: "N", 2: (31.0, 18.0, 0.0), 3: "E", 4: (120.0, 36.0, 0.0)}  # GPS of someone's home
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 128, 0, 255)).save(out, format="PNG")
    return out.getvalue()


def _form(point, *files) -> dict:
    import io

    return {"description": "井盖缺失，夜里很危险", "lon": str(point.lon), "lat": str(point.lat), "category": "0106",
            "photos": [(io.BytesIO(data), name) for name, data in files]}


def test_a_report_with_photos_strips_exif_and_refuses_anything_else(client, editor_tokens, engine, clock):
    from PIL import Image

    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(m.EventPhoto)).scalar_one()
        events_before = conn.execute(select(func.count()).select_from(m.Event)).scalar_one()
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00" \
          b"\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    refused = [
        (_form(point, ("a.jpg", _jpeg_with_exif()), ("b.gif", gif)), "不是 JPEG 或 PNG"),
        (_form(point, *[(f"{n}.png", _png()) for n in range(4)]), "最多 3 张"),
        (_form(point, ("big.jpg", b"\xff\xd8" + b"0" * (5 * 1024 * 1024))), "5 MB"),
        (_form(point, ("fake.jpg", b"not an image at all")), "不是可读的"),
    ]
    for form, words in refused:
        err = error(client.post("/api/v1/public/events", data=form, content_type="multipart/form-data"), 400)
        assert err["details"]["field"] == "photos" and words in err["message"], err
    with engine.connect() as conn:  # nothing is stored: no photo, no event
        assert conn.execute(select(func.count()).select_from(m.EventPhoto)).scalar_one() == before
        assert conn.execute(select(func.count()).select_from(m.Event)).scalar_one() == events_before
    answer = client.post("/api/v1/public/events", data=_form(point, ("home.jpg", _jpeg_with_exif()),
                                                             ("map.png", _png())),
                         content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    event = answer.get_json()
    assert event["photos"] == 2 and len(event["tracking_code"]) == 10
    tracked = client.get(f"/api/v1/public/events/{event['tracking_code']}").get_json()
    assert [p["content_type"] for p in tracked["photo_list"]] == ["image/jpeg", "image/png"]
    jpeg = client.get(tracked["photo_list"][0]["url"])
    assert jpeg.status_code == 200 and jpeg.mimetype == "image/jpeg"
    import io

    cleaned = Image.open(io.BytesIO(jpeg.data))
    assert not cleaned.getexif() and "exif" not in cleaned.info  # no GPS, maker, model or orientation left
    assert cleaned.size == (48, 64)  # turned upright before the orientation tag was dropped
    assert b"PhoneMaker" not in jpeg.data
    staff_view = client.get(f"/api/v1/events/{event['id']}/photos/2", headers=bearer(editor_tokens, "operator"))
    assert staff_view.status_code == 200 and staff_view.mimetype == "image/png"
    assert client.get(f"/api/v1/events/{event['id']}/photos/2").status_code == 401  # staff photos need sign-in


def test_the_reporter_follows_the_report_by_its_tracking_code(client, editor_tokens, engine, clock):
    operator, staff, editor = (bearer(editor_tokens, u) for u in ("operator", "staff", "editor"))
    point = grid_points(engine, STAFF_COMMUNITY, 1)[0]
    event = client.post("/api/v1/public/events", json={"description": "路灯不亮，楼下302室王女士反映", "lon": point.lon,
                                                      "lat": point.lat, "category": "0107"}).get_json()
    eid, code = event["id"], event["tracking_code"]
    act(client, operator, eid, "register")
    act(client, operator, eid, "dispatch", note="请张晓网尽快处理")
    act(client, staff, eid, "handle")
    act(client, staff, eid, "feedback", note="已更换灯泡，联系人王女士 13800000000")
    act(client, editor, eid, "verify")
    tracked = client.get(f"/api/v1/public/events/{code.lower()}")  # codes are read out: case does not matter
    assert tracked.status_code == 200
    body = tracked.get_json()
    assert body["status"] == "verified" and body["code"] == event["code"]
    assert [s["action"] for s in body["history"]] == ["report", "register", "dispatch", "handle", "feedback",
                                                      "verify"]
    text_of_answer = tracked.get_data(as_text=True)
    # No one's personal data: no staff or user names, no notes, no phone numbers.
    for private in ("张晓网", "13800000000", "更换灯泡", "街道网格工作站", "示范县网格化中心", "0512-"):
        assert private not in text_of_answer, private
    assert all(set(s) == {"at", "action", "status"} for s in body["history"])
    missing = error(client.get("/api/v1/public/events/ZZZZZZZZZZ"), 404)
    assert missing["details"]["field"] == "code"
    assert client.get(f"/track/{code}").status_code == 200
