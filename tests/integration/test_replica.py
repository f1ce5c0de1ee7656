"""Public reads from a real streaming replica of the embedded cluster (``DATABASE_READ_URL``).

The fixture copies the running test cluster with ``pg_basebackup -R`` and starts a second postmaster on
its own socket. Public answers (the OGC API, lookups, a report's status by its tracking code) come from
the replica; an editor's reads do not; a replica that goes away sends public reads back to the primary with
one log line. The proof that an answer came from the replica: WAL replay is paused there, the primary is
changed, and the answer is still the old one.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def replica(databases, demo_db_url) -> Iterator:
    from server.store.embedded import EmbeddedPostgres

    if databases.cluster is None:
        pytest.fail("the replica test copies the embedded cluster; unset WANGGE_TEST_DATABASE_URL to run it")
    # Beside the primary (the server user can reach it there), copied afresh for each run.
    folder = databases.cluster.var_dir / "test-replica"
    standby = EmbeddedPostgres(folder, port=databases.cluster.port + 1)
    standby.stop()
    shutil.rmtree(folder, ignore_errors=True)
    standby = EmbeddedPostgres(folder, port=databases.cluster.port + 1)
    standby.follow(databases.cluster)
    yield standby
    standby.stop()
    shutil.rmtree(folder, ignore_errors=True)


def replica_url(replica, primary_url: str) -> str:
    return replica.url(make_url(primary_url).database)


def community_name(url: str, code: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT name FROM admin_area WHERE code = :c"), {"c": code}).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def tracked(demo_db_url) -> Iterator[dict]:
    """Two demo events given tracking codes (as residents' reports have), put back as they were afterwards."""
    engine = create_engine(demo_db_url)
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, tracking_code, title FROM event ORDER BY id LIMIT 2")).all()
        assert len(rows) == 2, "the demo database has demo events"
        codes = {"old": "RPLTEST00001", "new": "RPLTEST00002"}
        conn.execute(text("UPDATE event SET tracking_code = :t WHERE id = :i"), {"t": codes["old"], "i": rows[0].id})
    try:
        yield {**codes, "id": rows[0].id, "title": rows[0].title, "new_id": rows[1].id}
    finally:
        with engine.begin() as conn:
            for row in rows:
                conn.execute(text("UPDATE event SET tracking_code = :t, title = :n WHERE id = :i"),
                             {"t": row.tracking_code, "n": row.title, "i": row.id})
        engine.dispose()


def a_grid_point(url: str) -> dict:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("""
                SELECT g.code, d.community_code, ST_X(p) AS lon, ST_Y(p) AS lat
                FROM grid g JOIN division d ON d.id = g.division_id, ST_PointOnSurface(g.geom) p
                WHERE d.status = 'draft' ORDER BY g.code LIMIT 1""")).one()._asdict()
    finally:
        engine.dispose()


