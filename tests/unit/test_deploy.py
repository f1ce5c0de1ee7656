"""docker-compose: what a deployment can scale. No Docker engine runs here, so the file is checked as data."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_the_app_scales_behind_one_port():
    assert "ports" not in SERVICES["app"], "a host port would stop --scale app=N"
    assert SERVICES["proxy"]["ports"] == ["8000:80"]
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server app:8000" in nginx and "proxy_pass http://wangge_app" in nginx


def test_dask_scheduler_and_scalable_workers_that_reach_postgis():
    assert "8786" in " ".join(SERVICES["dask-scheduler"]["command"])
    worker = SERVICES["dask-worker"]
    assert "ports" not in worker and "container_name" not in worker  # --scale dask-worker=N
    assert "tcp://dask-scheduler:8786" in worker["command"]
    assert worker["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_read_replica_is_an_optional_profile():
    replica = SERVICES["db-replica"]
    assert replica["profiles"] == ["replica"]
    assert "pg_basebackup" in " ".join(replica["entrypoint"]) and "-R" in " ".join(replica["entrypoint"])
    assert "DATABASE_READ_URL" in SERVICES["app"]["environment"]
    assert (ROOT / "deploy" / "primary-init.sh").stat().st_mode & 0o111
