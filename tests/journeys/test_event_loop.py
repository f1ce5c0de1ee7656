"""Journey: a grid event's closed loop, as the people who work it.

A resident on a phone reports a neighbours' dispute with a photo and keeps the tracking code; the
operator of the street (desktop) registers and dispatches it on 2026-09-30 at 10:00, so its deadline
of 3 working days runs across National Day and lands on the make-up working Saturday 10 October; the
grid worker on a phone starts it and reports it done; the county editor (a different person) verifies
it on the spot; the operator closes it; the resident follows it by its code. Finally the operator sees
that the holiday schedule of the next year is not loaded yet. The event clock is frozen
(:func:`server.services.events.clock`), so every deadline is exact.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from server import engine_of
from server.services import events as ev
from server.services.divisions import divisions_in_force
from server.store import events as store

pytestmark = [pytest.mark.browser, pytest.mark.db]

CST = ZoneInfo("Asia/Shanghai")
COMMUNITY = "320499001001"  # the demo grid worker's community
DESCRIPTION = "3幢302室与402室因楼上漏水多次争吵，今早又在楼道里吵起来，请网格员上门调解。"


class Clock:
    """The event clock the app reads; the journey moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    frozen = Clock(datetime(2026, 9, 30, 9, 40, tzinfo=CST))
    monkeypatch.setattr(ev, "clock", frozen)
    return frozen


def a_grid_point(app):
    with engine_of(app).connect() as conn:
        points = store.grid_points(conn, list(divisions_in_force(conn).values()), COMMUNITY)
    return next(p for p in points if p.community_code == COMMUNITY)


def phone_photo(tmp_path):
    """A JPEG as a phone takes it: with the maker and the GPS position in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (31.0, 18.0, 0.0), 3: "E", 4: (120.0, 36.0, 0.0)}
    path = tmp_path / "楼道争吵.jpg"
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (170, 150, 120)).save(out, format="JPEG", exif=exif)
    path.write_bytes(out.getvalue())
    return path


def card(j, code: str):
    return j.page.locator(f"#mine-rows .ev-item[data-code='{code}']")


def open_my_events(j) -> None:
    j.goto("/events/mine")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)


def do(j, code: str, action: str, note: str | None = None) -> None:
    """Press an action button on the event's card (with a note) and wait for the new status."""
    item = card(j, code)
    before = item.get_attribute("data-status")
    if note:
        item.locator(".ev-note").fill(note)
    item.locator(f"button[data-action={action}]").click()
    j.page.wait_for_function(
        """([code, before]) => {
            const el = document.querySelector(`#mine-rows .ev-item[data-code='${code}']`);
            return el && el.dataset.status !== before;
        }""", arg=[code, before], timeout=15_000)


def resident_reports(journey, app, tmp_path) -> tuple[str, str]:
    j = journey("event-loop-resident", "phone")
    grid = a_grid_point(app)
    j.goto("/report")
    j.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    j.step("report-form")
    j.page.locator("#report-map").scroll_into_view_if_needed()
    xy = j.page.evaluate("""([lat, lon]) => {
        const map = window.wanggeReportMap;
        map.setView([lat, lon], 17, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]);
        return [p.x, p.y];
    }""", [grid.lat, grid.lon])
    j.page.locator("#report-map").click(position={"x": xy[0], "y": xy[1]})
    j.page.wait_for_selector("#report-point.chosen")
    j.page.select_option("#report-category", "0301")  # 邻里纠纷: 3 working days
    j.page.fill("#report-description", DESCRIPTION)
    j.page.set_input_files("#report-photos", str(phone_photo(tmp_path)))
    j.page.wait_for_selector("#report-previews img")
    j.step("report-filled-with-a-photo")
    j.page.click("#report-submit")
    j.page.wait_for_selector("#report-tracking", timeout=15_000)
    code = j.page.text_content("#report-code").strip()
    tracking = j.page.text_content("#report-tracking").strip()
    assert code.startswith("SJ20260930") and re.fullmatch(r"[A-Z2-9]{10}", tracking)
    assert "1 张照片" in j.page.text_content("#report-result")
    j.step("report-received-with-its-tracking-code")
    return code, tracking


