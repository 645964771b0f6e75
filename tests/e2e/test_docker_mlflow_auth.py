"""The Docker stack's MLflow login, run for real without Docker.

The `mlflow` service's command (`mlflow server --app-name basic-auth ...`) behind its entrypoint
docker/mlflow/start.py, with the environment compose gives it, on the machine's PostgreSQL and
the local stack's S3 server (localbucket, signature-checked). The DAGs' service account (what
every Airflow container gets as MLFLOW_TRACKING_USERNAME / _PASSWORD) must be able to do what a
training DAG does: create its experiment, log params and artifacts (proxied to S3), register a
model version and set an alias. Without a login, or with a wrong password, nothing is served;
another user may read but not write to the service account's experiment.
"""

from __future__ import annotations

import dataclasses
import secrets
import sys
from pathlib import Path

import pytest

from kedro_mlops.local.stack import ProcessComponent, start_services, stop_services
from kedro_mlops.local.stack.mlflow_server import mlflow_argv, mlflow_spec
from kedro_mlops.local.stack.postgres import drop_databases
from kedro_mlops.local.stack.s3 import S3Component

from .conftest import make_test_settings

pytestmark = pytest.mark.e2e

START = Path(__file__).parents[2] / "docker" / "mlflow" / "start.py"
ADMIN, SERVICE = "admin", "airflow-dags"


@pytest.fixture(scope="module")
def auth_mlflow(tmp_path_factory, system_postgres):
    import psycopg2

    state = tmp_path_factory.mktemp("mlflow-auth")
    settings = make_test_settings(state, postgres_url=system_postgres, s3_server="localbucket")
    auth_db = f"mlflow_auth_test_{secrets.token_hex(4)}"
    passwords = {ADMIN: secrets.token_urlsafe(18), SERVICE: secrets.token_urlsafe(18)}
    conn = psycopg2.connect(system_postgres, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        for db in (settings.mlflow_db, auth_db):
            cur.execute(f'CREATE DATABASE "{db}"')
    conn.close()
    spec = mlflow_spec(settings)
    argv = mlflow_argv(settings)
    spec = dataclasses.replace(
        spec,
        # as docker-compose.yml: entrypoint start.py, then `mlflow server --app-name basic-auth`
        argv=[sys.executable, str(START), *argv[:2], "--app-name", "basic-auth", *argv[2:]],
        env={**spec.env,
             "MLFLOW_AUTH_CONFIG_PATH": str(state / "mlflow-auth" / "basic_auth.ini"),
             "MLFLOW_AUTH_DATABASE_URI": settings.database_url(auth_db, "postgresql+psycopg2"),
             "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
             "MLFLOW_AUTH_ADMIN_PASSWORD": passwords[ADMIN],
             "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
             "MLFLOW_SERVICE_USERNAME": SERVICE,
             "MLFLOW_SERVICE_PASSWORD": passwords[SERVICE]},
    )
    components = [S3Component(settings), ProcessComponent(spec, settings)]
    try:
        start_services(settings, components=components)
        yield settings, passwords
    finally:
        try:
            stop_services(settings, components=components)
        finally:
            drop_databases(system_postgres, [settings.mlflow_db, auth_db])


def _client(monkeypatch, settings, user: str | None, password: str | None):
    import mlflow

    for name, value in (("MLFLOW_TRACKING_USERNAME", user),
                        ("MLFLOW_TRACKING_PASSWORD", password)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return mlflow.MlflowClient(settings.mlflow_tracking_uri)


def _error_code(call) -> str:
    from mlflow.exceptions import MlflowException, RestException

    with pytest.raises((MlflowException, RestException)) as err:
        call()
    return f"{getattr(err.value, 'error_code', '')} {err.value}"


def test_the_service_account_does_what_a_training_dag_does(auth_mlflow, monkeypatch, tmp_path):
    settings, passwords = auth_mlflow
    client = _client(monkeypatch, settings, SERVICE, passwords[SERVICE])
    experiment = client.create_experiment("svc_training")
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "max_iter", "40")
    client.set_tag(run.info.run_id, "airflow.run_id", "manual__1")
    report = tmp_path / "report.txt"
    report.write_text("mae 42\n")
    client.log_artifact(run.info.run_id, str(report))  # through the server's proxy to S3
    client.set_terminated(run.info.run_id)
    client.create_registered_model("svc_model")
    version = client.create_model_version("svc_model", f"runs:/{run.info.run_id}/model",
                                          run_id=run.info.run_id)
    client.set_registered_model_alias("svc_model", "champion", version.version)

    assert client.get_run(run.info.run_id).data.params == {"max_iter": "40"}
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["report.txt"]
    assert client.get_model_version_by_alias("svc_model", "champion").version == version.version
    # the artifact is in the bucket, under the server's artifacts destination
    from kedro_mlops.local.stack.s3 import s3_client

    keys = [o["Key"] for o in s3_client(settings).list_objects_v2(
        Bucket=settings.bucket)["Contents"]]
    assert any(k.endswith(f"{run.info.run_id}/artifacts/report.txt") for k in keys), keys


def test_no_login_no_access_and_others_only_read(auth_mlflow, monkeypatch):
    settings, passwords = auth_mlflow
    owner = _client(monkeypatch, settings, SERVICE, passwords[SERVICE])
    experiment = owner.create_experiment("svc_private_writes")

    anonymous = _client(monkeypatch, settings, None, None)
    refused = _error_code(lambda: anonymous.search_experiments())
    assert "401" in refused or "Unauthorized" in refused, refused
    wrong = _client(monkeypatch, settings, SERVICE, "not-the-password")
    refused = _error_code(lambda: wrong.get_experiment(experiment))
    assert "401" in refused or "Unauthorized" in refused, refused

    # a person the admin adds: reads everything (default_permission READ), writes nothing of
    # the service account's
    from mlflow.server import get_app_client

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", passwords[ADMIN])
    get_app_client("basic-auth", tracking_uri=settings.mlflow_tracking_uri).create_user(
        "ana", "ana-password-1234")
    ana = _client(monkeypatch, settings, "ana", "ana-password-1234")
    assert ana.get_experiment(experiment).name == "svc_private_writes"
    assert "PERMISSION_DENIED" in _error_code(lambda: ana.create_run(experiment))
