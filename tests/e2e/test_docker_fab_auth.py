"""The Docker stack's Airflow login (FAB auth manager), run for real without Docker.

docker/airflow/init.py (the airflow-init service) with the environment compose gives it
(FabAuthManager, AIRFLOW_ADMIN_PASSWORD) on a fresh PostgreSQL database: it migrates the schema
with FAB's tables and creates the user `admin` with role Admin. An `airflow api-server` with the
same auth manager then issues a token for that password only, the REST API refuses calls without
one, and a second init run with a new password (a changed .env) replaces the old one.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kedro_mlops.local.airflow_client import AirflowClient, AirflowError
from kedro_mlops.local.stack import free_port
from kedro_mlops.local.stack.airflow import (
    airflow_env,
    airflow_executable,
    api_url,
    drop_database,
    ensure_database,
)

from .conftest import make_test_settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
INIT = REPO / "docker" / "airflow" / "init.py"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def _init(env: dict[str, str], password: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(INIT)],
                          env={**env, "AIRFLOW_ADMIN_PASSWORD": password},
                          capture_output=True, text=True, check=False, timeout=600)


def _token_status(port: int, password: str) -> int:
    resp = httpx.post(f"{api_url(port)}/auth/token",
                      json={"username": "admin", "password": password}, timeout=30)
    return resp.status_code


@pytest.fixture(scope="module")
def fab_airflow(tmp_path_factory, system_postgres):
    state = tmp_path_factory.mktemp("fab-airflow")
    settings = make_test_settings(state, postgres_url=system_postgres)
    db_url = settings.airflow_sql_alchemy_conn
    ensure_database(db_url)
    port = free_port()
    env = airflow_env(settings.env(), state_dir=state, db_url=db_url, port=port,
                      overrides={"AIRFLOW__CORE__AUTH_MANAGER": FAB})
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    server = None
    try:
        first = secrets.token_urlsafe(18)
        result = _init(env, first)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "FAB user 'admin' (role Admin): created" in result.stdout
        log = (state / "api-server.log").open("wb")
        server = subprocess.Popen([airflow_executable(), "api-server", "--port", str(port)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=state)
        deadline = time.monotonic() + 240
        while True:
            try:
                health = httpx.get(f"{api_url(port)}/api/v2/monitor/health", timeout=5)
                if health.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (state / "api-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(1)
        yield env, port, first
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        drop_database(db_url)


def test_the_admin_from_env_logs_in_and_the_api_needs_a_token(fab_airflow):
    _, port, password = fab_airflow
    with AirflowClient(api_url(port), "admin", password, progress=None) as client:
        client.login()
        dags = client.request("GET", "/dags").json()
        assert "dags" in dags
    assert _token_status(port, "not-the-password") in (401, 403)
    assert httpx.get(f"{api_url(port)}/api/v2/dags", timeout=30).status_code in (401, 403)
    wrong = AirflowClient(api_url(port), "admin", "not-the-password", progress=None)
    with wrong, pytest.raises(AirflowError):
        wrong.login()


def test_init_again_with_a_new_password_replaces_the_old_one(fab_airflow):
    env, port, first = fab_airflow
    second = secrets.token_urlsafe(18)
    result = _init(env, second)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAB user 'admin' (role Admin): password reset" in result.stdout
    assert second not in result.stdout + result.stderr  # never echoed
    assert _token_status(port, second) in (200, 201)
    assert _token_status(port, first) in (401, 403)
    # without the secret: exit 2, naming it, no traceback
    result = _init(env, "")
    assert result.returncode == 2 and "AIRFLOW_ADMIN_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
