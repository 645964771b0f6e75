"""The local stack against real services: PostgreSQL, moto S3 (a process), MLflow server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request

import psutil
import psycopg2
import pytest

from kedro_mlops.local.settings import Settings
from kedro_mlops.local.stack import (
    EXTERNAL,
    RUNNING,
    STALE,
    STOPPED,
    ManagedProcess,
    ServiceError,
    ServiceSpec,
    free_port,
    services_status,
    start_services,
    stop_services,
)
from kedro_mlops.local.stack.mlflow_server import MlflowComponent
from kedro_mlops.local.stack.postgres import (
    EMBEDDED_USER,
    PostgresComponent,
    drop_databases,
    ensure_databases,
)
from kedro_mlops.local.stack.s3 import S3Component, s3_client

from .conftest import make_test_settings

pytestmark = pytest.mark.e2e


def _statuses(settings: Settings) -> dict:
    return {st.name: st for st in services_status(settings)}


def test_services_come_up_and_answer(stack):
    statuses = _statuses(stack)
    assert statuses["postgres"].state == EXTERNAL  # the machine's server, used as is
    assert statuses["s3"].state == RUNNING and statuses["s3"].pid
    assert statuses["mlflow"].state == RUNNING and statuses["mlflow"].pid
    for name in ("s3", "mlflow"):
        assert statuses[name].log_path.is_file()
        assert (stack.state_dir / "run" / f"{name}.pid").is_file()

    with urllib.request.urlopen(f"{stack.mlflow_tracking_uri}/health", timeout=5) as resp:
        assert resp.status == 200
    s3_client(stack).head_bucket(Bucket=stack.bucket)  # the bucket was created
    with psycopg2.connect(stack.database_url(stack.mlflow_db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM alembic_version")  # MLflow migrated its database
        assert cur.fetchone()[0] == 1
    with psycopg2.connect(stack.database_url(stack.airflow_db)) as conn:
        assert conn.status == psycopg2.extensions.STATUS_READY


def test_starting_twice_is_harmless(stack):
    before = {n: st.pid for n, st in _statuses(stack).items()}
    again = start_services(stack)
    assert again.started == []
    assert {n: st.pid for n, st in again.services.items()} == before
    # one process per service: no second copy listening
    cmdlines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
    assert sum(f"-p {stack.s3_port}" in c and "moto.server" in c for c in cmdlines) == 1


def test_mlflow_run_stored_in_postgres_and_artifact_in_s3(stack, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    # The client needs no S3 keys: artifacts go through the tracking server.
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL",
                "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    client = MlflowClient(tracking_uri=stack.mlflow_tracking_uri)
    exp_id = client.create_experiment(f"e2e-{os.getpid()}")
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "rmse", 1.25)
    artifact = tmp_path / "report.txt"
    artifact.write_text("hello from the e2e test\n")
    client.log_artifact(run_id, str(artifact), artifact_path="reports")
    client.set_terminated(run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")

    with psycopg2.connect(stack.database_url(stack.mlflow_db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT experiment_id, status FROM runs WHERE run_uuid = %s", (run_id,))
        assert cur.fetchone() == (int(exp_id), "FINISHED")
        cur.execute("SELECT value FROM params WHERE run_uuid = %s AND key = 'alpha'", (run_id,))
        assert cur.fetchone() == ("0.5",)

    objects = s3_client(stack).list_objects_v2(
        Bucket=stack.bucket, Prefix=f"mlflow-artifacts/{exp_id}/{run_id}/")
    keys = [o["Key"] for o in objects.get("Contents", [])]
    assert keys == [f"mlflow-artifacts/{exp_id}/{run_id}/artifacts/reports/report.txt"]
    body = s3_client(stack).get_object(Bucket=stack.bucket, Key=keys[0])["Body"].read()
    assert body == artifact.read_bytes()


def test_port_taken_is_reported_with_name_and_log(stack, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = stack.replace(state_dir=tmp_path, s3_port=port)
        with pytest.raises(ServiceError) as info:
            S3Component(settings).start()
    err = info.value
    assert err.name == "s3"
    assert str(port) in str(err) and "already in use" in str(err)
    assert str(tmp_path / "logs" / "s3.log") in str(err)
    assert not (tmp_path / "run" / "s3.pid").exists()


def test_mlflow_with_bad_backend_is_reported_fast(stack, tmp_path):
    settings = stack.replace(state_dir=tmp_path, mlflow_port=free_port(),
                             mlflow_db="no_such_database_e2e")
    comp = MlflowComponent(settings)
    with pytest.raises(ServiceError) as info:
        comp.start()
    text = str(info.value)
    assert text.startswith("mlflow:")
    assert str(comp.process.log_path) in text
    assert "no_such_database_e2e" in text and "does not exist" in text
    assert comp.status().state == STOPPED


def test_process_that_dies_is_reported_with_log_tail(tmp_path):
    spec = ServiceSpec(
        name="crasher",
        argv=[sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
        health=lambda: False,
        start_timeout=20,
    )
    proc = ManagedProcess(spec, tmp_path)
    with pytest.raises(ServiceError) as info:
        proc.start()
    text = str(info.value)
    assert "crasher: exited with code 3" in text
    assert str(tmp_path / "logs" / "crasher.log") in text
    assert "boom: bad config" in text
    assert proc.status().state == STOPPED


def test_unhealthy_process_is_killed_after_timeout(tmp_path):
    spec = ServiceSpec(name="sleeper", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                       health=lambda: False, start_timeout=1.5, stop_timeout=2)
    proc = ManagedProcess(spec, tmp_path)
    with pytest.raises(ServiceError, match="sleeper: not healthy after 2s"):
        proc.start()
    assert proc.status().state == STOPPED
    assert not any("time.sleep(60)" in " ".join(p.info["cmdline"] or [])
                   and p.info["status"] != psutil.STATUS_ZOMBIE
                   for p in psutil.process_iter(["cmdline", "status"]))


def test_stale_pidfile_is_reported_and_replaced(tmp_path):
    port = free_port()
    spec = ServiceSpec(
        name="web",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        health=lambda: socket.create_connection(("127.0.0.1", port), timeout=0.5).close() or True,
        ports=[("127.0.0.1", port)],
        start_timeout=20,
    )
    proc = ManagedProcess(spec, tmp_path)
    first = proc.start().status.pid
    os.kill(first, 9)
    psutil.Process(first).wait(5)
    assert proc.status().state == STALE
    second = proc.start()
    assert second.started and second.status.pid != first
    assert proc.stop() is True
    assert proc.status().state == STOPPED


def test_embedded_postgres_starts_persists_and_stops(tmp_path):
    closed_port = free_port()
    settings = make_test_settings(tmp_path, postgres_url=f"postgresql://postgres@127.0.0.1:"
                                                         f"{closed_port}/postgres")
    comp = PostgresComponent(settings, databases=["mlflow", "airflow"])
    try:
        result = comp.start()
        assert result.started
        st = comp.status()
        assert st.state == RUNNING and st.pid
        assert (tmp_path / "postgres" / "PG_VERSION").is_file()
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as an unprivileged user
            assert psutil.Process(st.pid).username() == EMBEDDED_USER
        assert ensure_databases(settings.postgres_url, ["e2e_data"]) == ["e2e_data"]
        assert ensure_databases(settings.postgres_url, ["e2e_data", "mlflow"]) == []
        conn = psycopg2.connect(settings.database_url("e2e_data"))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('persisted')")
        conn.close()
        assert comp.start().started is False  # idempotent

        assert comp.stop() is True
        assert comp.status().state == STOPPED
        with pytest.raises(psycopg2.OperationalError):
            psycopg2.connect(settings.postgres_url, connect_timeout=2)

        assert comp.start().started  # same PGDATA: no initdb, data still there
        with psycopg2.connect(settings.database_url("e2e_data")) as conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM kept")
            assert cur.fetchall() == [("persisted",)]
    finally:
        comp.stop()
    assert comp.status().state == STOPPED


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **settings.to_environ()}
    return subprocess.run([sys.executable, "-m", "kedro_mlops.local.stack", *args], env=env,
                          capture_output=True, text=True, timeout=180, check=False)


def test_cli_stop_then_status_shows_stopped_then_up_again(tmp_path, system_postgres):
    """On a stack of its own: the session's stack serves the other files of this process, and
    moto keeps objects in memory (a restart would lose every earlier model's artifacts)."""
    stack = make_test_settings(tmp_path, postgres_url=system_postgres)
    try:
        first = _cli(stack, "up", "--no-airflow")
        assert first.returncode == 0, first.stderr
        status = _cli(stack, "status")
        assert status.returncode == 0, status.stderr
        assert "mlflow" in status.stdout and "running" in status.stdout

        stop = _cli(stack, "stop")
        assert stop.returncode == 0, stop.stderr
        assert "stopped: mlflow, s3" in stop.stdout
        assert "postgres: external server" in stop.stderr  # never stops a server it did not start

        status = _cli(stack, "status")
        assert status.returncode == 3  # not everything is running
        lines = {line.split()[0]: line for line in status.stdout.splitlines()}
        assert lines["s3"].split()[1] == STOPPED and lines["mlflow"].split()[1] == STOPPED
        assert lines["postgres"].split()[1] == EXTERNAL
        assert str(stack.state_dir / "logs" / "mlflow.log") in lines["mlflow"]
        assert not (stack.state_dir / "run" / "mlflow.pid").exists()

        up = _cli(stack, "up", "--no-airflow")
        assert up.returncode == 0, up.stderr
        assert stack.mlflow_tracking_uri in up.stdout
        assert all(st.running for st in services_status(stack))
        assert stack.aws_secret_access_key not in up.stdout + up.stderr
    finally:
        try:
            stop_services(stack)
        finally:
            drop_databases(stack.postgres_url, [stack.mlflow_db, stack.airflow_db])
