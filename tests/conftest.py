"""Shared fixtures: a real PostGIS (embedded, or the one in WANGGE_TEST_DATABASE_URL), the app, a live
server and a real Chromium.

Database fixtures never skip: if PostGIS cannot start, the tests that need it fail with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from live import served
from sqlalchemy import create_engine, text

from server.config import PROJECT_ROOT, load_config

ARTIFACTS = PROJECT_ROOT / "test-artifacts"
DEMO_DIR = PROJECT_ROOT / "data" / "boundaries" / "demo"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


# -- database ---------------------------------------------------------------------------------------

class Databases:
    """Throw-away databases for the test session, on the embedded cluster or an external server."""

    def __init__(self) -> None:
        self.external = os.environ.get("WANGGE_TEST_DATABASE_URL")
        self.cluster = None
        self.started_cluster = False
        if not self.external:
            from server.store.db import embedded_cluster

            self.cluster = embedded_cluster(load_config({"DATABASE_URL": None}, environ={}))
            self.started_cluster = not self.cluster.running()
            self.cluster.start()  # raises with the reason when PostGIS cannot start: tests fail, not skip

    def fresh(self, name: str) -> str:
        """A new, empty, migrated database called ``name`` (dropped first if it exists)."""
        from server.store.migrate import upgrade

        if self.external:
            url = self._external_database(name)
        else:
            self.cluster.drop_database(name)
            self.cluster.ensure_database(name)
            url = self.cluster.url(name)
        upgrade(url)
        return url

    def _external_database(self, name: str) -> str:
        # On an external server the suite creates its own databases (the role needs CREATEDB).
        from sqlalchemy.engine import make_url

        admin = create_engine(self.external, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(self.external).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        engine.dispose()
        return url

    def close(self) -> None:
        if self.started_cluster:
            self.cluster.stop()


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    dbs = Databases()
    yield dbs
    dbs.close()


@pytest.fixture(scope="session")
def demo_db_url(databases: Databases) -> str:
    """A database with the demo county loaded and divided once for the session; tests must not change it."""
    from server.services.demo import load_demo

    url = databases.fresh("wangge_test_demo")
    for line in load_demo(url, DEMO_DIR, file=False):
        assert "not divided" not in line, line
    return url


@pytest.fixture(scope="session")
def filed_db_url(databases: Databases) -> str:
    """The demo county with its divisions filed (approved), as the public sees it, and the demo users.

    Tests that approve make a new version of a community no other test of the session uses.
    """
    from server.services.demo import load_demo

    url = databases.fresh("wangge_test_filed")
    for line in load_demo(url, DEMO_DIR, file=True):
        assert "not divided" not in line, line
    return url


@pytest.fixture(scope="session")
def scratch_db_url(databases: Databases) -> str:
    """A second database for tests that write; emptied before each use by ``scratch_engine``."""
    return databases.fresh("wangge_test_scratch")


@pytest.fixture
def scratch_engine(scratch_db_url: str):
    """An engine on an empty migrated database (all tables truncated before the test)."""
    from server.store.db import make_engine
    from server.store.models import Base

    engine = make_engine(scratch_db_url)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables if t.name != "audit_log")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def demo_engine(demo_db_url: str):
    from server.store.db import make_engine

    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


# -- app ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def app(demo_db_url: str):
    from server import create_app

    # The shared demo database holds drafts only: let the public views show them.
    return create_app({"DATABASE_URL": demo_db_url, "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[str]:
    """The app served on a free loopback port in a background thread."""
    with served(app) as url:
        yield url


# -- editing: a demo county of its own, since editing tests write ----------------------------------------

@pytest.fixture(scope="session")
def editor_db_url(databases: Databases) -> str:
    """The demo county loaded and divided once, with the demo users; tests copy drafts before editing."""
    from server.services.demo import load_demo
    from server.services.users import ensure_demo_users
    from server.store.db import make_engine

    url = databases.fresh("wangge_test_editor")
    for line in load_demo(url, DEMO_DIR, file=False):
        assert "not divided" not in line, line
    engine = make_engine(url)
    ensure_demo_users(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def editor_app(editor_db_url: str):
    from server import create_app

    return create_app({"DATABASE_URL": editor_db_url, "TILES": "none", "TESTING": True})


@pytest.fixture(scope="session")
def editor_tokens(editor_app) -> dict[str, str]:
    """An API token per demo user name (admin, reviewer, editor, operator, staff)."""
    from server import engine_of
    from server.services.users import DEMO_USERS, create_token

    with engine_of(editor_app).begin() as conn:
        return {name: create_token(conn, name, "tests") for name, *_ in DEMO_USERS}


@pytest.fixture(scope="session")
def editor_live_server(editor_app) -> Iterator[str]:
    """The editing app served on a free loopback port in a background thread."""
    with served(editor_app) as url:
        yield url


# -- browser ------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-os-deps.sh chromium (make test does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh page that records console errors; the test fails if any occurred."""
    # Playwright evaluates wait_for_function strings with eval, which the app's CSP forbids; the journeys keep
    # the CSP enforced, so the app's own scripts are still checked under the real policy.
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    # A test that provokes an HTTP error on purpose (a stale save answered 409) names it here; Chromium
    # logs every 4xx fetch as a console error, and any other error still fails the test.
    expected: list[str] = []
    page.expect_console_error = expected.append
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()
    unexpected = [e for e in errors if not any(x in e for x in expected)]
    assert not unexpected, f"browser console errors: {unexpected}"
