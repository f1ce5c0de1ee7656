"""Signing in through the form in a real Chromium: the header then shows the user and a sign-out button."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live import served

from server.config import PROJECT_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.db]

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


# The test functions take this fixture before ``page``, so the server outlives the page's last requests.
@pytest.fixture
def auth_live_server(scratch_engine, scratch_db_url) -> Iterator[str]:
    """The app on the scratch database (with the demo users) served on a free loopback port."""
    from server import create_app, engine_of
    from server.services.users import ensure_demo_users

    ensure_demo_users(scratch_engine)
    app = create_app({"DATABASE_URL": scratch_db_url, "TILES": "none", "TESTING": True, "SECRET_KEY": "b" * 64})
    with served(app) as url:
        yield url
    engine_of(app).dispose()


def test_login_through_the_form_shows_the_user_in_the_header(auth_live_server, page):
    # next=/: the county map (this database is empty; with no next each role lands on its own work,
    # see tests/journeys/test_ways_in.py).
    page.goto(auth_live_server + "/login?next=/")
    assert page.text_content("h1") == "用户登录"
    assert page.locator("#login-link").count() == 0  # no sign-in link on the sign-in page itself
    # (A wrong password is answered 401, which Chromium logs as a console error and the page fixture
    # fails on; the message it shows is checked in tests/integration/test_auth.py.)
    page.fill("#username", "editor")
    page.fill("#password", "editor-demo-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")
    page.wait_for_function("document.body.dataset.ready !== undefined", timeout=30_000)  # empty DB: 'empty'
    assert page.url == auth_live_server + "/"
    assert page.text_content("#current-user").strip() == "示范县网格化中心 · 区县编辑"
    assert page.locator("#logout").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-signed-in-header.png"))
    # The page's scripts find the CSRF token where the docs say.
    assert len(page.get_attribute('meta[name="csrf-token"]', "content")) > 20
    page.click("#logout")
    page.wait_for_selector("#login-link")
    page.wait_for_function("document.body.dataset.ready !== undefined", timeout=30_000)  # empty DB: 'empty'
    assert page.locator("#current-user").count() == 0


def test_protected_page_sends_anonymous_users_to_login_and_back(auth_live_server, page):
    page.goto(auth_live_server + "/login?next=/%3Flang%3Den&lang=en")
    assert page.text_content("h1") == "Sign in"
    page.fill("#username", "reviewer")
    page.fill("#password", "reviewer-demo-1")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#current-user")
    assert page.url == auth_live_server + "/?lang=en"
    assert page.text_content("#current-user").strip() == "市网格化中心审核员 · Municipal reviewer"
    assert page.text_content("#logout").strip() == "Sign out"
    page.wait_for_function("document.body.dataset.ready !== undefined", timeout=30_000)  # empty DB: 'empty'
