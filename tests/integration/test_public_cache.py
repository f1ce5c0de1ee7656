"""HTTP caching of public answers beyond tiles and OGC: lookups of approved divisions and notice boards.

An answer from approved divisions carries ``ETag`` and ``Cache-Control: public`` and answers ``304`` to
``If-None-Match``; an approval gives a lookup a new ETag; a draft answer is ``no-store``; an answer to a
signed-in (or cookie-carrying) client is ``private``.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from server import create_app, engine_of
from server.services.demo import EDITING_DEMO
from server.services.editing import copy_division
from server.services.review import approve, submit
from server.services.users import DEMO_USERS, user_by_name

pytestmark = pytest.mark.db

PASSWORDS = {name: password for name, _, _, password, _ in DEMO_USERS}


def approved_communities(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT DISTINCT community_code FROM division WHERE status = 'approved' "
                                      "ORDER BY 1")).scalars())


def grid_in_force(engine, community: str) -> dict:
    """The first grid of the community's division in force today, with an interior point."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT g.code, d.id AS division_id, ST_X(p) AS lon, ST_Y(p) AS lat
            FROM grid g JOIN division d ON d.id = g.division_id, ST_PointOnSurface(g.geom) p
            WHERE d.community_code = :c
              AND (d.status = 'draft' OR d.status = 'approved' AND d.effective_from <= current_date
                   AND (d.effective_to IS NULL OR d.effective_to > current_date))
            ORDER BY d.status = 'approved' DESC, d.version DESC, g.code LIMIT 1"""), {"c": community}).one()._asdict()


def approve_new_version(engine, community: str) -> int:
    """What a county editor and a reviewer do: copy the division in force, submit the copy, approve it."""
    with engine.connect() as conn:
        editor, reviewer = user_by_name(conn, "editor"), user_by_name(conn, "reviewer")
    source = grid_in_force(engine, community)["division_id"]
    division_id = copy_division(engine, community, source, user_id=editor.id)
    submit(engine, division_id, user=editor)
    approve(engine, division_id, note="cache test", user=reviewer)
    return division_id


@pytest.fixture(scope="module")
def public_app(filed_db_url):
    app = create_app({"DATABASE_URL": filed_db_url, "TILES": "none", "TESTING": True, "LOOKUP_CHECK_SECONDS": 0})
    yield app
    engine_of(app).dispose()


@pytest.fixture(scope="module")
def community(public_app) -> str:
    return approved_communities(engine_of(public_app))[0]


def point_url(grid: dict) -> str:
    return f"/api/v1/lookup/point?lon={grid['lon']}&lat={grid['lat']}"


def assert_public_and_revalidated(client, url: str, **headers) -> str:
    first = client.get(url, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    etag = first.headers["ETag"]
    assert etag and "public" in first.headers["Cache-Control"] and "max-age=60" in first.headers["Cache-Control"]
    assert "Set-Cookie" not in first.headers
    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(url, headers=headers).headers["ETag"] == etag  # same answer, same validator
    return etag


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_a_point_lookup_of_an_approved_division_is_cacheable(public_app, community, encoding):
    grid = grid_in_force(engine_of(public_app), community)
    body = public_app.test_client().get(point_url(grid)).get_json()
    assert body["division"]["status"] == "approved" and body["grid"]["code"] == grid["code"]
    assert_public_and_revalidated(public_app.test_client(), point_url(grid), **{"Accept-Encoding": encoding})


def test_an_address_lookup_of_an_approved_division_is_cacheable(public_app, community):
    with engine_of(public_app).connect() as conn:
        address = conn.execute(text("SELECT address FROM address WHERE community_code = :c ORDER BY id LIMIT 1"),
                               {"c": community}).scalar_one()
    url = f"/api/v1/lookup/address?q={address}&limit=3"
    results = public_app.test_client().get(url).get_json()["results"]
    assert results and results[0]["division"]["status"] == "approved"
    assert_public_and_revalidated(public_app.test_client(), url)


def test_an_approval_changes_the_etag_of_a_lookup(public_app, community):
    client = public_app.test_client()
    grid = grid_in_force(engine_of(public_app), community)
    before = client.get(point_url(grid))
    new_id = approve_new_version(engine_of(public_app), community)
    after = client.get(point_url(grid), headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200  # not 304: the answer changed with the approval
    assert after.get_json()["division"]["id"] == new_id != before.get_json()["division"]["id"]
    assert after.headers["ETag"] != before.headers["ETag"]


def test_a_draft_answer_is_not_stored(filed_db_url):
    # With PUBLIC_APPROVED_ONLY off a community with nothing approved shows its draft: no cache may keep it.
    app = create_app({"DATABASE_URL": filed_db_url, "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False})
    grid = grid_in_force(engine_of(app), EDITING_DEMO)
    response = app.test_client().get(point_url(grid))
    assert response.status_code == 200 and response.get_json()["division"]["status"] == "draft"
    assert "no-store" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]
    assert "ETag" not in response.headers
    engine_of(app).dispose()


def test_a_signed_in_answer_is_private(public_app, community):
    client = public_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    signed_in = client.post("/login", data={"username": "reviewer", "password": PASSWORDS["reviewer"],
                                            "csrf_token": token})
    assert signed_in.status_code == 303
    grid = grid_in_force(engine_of(public_app), community)
    response = client.get(point_url(grid))
    assert response.status_code == 200
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache  # the session cookie is refreshed: no shared cache
    assert client.get(point_url(grid), headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_a_notice_board_is_cacheable_and_makes_no_session(public_app, community):
    grid = grid_in_force(engine_of(public_app), community)
    client = public_app.test_client()
    page = client.get(f"/notice/{grid['code']}")
    assert page.status_code == 200 and grid["code"] in page.get_data(as_text=True)
    assert 'name="csrf-token"' not in page.get_data(as_text=True)  # the same page for every visitor
    assert_public_and_revalidated(public_app.test_client(), f"/notice/{grid['code']}")
    with_cookie = public_app.test_client()
    with_cookie.set_cookie("lang", "en")  # a cookie may change the page: the browser's own, not a shared one
    cache = with_cookie.get(f"/notice/{grid['code']}").headers["Cache-Control"]
    assert "private" in cache and "public" not in cache
    assert public_app.test_client().get("/notice/320499999999999").status_code == 404


def test_tiles_and_ogc_stay_public_for_anonymous_clients(public_app):
    response = public_app.test_client().get("/ogc/collections/grids/items?limit=1")
    assert response.status_code == 200 and "public" in response.headers["Cache-Control"]
