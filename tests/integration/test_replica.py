"""Public reads from a real streaming replica of the embedded cluster (``DATABASE_READ_URL``).

The fixture copies the running test cluster with ``pg_basebackup -R`` and starts a second postmaster on
its own socket. Public answers (here the OGC API) come from the replica; an editor's reads do not; a
replica that goes away sends public reads back to the primary with one log line.
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
