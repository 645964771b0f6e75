"""Fixtures for end-to-end tests against real services (no mocks).

`stack` (session): the machine's PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres;
override with MLOPS_TEST_POSTGRES_URL) with uniquely named test databases, moto S3 and the
MLflow server on free ports, all state in a temporary folder. Everything is stopped and the
databases dropped at teardown.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import time

import pytest

from kedro_mlops.local.settings import Settings
from kedro_mlops.local.stack import free_port, start_services, stop_services
from kedro_mlops.local.stack.postgres import (
    drop_databases,
    ensure_databases,
    server_answers,
)

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

TEST_POSTGRES_URL = os.environ.get(
    "MLOPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _ensure_system_postgres(url: str) -> None:
    """Start the machine's PostgreSQL cluster if it does not answer (Debian's pg_ctlcluster)."""
    if server_answers(url):
        return
    versions = sorted(os.path.basename(p) for p in glob.glob("/etc/postgresql/*"))
    if versions and shutil.which("pg_ctlcluster"):
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main",
                        "start"], check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server_answers(url):
                return
            time.sleep(0.5)
    pytest.fail(f"no PostgreSQL answers at {url} (and it could not be started)")


def make_test_settings(state_dir, **overrides) -> Settings:
    """Settings for a throw-away stack: nothing read from the caller's environment."""
    suffix = secrets.token_hex(4)
    values = {
        "state_dir": state_dir,
        "postgres_url": TEST_POSTGRES_URL,
        "mlflow_db": f"mlflow_test_{suffix}",
        "airflow_db": f"airflow_test_{suffix}",
        "s3_server": "moto",
        "s3_port": free_port(),
        "bucket": f"mlops-test-{suffix}",
        "mlflow_port": free_port(),
        "mlflow_workers": 1,
        "airflow_port": free_port(),
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture(scope="session")
def system_postgres() -> str:
    _ensure_system_postgres(TEST_POSTGRES_URL)
    return TEST_POSTGRES_URL


@pytest.fixture(scope="session")
def airflow_db_template(tmp_path_factory, system_postgres) -> str:
    """A metadata database migrated once per pytest process, which each Airflow test stack's
    database is copied from (``airflow_stack.running_airflow_stack``). The product's own start,
    which migrates, is run by `make demo` (tests/ui) and `make bench --quick`."""
    from kedro_mlops.local.stack.airflow import run_init_steps, service_specs

    state = tmp_path_factory.mktemp("airflow-db-template")
    settings = make_test_settings(state, postgres_url=system_postgres)
    try:
        ensure_databases(system_postgres, [settings.airflow_db])
        run_init_steps(service_specs(settings)[0].env, state / "migrate.log")
        yield settings.airflow_db
    finally:
        drop_databases(system_postgres, [settings.airflow_db])


@pytest.fixture(scope="session")
def stack(tmp_path_factory, system_postgres) -> Settings:
    settings = make_test_settings(tmp_path_factory.mktemp("stack-state"),
                                  postgres_url=system_postgres)
    try:
        start_services(settings)
        yield settings
    finally:
        try:
            stop_services(settings)
        finally:
            drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])


@pytest.fixture(scope="module")
def mlflow_client(stack):
    """A client of the session stack's MLflow server, also set as the tracking URI."""
    import mlflow

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", stack.mlflow_tracking_uri)
        yield mlflow.MlflowClient(stack.mlflow_tracking_uri)


def wait_until(predicate, timeout: float, what: str, poll: float = 0.5):
    """``predicate()``'s first truthy value, polled every ``poll`` s for ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")
