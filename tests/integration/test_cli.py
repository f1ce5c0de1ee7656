"""The ``wangge`` command as an operator scripts it: exit status, one-line errors, --version, -h, --json,
imports of any size, and pool workers that die with their parent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import psutil
import pytest
from sqlalchemy import text

from server.cli import main
from server.config import PROJECT_ROOT

pytestmark = pytest.mark.db

DEMO_DIR = PROJECT_ROOT / "data" / "boundaries" / "demo"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    context = click.Context(group)
    for name in group.list_commands(context):  # lazy commands too
        command = group.get_command(context, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def test_version_comes_from_the_package_metadata(runner):
    from importlib.metadata import version

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"wangge {version('wangge')}"


def test_every_command_takes_h_and_help(runner):
    commands = list(all_commands(main))
    assert {("import",), ("divide",), ("divide-file",), ("lookup-batch",), ("demo", "load")} <= set(commands)
    for path in [(), *commands]:
        short, long = (runner.invoke(main, [*path, flag]) for flag in ("-h", "--help"))
        assert short.exit_code == 0 and short.output == long.output and "Usage:" in short.output, path


def test_usage_errors_exit_2_and_failures_exit_1(runner, tmp_path):
    assert runner.invoke(main, ["import", "buildings"]).exit_code == 2  # missing argument
    assert runner.invoke(main, ["divide-file", "a.gpkg", "b.gpkg", "--band", "x"]).exit_code == 2
    missing = runner.invoke(main, ["divide-file", str(tmp_path / "missing.gpkg"), str(tmp_path / "out.gpkg")])
    assert missing.exit_code == 1
    assert missing.stderr.count("\n") == 1 and "missing.gpkg: file not found" in missing.stderr


@pytest.fixture
def cli_db(scratch_engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def test_a_missing_input_file_exits_1_naming_it(cli_db, runner, tmp_path):
    result = runner.invoke(main, ["import", "buildings", str(tmp_path / "nowhere.geojson")])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: nowhere.geojson: cannot open the file: it does not exist or is not "
                                     "a file; nothing was imported")


def test_an_unexpected_error_is_one_line_not_a_traceback(cli_db, runner, tmp_path, monkeypatch):
    import server.services.importer as importer

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line of detail")

    monkeypatch.setattr(importer, "import_file", broken)
    result = runner.invoke(main, ["import", "buildings", str(tmp_path / "x.geojson")])
    assert result.exit_code == 1
    assert result.stderr == "error: RuntimeError: disk on fire (run with -v for the details)\n"
    assert "Traceback" not in result.output


def buildings_csv(path: Path, rows: int) -> Path:
    """``rows`` square buildings of 3 m in a grid around 120.0E 31.7N (inside no community: none loaded)."""
    i = np.arange(rows)
    x = 120.0 + (i % 500) * 0.00004
    y = 31.7 + (i // 500) * 0.00004
    wkt = [f"POLYGON(({a:.5f} {b:.5f},{a + 0.00003:.5f} {b:.5f},{a + 0.00003:.5f} {b + 0.00003:.5f},"
           f"{a:.5f} {b + 0.00003:.5f},{a:.5f} {b:.5f}))" for a, b in zip(x, y, strict=True)]
    pd.DataFrame({"id": [f"B{k}" for k in i], "households": i % 20 + 1, "name": "楼", "wkt": wkt}).to_csv(
        path, index=False)
    return path


def test_200000_buildings_go_in_one_transaction_in_batches(cli_db, tmp_path):
    """134,520 rows once hit PostgreSQL's 65,535-parameter limit; now any number goes through COPY."""
    from server.services.importer import import_file

    path = buildings_csv(tmp_path / "buildings.csv", 200_000)
    steps: list[tuple[str, int, int]] = []
    started = time.perf_counter()
    report = import_file(cli_db, "buildings", path, crs="EPSG:4490", progress=lambda *s: steps.append(s))
    seconds = time.perf_counter() - started
    assert (report.inserted, report.updated) == (200_000, 0)
    writing = [s for s in steps if s[0] == "writing"]
    assert len(writing) == 10 and writing[-1] == ("writing", 200_000, 200_000)
    with cli_db.connect() as conn:
        count, households = conn.execute(text("SELECT count(*), sum(households) FROM building")).one()
    assert (count, households) == (200_000, int((np.arange(200_000) % 20 + 1).sum()))
    print(f"200,000 buildings imported in {seconds:.1f} s")
    again = import_file(cli_db, "buildings", path, crs="EPSG:4490")
    assert (again.inserted, again.updated) == (0, 200_000)


def test_import_json_report_and_no_bar_off_a_terminal(cli_db, runner, tmp_path):
    path = buildings_csv(tmp_path / "buildings.csv", 30)
    result = runner.invoke(main, ["import", "buildings", str(path), "--crs", "EPSG:4490", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["inserted"] == 30 and report["encoding"] == "UTF-8" and report["kind"] == "buildings"
    assert result.stderr == ""  # not a terminal: no progress bar, no label


def test_a_gbk_csv_is_read_as_gb18030_and_says_so(cli_db, runner, tmp_path):
    path = tmp_path / "buildings.csv"
    path.write_bytes("id,households,name,wkt\nB1,3,第一网格楼,\"POLYGON((120 31.7,120.0001 31.7,120.0001 31.7001,"
                     "120 31.7))\"\n".encode("gbk"))
    result = runner.invoke(main, ["import", "buildings", str(path), "--crs", "EPSG:4490"])
    assert result.exit_code == 0, result.output
    assert "not UTF-8: read as GB18030" in result.stdout
    with cli_db.connect() as conn:
        assert conn.execute(text("SELECT name FROM building")).scalar_one() == "第一网格楼"


def test_an_import_over_its_time_budget_stores_nothing(cli_db, runner, tmp_path):
    path = buildings_csv(tmp_path / "buildings.csv", 50_000)
    result = runner.invoke(main, ["import", "buildings", str(path), "--crs", "EPSG:4490", "--time-limit", "0.5"])
    assert result.exit_code == 1, result.output
    assert "took longer than its time budget of 0.5 s; nothing was stored" in result.stderr
    with cli_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM building")).scalar_one() == 0


# -- pool workers die with their parent ---------------------------------------------------------------

def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_killing_divide_kills_its_workers_and_no_draft_appears_after(cli_db):
    from server.services.importer import import_demo

    import_demo(cli_db, DEMO_DIR)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(PROJECT_ROOT),
           "DATABASE_URL": cli_db.url.render_as_string(hide_password=False)}
    command = [sys.executable, "-c", "from server.cli import main; main()", "divide", "--county", "320499000000",
               "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        first = process.stdout.readline()  # the first community stored: the workers are busy with the rest
        assert b"draft v1" in first, first
        workers = _children(process.pid)
        assert len(workers) >= 2
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        gone, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"workers outlived their parent: {alive}"
        with cli_db.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM division")).scalar_one()
        time.sleep(5)
        with cli_db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM division")).scalar_one() == stored
        assert stored < 12
    finally:  # the workers, if they outlived the parent, are no longer its children: kill them by name
        for child in [*workers, *_children(process.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        process.kill()