def wait_for(check, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_the_replica_streams_and_is_read_only(replica, demo_db_url):
    url = replica_url(replica, demo_db_url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
            assert conn.execute(text("SELECT count(*) FROM grid")).scalar_one() > 0
    finally:
        engine.dispose()


def test_public_reads_come_from_the_replica_and_lag_is_bounded(replica, demo_db_url):
    from server import create_app, engine_of

    app = create_app({"DATABASE_URL": demo_db_url, "DATABASE_READ_URL": replica_url(replica, demo_db_url),
                      "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False})
    client = app.test_client()
    code = client.get("/ogc/collections/communities/items?limit=1").get_json()["features"][0]["id"]
    original = community_name(demo_db_url, code)
    standby = create_engine(replica_url(replica, demo_db_url), isolation_level="AUTOCOMMIT")
    try:
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))  # freeze the replica: a lag we control
        with engine_of(app).begin() as conn:
            conn.execute(text("UPDATE admin_area SET name = :n WHERE code = :c"), {"n": "复制延迟测试社区", "c": code})
        public = client.get(f"/ogc/collections/communities/items/{code}").get_json()
        assert public["properties"]["name"] == original  # served by the paused replica, not the primary
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            name = client.get(f"/ogc/collections/communities/items/{code}").get_json()["properties"]["name"]
            if name == "复制延迟测试社区":
                break
            time.sleep(0.1)
        assert name == "复制延迟测试社区"  # caught up within seconds of the write
    finally:
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        standby.dispose()
        with engine_of(app).begin() as conn:
            conn.execute(text("UPDATE admin_area SET name = :n WHERE code = :c"), {"n": original, "c": code})
        app.extensions["wangge.reads"].dispose()


def test_an_unreachable_replica_sends_public_reads_to_the_primary(demo_db_url, tmp_path, caplog):
    from server import create_app

    nowhere = f"postgresql+psycopg://wangge@/wangge?host={tmp_path}&port=1"
    app = create_app({"DATABASE_URL": demo_db_url, "DATABASE_READ_URL": nowhere, "TILES": "none", "TESTING": True,
                      "PUBLIC_APPROVED_ONLY": False})
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="server.store.db"):
        started = time.monotonic()
        for _ in range(3):
            assert client.get("/ogc/collections/grids/items?limit=1").status_code == 200
        assert time.monotonic() - started < 10
    lines = [r for r in caplog.records if "read replica unreachable" in r.getMessage()]
    assert len(lines) == 1  # one log line, not one per request


def test_lookups_and_report_status_come_from_the_replica(replica, demo_db_url, tracked):
    from server import create_app, engine_of

    url = replica_url(replica, demo_db_url)
    app = create_app({"DATABASE_URL": demo_db_url, "DATABASE_READ_URL": url, "TILES": "none", "TESTING": True,
                      "PUBLIC_APPROVED_ONLY": False, "LOOKUP_CHECK_SECONDS": 0})
    client = app.test_client()
    grid = a_grid_point(demo_db_url)
    point = f"/api/v1/lookup/point?lon={grid['lon']}&lat={grid['lat']}"
    original = community_name(demo_db_url, grid["community_code"])
    standby = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        assert wait_for(lambda: client.get(f"/api/v1/public/events/{tracked['old']}").status_code == 200)
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_pause()"))  # from here the replica shows the old state
        with engine_of(app).begin() as conn:
            conn.execute(text("UPDATE admin_area SET name = '复制延迟测试社区' WHERE code = :c"),
                         {"c": grid["community_code"]})
            conn.execute(text("UPDATE event SET title = '复制延迟测试事件' WHERE id = :i"), {"i": tracked["id"]})
            conn.execute(text("UPDATE event SET tracking_code = :t WHERE id = :i"),
                         {"t": tracked["new"], "i": tracked["new_id"]})
        answer = client.get(point).get_json()
        assert answer["grid"]["code"] == grid["code"]
        assert answer["community"]["name"] == original  # the locator loaded its directory from the replica
        status = client.get(f"/api/v1/public/events/{tracked['old']}").get_json()
        assert status["title"] == tracked["title"]  # the report's status too
        # A report the replica has not seen yet (made a moment ago) is found on the primary, not a 404.
        fresh = client.get(f"/api/v1/public/events/{tracked['new']}")
        assert fresh.status_code == 200 and fresh.get_json()["tracking_code"] == tracked["new"]
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        assert wait_for(lambda: client.get(f"/api/v1/public/events/{tracked['old']}").get_json()["title"]
                        == "复制延迟测试事件")  # caught up within seconds
    finally:
        with standby.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))
        standby.dispose()
        with engine_of(app).begin() as conn:
            conn.execute(text("UPDATE admin_area SET name = :n WHERE code = :c"),
                         {"n": original, "c": grid["community_code"]})
        app.extensions["wangge.reads"].dispose()


def test_an_unreachable_replica_does_not_refuse_lookups_or_report_status(demo_db_url, tracked, tmp_path, caplog):
    from server import create_app

    nowhere = f"postgresql+psycopg://wangge@/wangge?host={tmp_path}&port=1"
    app = create_app({"DATABASE_URL": demo_db_url, "DATABASE_READ_URL": nowhere, "TILES": "none", "TESTING": True,
                      "PUBLIC_APPROVED_ONLY": False, "LOOKUP_CHECK_SECONDS": 0})
    client = app.test_client()
    grid = a_grid_point(demo_db_url)
    with caplog.at_level(logging.WARNING, logger="server.store.db"):
        for _ in range(2):
            answer = client.get(f"/api/v1/lookup/point?lon={grid['lon']}&lat={grid['lat']}")
            assert answer.status_code == 200 and answer.get_json()["grid"]["code"] == grid["code"]
            status = client.get(f"/api/v1/public/events/{tracked['old']}")
            assert status.status_code == 200 and status.get_json()["title"] == tracked["title"]
    lines = [r for r in caplog.records if "read replica unreachable" in r.getMessage()]
    assert len(lines) == 1  # one log line, not one per request
    app.extensions["wangge.reads"].dispose()
