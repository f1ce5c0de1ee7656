"""The embedded cluster: first start (initdb), status, stop, restart on the same data, crash recovery."""

from __future__ import annotations

import os
import signal
import time

import psycopg
import pytest

from server.cli import main
from server.store.embedded import EmbeddedPostgres

pytestmark = pytest.mark.db


@pytest.fixture
def cluster(tmp_path):
    cluster = EmbeddedPostgres(tmp_path / "var", port=54391)
    yield cluster
    cluster.stop()


def _query(cluster: EmbeddedPostgres, sql: str):
    with psycopg.connect(host=str(cluster.socket_dir), port=cluster.port, user="wangge", dbname="wangge") as conn:
        return conn.execute(sql).fetchone()


def test_first_start_initialises_and_enables_postgis(cluster):
    assert cluster.status().startswith("not initialised")
    cluster.start()
    assert cluster.running()
    assert _query(cluster, "SELECT postgis_lib_version()")[0].startswith("3.")
    assert _query(cluster, "SELECT extname FROM pg_extension WHERE extname = 'pg_trgm'") == ("pg_trgm",)
    # Unix socket only: the server listens on no TCP address.
    assert _query(cluster, "SHOW listen_addresses") == ("",)
    if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster must belong to an unprivileged user
        assert (cluster.data_dir.stat().st_uid) != 0


def test_restart_keeps_data(cluster):
    cluster.start()
    with psycopg.connect(host=str(cluster.socket_dir), port=cluster.port, user="wangge", dbname="wangge") as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    cluster.stop()
    assert cluster.status().startswith("stopped")
    cluster.start()
    assert _query(cluster, "SELECT x FROM kept") == (42,)


def test_recovers_from_a_crash_with_a_stale_pid_file(cluster):
    cluster.start()
    pid = cluster.pid()
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if cluster.pid() is None:
            break
        time.sleep(0.05)
    assert (cluster.data_dir / "postmaster.pid").exists(), "the crash should leave the pid file behind"
    assert not cluster.running()
    cluster.start()
    assert cluster.running()
    assert _query(cluster, "SELECT 1") == (1,)


def test_pid_file_naming_a_foreign_process_is_stale(cluster):
    cluster.start()
    cluster.stop()
    # A pid file left behind whose pid now belongs to some other program (here: this test process).
    (cluster.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.data_dir}\n")
    assert cluster.pid() is None
    cluster.start()
    assert cluster.running()


def test_cli_db_commands(runner, tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("WANGGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("WANGGE_EMBEDDED_PORT", "54392")
    try:
        result = runner.invoke(main, ["db", "start"])
        assert result.exit_code == 0, result.output
        assert "running" in result.output
        result = runner.invoke(main, ["db", "status"])
        assert "running, pid" in result.output
        result = runner.invoke(main, ["db", "url"])
        assert result.output.strip() == (f"postgresql+psycopg://wangge@/wangge?host={tmp_path / 'var' / 'run'}"
                                         "&port=54392")
        result = runner.invoke(main, ["db", "upgrade"])
        assert result.exit_code == 0, result.output
    finally:
        result = runner.invoke(main, ["db", "stop"])
    assert result.exit_code == 0, result.output
    assert "stopped" in runner.invoke(main, ["db", "status"]).output


def test_cli_refuses_embedded_commands_with_database_url(runner, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone@db.example/wangge")
    result = runner.invoke(main, ["db", "start"])
    assert result.exit_code == 2
    assert "DATABASE_URL is set" in result.output
    result = runner.invoke(main, ["db", "url"])
    assert result.output.strip() == "postgresql+psycopg://someone@db.example/wangge"