def operator_registers_and_dispatches(journey, clock, code: str):
    j = journey("event-loop-operator", "desktop")
    j.sign_in("operator")
    clock.now = datetime(2026, 9, 30, 9, 55, tzinfo=CST)
    open_my_events(j)
    assert card(j, code).get_attribute("data-status") == "reported"
    assert "邻里纠纷" in card(j, code).text_content()
    j.step("operator-sees-the-new-report")
    do(j, code, "register")
    clock.now = datetime(2026, 9, 30, 10, 0, tzinfo=CST)
    do(j, code, "dispatch", "请网格员上门调解")
    deadline = card(j, code).locator(".ev-deadline time").text_content()
    # 3 working days from Wednesday 30 September 10:00: 1-7 October are National Day, Thursday 8 and
    # Friday 9 are working days, and Saturday 10 October is a make-up working day (调休).
    assert deadline == "10月10日 10:00", deadline
    # The card opens its details (the history) after an action.
    j.page.wait_for_selector(f"#mine-rows .ev-item[data-code='{code}'] .ev-history")
    assert "截止2026-10-10 10:00" in card(j, code).locator(".ev-history").text_content()
    j.step("dispatched-deadline-across-national-day")
    return j


def staff_handles_on_a_phone(journey, clock, code: str) -> None:
    j = journey("event-loop-staff", "phone")
    j.sign_in("staff")
    clock.now = datetime(2026, 10, 8, 9, 30, tzinfo=CST)
    open_my_events(j)
    item = card(j, code)
    assert item.get_attribute("data-status") == "dispatched"
    assert item.locator("a.ev-tel").get_attribute("href").startswith("tel:")
    assert item.locator("h2").bounding_box()["width"] > 300  # a card, not a squeezed table column
    j.step("staff-sees-the-event-on-a-phone")
    do(j, code, "handle")
    j.step("staff-started")
    clock.now = datetime(2026, 10, 8, 15, 0, tzinfo=CST)
    do(j, code, "feedback", "已上门调解，402室同意修好漏水管道，双方和解")
    item = card(j, code)
    assert item.get_attribute("data-status") == "handled"
    assert item.locator("button[data-action=verify]").count() == 0  # not the one who fed back
    assert "须由他人核查" in item.text_content()
    j.step("staff-reported-it-done")


def editor_verifies(journey, clock, code: str) -> None:
    j = journey("event-loop-verifier", "desktop")
    j.sign_in("editor")
    clock.now = datetime(2026, 10, 9, 10, 0, tzinfo=CST)
    open_my_events(j)
    assert card(j, code).get_attribute("data-status") == "handled"
    do(j, code, "verify", "电话回访302室、402室，确认已和解")
    assert card(j, code).get_attribute("data-status") == "verified"
    j.step("a-different-person-verified")


def test_event_loop(journey, journey_app, clock, tmp_path):
    code, tracking = resident_reports(journey, journey_app, tmp_path)
    operator = operator_registers_and_dispatches(journey, clock, code)
    staff_handles_on_a_phone(journey, clock, code)
    editor_verifies(journey, clock, code)

    clock.now = datetime(2026, 10, 9, 11, 0, tzinfo=CST)
    open_my_events(operator)
    operator.page.uncheck("#mine-open")
    operator.page.wait_for_function("document.body.dataset.ready === 'true'")
    operator.page.wait_for_selector(f"#mine-rows .ev-item[data-code='{code}'] button[data-action=close]")
    do(operator, code, "close")
    assert card(operator, code).get_attribute("data-status") == "closed"
    operator.step("operator-closed-it")

    resident = journey("event-loop-follow", "phone")
    resident.goto(f"/track/{tracking}")
    resident.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    result = resident.page.text_content("#track-result")
    assert "已结案" in result and "邻里纠纷" in result
    steps = resident.page.locator("#track-history li").all_text_contents()
    labels = ["上报", "立案", "派遣", "开始处置", "反馈办结", "核查通过", "结案"]
    assert len(steps) == 7 and all(label in step for label, step in zip(labels, steps, strict=True)), steps
    assert "10月10日" not in result  # closed: no deadline shown any more
    for private in ("街道网格工作站", "示范县网格化中心", "402室同意", "电话回访", "双方和解"):
        assert private not in result, private  # no one's name, no staff notes
    assert resident.page.locator("#track-result img").count() == 1
    resident.step("resident-follows-the-report-by-its-code")

    # In December the deadlines reach into 2027, whose holiday schedule is not published yet.
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=CST)
    operator.goto("/events/stats")
    operator.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=30_000)
    warning = operator.page.text_content("#calendar-warning")
    assert "2027" in warning and "official_years" in warning
    operator.step("operator-warned-the-2027-schedule-is-missing")
