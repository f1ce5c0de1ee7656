"""Configuration layering and the production compose file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from server.config import PROJECT_ROOT, load_config, normalise_database_url


def test_defaults_then_environment_then_overrides():
    config = load_config(environ={})
    assert config["DATABASE_URL"] is None and config["PORT"] == 8000 and config["TILES"] == "none"
    config = load_config(environ={"WANGGE_PORT": "9000", "DATABASE_URL": "postgres://u@h/d"})
    assert config["PORT"] == 9000
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@h/d"
    config = load_config({"PORT": 7000}, environ={"WANGGE_PORT": "9000"})
    assert config["PORT"] == 7000
    assert load_config(environ={})["LOOKUP_CHECK_SECONDS"] == 1.0
    assert load_config(environ={"WANGGE_LOOKUP_CHECK_SECONDS": "2.5"})["LOOKUP_CHECK_SECONDS"] == 2.5


@pytest.mark.parametrize(("environ", "message"), [
    ({"WANGGE_PORT": "eighty"}, "WANGGE_PORT must be an integer"),
    ({"WANGGE_TILES": "google"}, "WANGGE_TILES must be one of"),
    ({"WANGGE_TILES": "tianditu"}, "needs WANGGE_TIANDITU_KEY"),
    ({"WANGGE_TILES": "custom"}, "needs WANGGE_TILE_URL"),
    ({"WANGGE_LOOKUP_CHECK_SECONDS": "soon"}, "WANGGE_LOOKUP_CHECK_SECONDS must be seconds"),
    ({"WANGGE_LOOKUP_CHECK_SECONDS": "nan"}, "WANGGE_LOOKUP_CHECK_SECONDS must be seconds"),
    ({"WANGGE_LOOKUP_CHECK_SECONDS": "-1"}, "WANGGE_LOOKUP_CHECK_SECONDS must be seconds"),
])
def test_bad_configuration_is_named(environ, message):
    with pytest.raises(ValueError, match=message):
        load_config(environ=environ)


def test_normalise_database_url():
    assert normalise_database_url("postgresql://a@b/c") == "postgresql+psycopg://a@b/c"
    assert normalise_database_url("postgresql+psycopg://a@b/c") == "postgresql+psycopg://a@b/c"


def test_compose_file_parses_and_sets_what_the_app_reads():
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    db, app = compose["services"]["db"], compose["services"]["app"]
    assert db["image"].startswith("postgis/postgis:")
    assert "pgdata" in compose["volumes"] and db["volumes"][0].startswith("pgdata:")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    read_by_app = {"DATABASE_URL", "DATABASE_READ_URL"} | {f"WANGGE_{k}" for k in load_config(environ={})}
    assert set(app["environment"]) <= read_by_app, set(app["environment"]) - read_by_app
    assert app["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "wangge db upgrade" in app["command"] and "gunicorn" in app["command"]
    assert "server.wsgi:app_factory()" in app["command"]
    # The Dockerfile the app service builds exists and installs the package.
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"pip install .*-e \.", dockerfile)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert ci.strip().splitlines()[-1] == "make test"
    assert "make test" in readme and "make run" in readme


def test_wsgi_factory_is_importable_without_building_the_app():
    import server.wsgi

    assert callable(server.wsgi.app_factory)
    assert Path(server.wsgi.__file__).is_file()
