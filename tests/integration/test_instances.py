"""Two app instances (two gunicorn processes on two ports) on one database, as behind one port in production.

What one instance does, the other sees: an approval made through instance A reaches instance B's lookup
within its background check (LOOKUP_CHECK_SECONDS, 1 s) plus a rebuild; a session signed in on A works on
B; failed sign-ins counted on A throttle B. No state that matters lives in one process.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from live import app_instances
from sqlalchemy import text

from server.services.editing import copy_division
from server.services.review import submit
from server.services.users import DEMO_USERS, user_by_name
from server.store.db import make_engine

pytestmark = pytest.mark.db

PASSWORDS = {name: password for name, _, _, password, _ in DEMO_USERS}


@pytest.fixture(scope="module")
def engine(filed_db_url):
    engine = make_engine(filed_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def instances(filed_db_url) -> list[str]:
    with app_instances(filed_db_url, 2) as urls:
        yield urls
    # The per-address sign-in count these tests leave would throttle later modules' sign-ins on this database.
    from server.store.db import make_engine
    from server.store.limits import RateLimiter

    engine = make_engine(filed_db_url)
    RateLimiter(engine, "login", 1, 1).clear()
    engine.dispose()


def sign_in(base: str, username: str, password: str) -> tuple[requests.Response, requests.Session]:
    """Sign in through the form, as a browser does; returns the answer and the session holding the cookie."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    answer = browser.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=10)
    return answer, browser


def holding(cookie: str) -> requests.Session:
    """A client holding only this session cookie (as the next request may reach another instance)."""
    other = requests.Session()
    other.cookies.set("wangge_session", cookie)
    return other


def test_an_approval_on_one_instance_reaches_the_other_instance_lookup(instances, engine):
    a, b = instances
    with engine.connect() as conn:
        community, source, lon, lat = conn.execute(text("""
            SELECT d.community_code, d.id, ST_X(p), ST_Y(p)
            FROM division d JOIN grid g ON g.division_id = d.id, ST_PointOnSurface(g.geom) p
            WHERE d.status = 'approved' AND d.effective_to IS NULL
            ORDER BY d.community_code DESC, g.code LIMIT 1""")).one()  # not the community the cache tests use
        editor = user_by_name(conn, "editor")
    point = f"{b}/api/v1/lookup/point?lon={lon}&lat={lat}"
    warm = requests.get(point, timeout=10)
    assert warm.status_code == 200 and warm.json()["division"]["id"] == source  # B's locator is loaded
    draft = copy_division(engine, community, source, user_id=editor.id)
    submit(engine, draft, user=editor)

    answer, reviewer = sign_in(a, "reviewer", PASSWORDS["reviewer"])
    assert answer.status_code == 303
    token = re.search(r'name="csrf-token" content="([^"]+)"', reviewer.get(f"{a}/review", timeout=10).text).group(1)
    approved = reviewer.post(f"{a}/api/v1/divisions/{draft}/approve", json={"note": "两实例测试"},
                             headers={"X-CSRF-Token": token}, timeout=30)
    assert approved.status_code == 200, approved.text
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < 5:
        seen = requests.get(point, timeout=10).json()["division"]["id"]
        if seen == draft:
            break
        time.sleep(0.1)
    assert seen == draft, "instance B still answers from the division the approval on A superseded"
    # Within the background check (1 s) and one rebuild; the figure is in docs/scale.md.
    assert time.monotonic() - started < 5


def test_a_session_signed_in_on_one_instance_works_on_the_other(instances):
    a, b = instances
    answer, browser = sign_in(a, "staff", PASSWORDS["staff"])
    assert answer.status_code == 303
    cookie = browser.cookies["wangge_session"]
    me = holding(cookie).get(f"{b}/api/v1/me", timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "staff"
    token = re.search(r'name="csrf-token" content="([^"]+)"', browser.get(f"{a}/", timeout=10).text).group(1)
    assert browser.post(f"{a}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=10).status_code == 303
    assert holding(cookie).get(f"{b}/api/v1/me", timeout=10).status_code == 401  # ended on A: ended on B


def test_failed_sign_ins_on_one_instance_throttle_the_other(instances):
    # Last in the module: the per-address count it leaves would throttle the other tests' sign-ins (the
    # fixture clears it for other modules).
    a, b = instances
    for _ in range(5):  # LOGIN_LIMIT 5/900
        assert sign_in(a, "operator", "wrong-password")[0].status_code == 401
    refused, _ = sign_in(b, "operator", PASSWORDS["operator"])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
