"""Division as a Dask job on a LocalCluster: skip what did not change, survive a killed worker, store each
community exactly once, and fail fast on an unreachable scheduler."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest
from sqlalchemy import text

from server.cli import main
from server.config import PROJECT_ROOT
from server.services.division_jobs import JobReport, divide_many
from server.services.importer import import_demo

pytestmark = pytest.mark.db

TOWN = "320499101000"  # six villages


@pytest.fixture
def base_data(scratch_engine, monkeypatch):
    import_demo(scratch_engine, PROJECT_ROOT / "data" / "boundaries" / "demo")
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def versions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT community_code, count(*) FROM division GROUP BY community_code")).all())


def half_written(engine) -> int:
    """Divisions whose grids do not hold all their atoms' households: a partial write would show here."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT count(*) FROM division d WHERE (SELECT count(*) FROM grid g WHERE g.division_id = d.id) = 0
               OR (SELECT coalesce(sum(households), 0) FROM grid g WHERE g.division_id = d.id)
               <> (SELECT coalesce(sum(a.households), 0) FROM grid_atom ga JOIN atom a ON a.id = ga.atom_id
                   WHERE ga.division_id = d.id)""")).scalar_one()


def test_a_rerun_skips_communities_whose_inputs_did_not_change(base_data, runner):
    first = runner.invoke(main, ["divide", "--area", TOWN, "--workers", "2"])
    assert first.exit_code == 0, first.output
    assert "6 divided, 0 skipped" in first.output and "Dask dashboard" in first.stderr
    with base_data.begin() as conn:  # one village gains households: only it is divided again
        village = conn.execute(text("SELECT community_code FROM building WHERE community_code LIKE '320499101%' "
                                    "ORDER BY community_code LIMIT 1")).scalar_one()
        conn.execute(text("UPDATE building SET households = households + 3 WHERE id = (SELECT min(id) FROM building "
                          "WHERE community_code = :c AND households > 0)"), {"c": village})
    again = runner.invoke(main, ["divide", "--area", TOWN, "--workers", "2"])
    assert again.exit_code == 0, again.output
    assert "1 divided, 5 skipped" in again.output
    counts = versions(base_data)
    assert counts.pop(village) == 2 and set(counts.values()) == {1}


def test_a_killed_worker_does_not_stop_the_run_and_nothing_is_stored_twice(base_data):
    url = base_data.url.render_as_string(hide_password=False)
    codes = [f"320499101{i:03d}" for i in range(201, 207)] + [f"320499001{i:03d}" for i in range(1, 4)]
    report, killed = JobReport(), []
    for outcome in divide_many(url, codes, workers=2, report=report):
        if not killed:  # the first community is in: kill a worker busy with another one
            workers = [p for p in psutil.Process(os.getpid()).children(recursive=True)
                       if "spawn_main" in " ".join(p.cmdline())]
            assert workers, "no worker process found"
            workers[0].send_signal(signal.SIGKILL)
            killed.append(workers[0].pid)
        assert outcome.error is None, outcome.error
    assert killed and not report.failed
    assert len(report.divided) + len(report.skipped) == len(codes)
    assert versions(base_data) == dict.fromkeys(codes, 1)  # every community exactly once
    assert half_written(base_data) == 0


def test_an_unreachable_scheduler_is_a_clear_error_within_seconds(base_data, runner):
    started = time.monotonic()
    result = runner.invoke(main, ["divide", "--area", TOWN, "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "tcp://127.0.0.1:9" in result.stderr and "nothing was stored" in result.stderr
    assert time.monotonic() - started < 15
    assert versions(base_data) == {}


def test_an_unknown_area_stores_nothing(base_data, runner):
    result = runner.invoke(main, ["divide", "--area", "329999000000"])
    assert result.exit_code != 0 and "329999000000" in (result.stderr + result.output)
    assert versions(base_data) == {}


def test_every_level_can_be_divided_by_area(base_data, runner):
    result = runner.invoke(main, ["divide", "--area", "320499000000", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["communities"] == 12 and report["divided"] == 12 and report["failed"] == []
    assert 0 < report["grids_in_band"] <= report["grids"]
