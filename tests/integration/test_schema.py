"""The migrated schema: every table of DESIGN.md, SRID 4490, GiST indexes, append-only audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from server.store.migrate import alembic_config, current
from server.store.models import Base

pytestmark = pytest.mark.db

EXPECTED_TABLES = {
    "admin_area", "barrier", "site", "building", "address", "atom_layer", "atom", "atom_edge", "parcel", "parcel_edge",
    "division", "division_transition", "division_revision", "grid", "grid_atom", "micro_grid", "micro_grid_parcel",
    "grid_code", "review_comment", "grid_exemption",
    "staff", "staff_assignment", "staff_photo", "staff_policy",
    "matter_category", "event", "event_history", "event_photo", "app_user", "api_token",
    "user_session", "rate_limit",
    "audit_log",
}


def test_every_table_exists_and_matches_the_models(scratch_engine):
    names = set(inspect(scratch_engine).get_table_names())
    assert EXPECTED_TABLES <= names
    assert set(Base.metadata.tables) == EXPECTED_TABLES


def test_geometry_columns_are_cgcs2000_with_gist_indexes(scratch_engine):
    with scratch_engine.connect() as conn:
        columns = conn.execute(text(
            "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns "
            "WHERE f_table_schema = 'public'")).all()
        indexed = {(r.tablename, r.indexdef) for r in conn.execute(text(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexdef LIKE '%gist%'"))}
    assert len(columns) == 11
    for table, column, srid in columns:
        assert srid == 4490, f"{table}.{column} has SRID {srid}"
        assert any(t == table and f"({column})" in d for t, d in indexed), f"{table}.{column} has no GiST index"


def test_only_the_rate_limit_counters_are_unlogged(scratch_engine):
    # A hit per anonymous lookup must not cost a WAL flush; nothing else may be lost in a crash.
    with scratch_engine.connect() as conn:
        unlogged = set(conn.execute(text(
            "SELECT relname FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace "
            "WHERE nspname = 'public' AND relkind = 'r' AND relpersistence = 'u'")).scalars())
    assert unlogged == {"rate_limit"}


def test_audit_log_is_append_only(scratch_engine):
    with scratch_engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_log (action, entity) VALUES ('test', 'nothing')"))
    for statement in ("UPDATE audit_log SET action = 'changed'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with scratch_engine.begin() as conn:
                conn.execute(text(statement))


def test_migrations_go_down_and_up_again(databases):
    from alembic import command
    from alembic.script import ScriptDirectory

    url = databases.fresh("wangge_test_migrations")
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    assert len(heads) == 1, f"migrations must form one chain, found heads {heads}"
    assert current(url) == heads[0]
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert "admin_area" not in inspect(engine).get_table_names()
    command.upgrade(alembic_config(url), "head")
    assert "admin_area" in inspect(engine).get_table_names()
    engine.dispose()


def test_code_constraints(scratch_engine):
    with pytest.raises(DBAPIError, match="code_12_digits"):
        with scratch_engine.begin() as conn:
            conn.execute(text("INSERT INTO admin_area (code, name, level, geom) VALUES "
                              "('3204', 'x', 'county', ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)))', 4490))"))
