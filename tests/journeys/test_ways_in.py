"""The ways in (issue 12 #8): each demo role signs in, lands on its own work, and its header offers only the
pages it can use. Desktop for every role; grid staff also on a phone, where they work."""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.db]

COUNTY, TOWNSHIP = "320499000000", "320499001000"

#: Per demo user: where signing in lands, and the header links (ids) in order.
ROLES = {
    "admin": ("/admin/users", ["users", "audit", "review", "divisions", "staff", "events-map", "events-stats", "lookup",
                               "map"]),
    "reviewer": ("/review", ["review", "lookup", "map"]),
    "editor": (f"/areas/{COUNTY}/overview", ["divisions", "staff", "lookup", "map"]),
    "operator": ("/events/mine", ["events-mine", "divisions", "staff", "events-map", "events-stats", "lookup"]),
    "staff": ("/events/mine", ["events-mine", "report", "lookup"]),
}


def _installed(app, path: str) -> bool:
    try:
        app.url_map.bind("localhost").match(path, method="GET")
    except Exception:  # noqa: BLE001 - not a page of this app
        return False
    return True


def _expected(app, user: str) -> tuple[str, list[str]]:
    landing, links = ROLES[user]
    if not _installed(app, "/admin/users"):  # the users page comes with the admin pages (issue 11)
        links = [x for x in links if x != "users"]
        landing = "/admin/audit" if user == "admin" else landing
    return landing, links


def _header_links(page) -> list[str]:
    return [x.removeprefix("nav-") for x in page.eval_on_selector_all("#site-nav a[id^='nav-']",
                                                                      "els => els.map(e => e.id)")]


@pytest.mark.parametrize("user", list(ROLES))
def test_each_role_lands_on_its_own_work(journey, journey_app, user):
    landing, links = _expected(journey_app, user)
    j = journey(f"ways-in-{user}")
    j.sign_in(user)
    assert j.page.url.split("?")[0] == j.base_url + landing
    j.step("landed")
    assert _header_links(j.page) == links
    assert j.page.get_attribute(f"#nav-{links[0]}", "aria-current") == "page"
    assert j.page.locator("#menu-toggle").is_hidden()  # desktop: the links are in the bar itself
    # Every link the header offers opens for this role (no 403, no 404: the journey fails on those).
    for link in links[1:]:
        j.page.click(f"#nav-{link}")
        j.page.wait_for_load_state("networkidle")
        assert j.page.get_attribute(f"#nav-{link}", "aria-current") == "page"
        j.step(link)


def test_the_audit_log_reads_in_chinese(journey):
    j = journey("ways-in-audit")
    j.sign_in("admin")
    for action, words in (("login", "登录"), ("division", "批准备案"), ("event", "上报事件")):
        j.goto(f"/admin/audit?action={action}")
        j.step(f"audit-{action}")
        table = j.page.text_content("#audit-table")
        assert not re.search(r"\\u[0-9a-fA-F]{4}", table), "raw JSON escapes in the audit log"
        assert words in table, f"{words} not in the audit log filtered by {action}"
        assert not re.search(r"\b(division|event)[._](approve|submit|report)\b", table)


def test_grid_staff_find_their_work_on_a_phone(journey):
    j = journey("ways-in-staff", "phone")
    j.sign_in("staff")
    assert j.page.url.endswith("/events/mine")
    j.step("landed")
    header = j.page.locator("header.topbar").bounding_box()
    assert header["height"] <= 44
    assert j.page.locator("#nav-events-mine").is_hidden()
    j.page.click("#menu-toggle")
    j.step("menu")
    assert [x for x in _header_links(j.page) if j.page.locator(f"#nav-{x}").is_visible()] == ROLES["staff"][1]
    j.page.click("#nav-lookup")
    j.page.wait_for_load_state("networkidle")
    assert j.page.url.endswith("/lookup")
    j.step("lookup")
