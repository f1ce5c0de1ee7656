"""``wangge divide`` against a real PostGIS: the demo county divided into draft divisions, checked in SQL.

Every guarantee is checked on what was stored, not on what the engine returned: every atom in exactly
one grid, grids covering their community with no gap or overlap, codes, micro-grids nested in grids,
households adding up, and a re-division keeping the codes of unchanged grids.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.cli import main
from server.config import PROJECT_ROOT
from server.services.importer import import_demo

pytestmark = pytest.mark.db

COUNTY = "320499000000"
COMMUNITIES = [f"320499001{i:03d}" for i in range(1, 7)] + [f"320499101{i:03d}" for i in range(201, 207)]


@pytest.fixture
def demo_scratch(scratch_engine, monkeypatch):
    """The demo county's base data in the scratch database, and the CLI pointed at it."""
    import_demo(scratch_engine, PROJECT_ROOT / "data" / "boundaries" / "demo")
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_divide_county_in_parallel_stores_complete_drafts(demo_scratch, runner):
    result = runner.invoke(main, ["divide", "--county", COUNTY, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert "12 divided, 0 skipped" in result.output
    assert "Dask dashboard: http" in result.output  # a local cluster of 2 workers ran it
    engine = demo_scratch
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT community_code, version, status FROM division ORDER BY 1")).all()
    assert [r[0] for r in rows] == COMMUNITIES
    assert {(r[1], r[2]) for r in rows} == {(1, "draft")}

    # Every atom of each division's layer is in exactly one grid of that division.
    assert scalar(engine, """
        SELECT count(*) FROM division d JOIN atom a ON a.layer_id = d.atom_layer_id
        LEFT JOIN grid_atom ga ON ga.division_id = d.id AND ga.atom_id = a.id
        WHERE ga.atom_id IS NULL""") == 0
    assert scalar(engine, """
        SELECT count(*) FROM grid_atom ga JOIN grid g ON g.id = ga.grid_id
        WHERE g.division_id <> ga.division_id""") == 0
    # Grids cover their community exactly (areas in m² on the ellipsoid; tolerance for the
    # reprojection of vertices, far below a building).
    worst = scalar(engine, """
        SELECT max(abs(ST_Area(ST_SymDifference(u.geom, a.geom)::geography)))
        FROM (SELECT d.community_code, ST_Union(g.geom) AS geom FROM grid g JOIN division d ON d.id = g.division_id
              GROUP BY d.community_code) u JOIN admin_area a ON a.code = u.community_code""")
    assert worst < 1.0
    overlap = scalar(engine, """
        SELECT coalesce(sum(ST_Area(ST_Intersection(g1.geom, g2.geom)::geography)), 0)
        FROM grid g1 JOIN grid g2 ON g1.division_id = g2.division_id AND g1.id < g2.id
             AND ST_Intersects(g1.geom, g2.geom)""")
    assert overlap < 1.0
    # Households add up, from buildings to atoms to grids to micro-grids.
    buildings = scalar(engine, "SELECT sum(households) FROM building")
    assert scalar(engine, "SELECT sum(households) FROM grid") == buildings == 41218
    assert scalar(engine, "SELECT sum(households) FROM micro_grid") == buildings
    assert scalar(engine, "SELECT sum(households) FROM atom") == buildings
    # Codes: 15 digits extending the community code, unique; micro codes extend their grid's.
    assert scalar(engine, """
        SELECT count(*) FROM grid g JOIN division d ON d.id = g.division_id
        WHERE g.code !~ '^[0-9]{15}$' OR left(g.code, 12) <> d.community_code""") == 0
    assert scalar(engine, "SELECT count(*) - count(DISTINCT code) FROM grid") == 0
    assert scalar(engine, """
        SELECT count(*) FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id
        WHERE mg.code !~ '^[0-9]{17}$' OR left(mg.code, 15) <> g.code""") == 0
    # Every parcel is in one micro-grid, and that micro-grid belongs to the grid holding the parcel's atom.
    assert scalar(engine, """
        SELECT count(*) FROM division d JOIN parcel p ON p.layer_id = d.atom_layer_id
        JOIN atom a ON a.layer_id = p.layer_id AND a.atom_no = p.atom_no
        JOIN grid_atom ga ON ga.division_id = d.id AND ga.atom_id = a.id
        LEFT JOIN (micro_grid_parcel mp JOIN micro_grid mg ON mg.id = mp.micro_grid_id)
             ON mp.parcel_id = p.id
        WHERE mg.grid_id IS DISTINCT FROM ga.grid_id""") == 0
    # Exclusive sites became their own grids in the 9xx range; the report is stored.
    assert scalar(engine, "SELECT count(*) FROM grid WHERE type = 'exclusive' AND substr(code, 13, 1) <> '9'") == 0
    assert scalar(engine, "SELECT count(*) FROM grid WHERE type = 'exclusive'") > 0
    assert scalar(engine, """SELECT report -> 'summary' ->> 'n_grids' FROM division
                             WHERE community_code = '320499001001'""") is not None
    # The village of 136 households cannot reach the rural band: the report says why.
    findings = scalar(engine, "SELECT report -> 'findings' FROM division WHERE community_code = '320499101202'")
    assert any("136 households" in f["message"] and f["severity"] != "info" for f in findings)


def test_redividing_keeps_codes_and_makes_a_new_version(demo_scratch, runner):
    community = "320499001003"
    assert runner.invoke(main, ["divide", community, "--seed", "4"]).exit_code == 0
    result = runner.invoke(main, ["divide", community, "--seed", "4", "--force"])
    assert result.exit_code == 0, result.output
    assert "draft v2" in result.output
    with demo_scratch.connect() as conn:
        rows = conn.execute(text("""
            SELECT d.version, g.code, g.households, d.parent_id, d.id
            FROM grid g JOIN division d ON d.id = g.division_id
            WHERE d.community_code = :c ORDER BY d.version, g.code"""), {"c": community}).all()
    first = sorted((code, hh) for v, code, hh, _, _ in rows if v == 1)
    second = sorted((code, hh) for v, code, hh, _, _ in rows if v == 2)
    assert first == second  # same data, same seed: the same grids under the same codes
    v1_id = next(row[4] for row in rows if row[0] == 1)
    assert {row[3] for row in rows if row[0] == 2} == {v1_id}
    # Two atom layers, one per run: a stored division keeps the atoms it was made of.
    assert scalar(demo_scratch, "SELECT count(*) FROM atom_layer WHERE community_code = :c", c=community) == 2


def test_a_custom_band_is_recorded(demo_scratch, runner):
    result = runner.invoke(main, ["divide", "320499001002", "--band", "200:400", "--micro-band", "20:80"])
    assert result.exit_code == 0, result.output
    with demo_scratch.connect() as conn:
        band_min, band_max, settings = conn.execute(text(
            "SELECT band_min, band_max, settings FROM division WHERE community_code = '320499001002'")).one()
        # Over the micro maximum only where one parcel (a building or a tower's unit) holds more alone.
        crowded = conn.execute(text("""
            SELECT count(*) FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id
            JOIN division d ON d.id = g.division_id AND d.community_code = '320499001002'
            WHERE mg.households > 80 AND (SELECT count(*) FROM micro_grid_parcel p WHERE p.micro_grid_id = mg.id) > 1
            """)).scalar_one()
    assert (band_min, band_max) == (200, 400)
    assert settings["band"] == {"min": 200, "max": 400, "target": 300}
    assert settings["micro_band"]["max"] == 80
    assert crowded == 0


@pytest.mark.parametrize(("args", "message", "status"), [
    (["999999999999"], "no administrative area with code '999999999999'", 1),
    ([], "give either a COMMUNITY code or --area CODE", 2),
    (["320499001001", "--county", COUNTY], "give either a COMMUNITY code or --area CODE", 2),
    (["320499001001", "--band", "500:300"], "band", 2),
    (["320499001001", "--workers", "0"], "at least 1", 2),
])
def test_bad_requests_name_the_problem_and_store_nothing(demo_scratch, runner, args, message, status):
    result = runner.invoke(main, ["divide", *args])
    assert result.exit_code == status
    assert message in result.output
    assert scalar(demo_scratch, "SELECT count(*) FROM division") == 0
    assert scalar(demo_scratch, "SELECT count(*) FROM atom_layer") == 0


def test_a_community_without_buildings_fails_alone(demo_scratch, runner):
    with demo_scratch.begin() as conn:
        conn.execute(text("DELETE FROM address WHERE community_code = '320499101206'"))
        conn.execute(text("DELETE FROM building WHERE community_code = '320499101206'"))
    result = runner.invoke(main, ["divide", "--county", "320499101000", "--workers", "1"])
    assert result.exit_code == 1
    assert "320499101206: field 'households': community 320499101206 has no households" in result.output
    assert "nothing was stored" in result.output
    assert "5 divided, 0 skipped (inputs unchanged), 1 failed" in result.output
    assert scalar(demo_scratch, "SELECT count(*) FROM division") == 5
    assert scalar(demo_scratch, "SELECT count(*) FROM atom_layer WHERE community_code = '320499101206'") == 0


def test_demo_load_divides_once(scratch_engine, runner, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", scratch_engine.url.render_as_string(hide_password=False))
    first = runner.invoke(main, ["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "320499001001: draft division v1" in first.output
    # Divisions whose checks pass are filed (codes registered), the editing demo stays a draft.
    assert "320499001001: kept as a draft to edit" in first.output
    approved = scalar(scratch_engine, "SELECT count(*) FROM division WHERE status = 'approved'")
    assert approved == first.output.count("approved and filed") >= 6
    assert scalar(scratch_engine, "SELECT count(*) FROM grid_code") >= approved
    assert scalar(scratch_engine, "SELECT count(*) FROM staff_assignment") > 0
    second = runner.invoke(main, ["demo", "load"])
    assert second.exit_code == 0, second.output
    assert "draft division" not in second.output and "approved and filed" not in second.output
    assert scalar(scratch_engine, "SELECT count(*) FROM division") == 12


def test_division_in_force_by_date(demo_scratch, runner):
    from datetime import date

    from server.services.divisions import divisions_in_force

    community = "320499101203"
    for extra in ([], ["--force"]):  # the second run divides again although the inputs did not change
        assert runner.invoke(main, ["divide", community, *extra]).exit_code == 0
    with demo_scratch.begin() as conn:
        v1, v2 = conn.execute(text("SELECT id FROM division WHERE community_code = :c ORDER BY version"),
                              {"c": community}).scalars()
        assert divisions_in_force(conn) == {community: v2}  # nothing approved: the latest draft
        assert divisions_in_force(conn, approved_only=True) == {}
        conn.execute(text("UPDATE division SET status = 'approved', effective_from = '2026-01-01', "
                          "effective_to = '2026-06-01' WHERE id = :id"), {"id": v1})
        conn.execute(text("UPDATE division SET status = 'approved', effective_from = '2026-06-01' WHERE id = :id"),
                     {"id": v2})
        assert divisions_in_force(conn, date(2026, 3, 1)) == {community: v1}
        assert divisions_in_force(conn, date(2026, 6, 1)) == {community: v2}
        assert divisions_in_force(conn, date(2025, 12, 31), approved_only=True) == {}
        assert divisions_in_force(conn, date(2025, 12, 31)) == {community: v2}


def test_divide_json_report(demo_scratch, runner):
    import json

    result = runner.invoke(main, ["divide", "--county", "320499101000", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["divided"] == report["communities"] == 6
    outcome = report["outcomes"][0]
    assert outcome["ok"] and outcome["version"] == 1 and outcome["summary"]["n_grids"] > 0
    assert result.stderr == ""  # not a terminal: the progress bar stays quiet
