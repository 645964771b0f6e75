"""The executor of docker-compose.yml, run for real: Airflow with CeleryExecutor and two workers.

One stack for the module: PostgreSQL databases, moto S3 and the MLflow server (as the
dag_runs package's), Airflow's api-server, scheduler, dag-processor and triggerer with
``executor = CeleryExecutor`` and Redis at 127.0.0.1:6379 (database 7, flushed at both ends) as
the broker, and two ``airflow celery worker`` processes. The tiny project's training DAG must
then run its tasks on both workers and end as with the LocalExecutor: one MLflow run FINISHED,
exactly one new model version.

Worker identity: both workers run on this machine, so Airflow's ``hostname_callable``
(socket.gethostname in airflow.cfg) would record the same hostname for every task instance.
Each worker gets a callable of its own that returns a distinct name, as two containers (two
hostnames) would: ``TaskInstance.hostname`` then tells which worker ran the task.

The container health checks (docker/airflow/healthcheck.py) and the airflow-init script
(docker/airflow/init.py) of the Docker stack are run against this stack too.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kedro_mlops.local.airflow_client import AirflowClient
from kedro_mlops.local.stack import (
    ProcessComponent,
    ServiceSpec,
    core_components,
    start_services,
    stop_services,
)
from kedro_mlops.local.stack.airflow import celery_worker_spec, service_specs
from kedro_mlops.local.stack.postgres import drop_databases, ensure_databases
from kedro_mlops.render.dag_files import render

from .airflow_stack import scheduler_forkservers
from .conftest import make_test_settings
from .mlflow_queries import model_versions, runs_of_dag_run

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
TINY = REPO / "tests" / "fixtures" / "tiny_project"
HEALTHCHECK = REPO / "docker" / "airflow" / "healthcheck.py"
INIT = REPO / "docker" / "airflow" / "init.py"
# A Redis database of its own (the stack's default broker URL uses 0): flushed at both ends.
BROKER_URL = os.environ.get("MLOPS_TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/7")
WORKERS = {"w1": "celery-worker-1", "w2": "celery-worker-2"}  # Celery node prefix -> hostname

IDENTITY_MODULE = "mlops_test_worker_identity"
IDENTITY_SOURCE = '''\
"""[core] hostname_callable of a test Celery worker: its own name instead of the machine's."""
import os
import socket


def hostname():
    return os.environ.get("MLOPS_TEST_WORKER_HOSTNAME") or socket.gethostname()
'''


def _flush_broker() -> None:
    import redis

    client = redis.Redis.from_url(BROKER_URL, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


class CeleryPing:
    """Health of one worker: it answers a Celery control ping (Celery node ``<prefix>@...``)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._app = None

    def nodes(self) -> list[str]:
        """Names of the live Celery nodes of this worker (``<prefix>@<machine hostname>``)."""
        from celery import Celery

        if self._app is None:
            self._app = Celery(broker=BROKER_URL)
        replies = self._app.control.ping(timeout=1.0)
        return [node for reply in replies for node in reply if node.startswith(f"{self.prefix}@")]

    def __call__(self) -> bool:
        return bool(self.nodes())

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


def worker_spec(prefix: str, hostname: str, env: dict[str, str], state: Path,
                pylib: Path, health: CeleryPing) -> ServiceSpec:
    return celery_worker_spec(prefix, {
        **env,
        "PYTHONPATH": os.pathsep.join(p for p in (str(pylib), env.get("PYTHONPATH")) if p),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{IDENTITY_MODULE}.hostname",
        "MLOPS_TEST_WORKER_HOSTNAME": hostname,
    }, state, health)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory, system_postgres, monkeypatch_module, airflow_db_template):
    state = tmp_path_factory.mktemp("celery-stack")
    settings = make_test_settings(state, postgres_url=system_postgres)
    dags = state / "dags"
    render(TINY, ["training"], dags)
    pylib = state / "pylib"
    pylib.mkdir()
    (pylib / f"{IDENTITY_MODULE}.py").write_text(IDENTITY_SOURCE)

    specs = service_specs(
        settings,
        dags_folder=dags,
        overrides={"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                   "AIRFLOW__CELERY__BROKER_URL": BROKER_URL},
        migrate=False,  # its database is a copy of the migrated template
    )
    env = dict(specs[0].env)
    pings = {prefix: CeleryPing(prefix) for prefix in WORKERS}
    workers = [ProcessComponent(worker_spec(prefix, host, env, state, pylib, pings[prefix]),
                                settings)
               for prefix, host in WORKERS.items()]
    components = (core_components(settings) + [ProcessComponent(s, settings) for s in specs]
                  + workers)
    for key, value in settings.env().items():
        monkeypatch_module.setenv(key, value)
    _flush_broker()
    try:
        ensure_databases(system_postgres, [settings.airflow_db], template=airflow_db_template)
        start_services(settings, components=components)
        with AirflowClient.for_local_stack(state, port=settings.airflow_port) as client:
            yield settings, client, env
    finally:
        try:
            stop_services(settings, components=components)
        finally:
            for ping in pings.values():
                ping.close()
            try:
                _flush_broker()
            finally:
                drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])


def _set_consuming(control, node: str, consume: bool) -> None:
    """Make one Celery worker start/stop taking tasks from the `default` queue."""
    call = control.add_consumer if consume else control.cancel_consumer
    replies = call("default", destination=[node], reply=True, timeout=5.0)
    assert any(node in reply for reply in replies), f"{node} did not answer: {replies}"


def _wait_for_successes(airflow, dag_id: str, run_id: str, count: int, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tis = airflow.task_instances(dag_id, run_id)
        if sum(ti.state == "success" for ti in tis) >= count:
            return
        assert not any(ti.state in ("failed", "upstream_failed") for ti in tis), tis
        time.sleep(0.5)
    raise AssertionError(f"fewer than {count} tasks of {run_id} succeeded in {timeout:.0f}s")


def test_training_dag_runs_on_both_celery_workers(celery_stack):
    """The run is handed from one worker to the other half-way: w1 alone consumes the queue
    until two tasks succeeded, then w2 alone. Celery's own choice between two idle workers is
    random per task (seen: 3 and 4 tasks each, or 5 and 2), so "both workers took tasks" is
    made certain instead of likely; the data and the open MLflow run cross workers."""
    from celery import Celery

    _, airflow, env = celery_stack
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    nodes = {}
    for prefix in WORKERS:
        ping = CeleryPing(prefix)
        try:
            (nodes[prefix],) = ping.nodes()
        finally:
            ping.close()
    before = len(model_versions("tiny_scale"))
    app = Celery(broker=BROKER_URL)
    t0 = time.monotonic()
    try:
        _set_consuming(app.control, nodes["w2"], False)
        airflow.wait_for_dag("tiny_training")
        airflow.unpause("tiny_training")
        run = airflow.trigger("tiny_training", {"target_max": 3.0, "run_note": "celery"})
        _wait_for_successes(airflow, "tiny_training", run.run_id, 2)
        _set_consuming(app.control, nodes["w2"], True)
        _set_consuming(app.control, nodes["w1"], False)
        run = airflow.wait_for_run("tiny_training", run.run_id, timeout=300)
    finally:
        for node in nodes.values():
            app.control.add_consumer("default", destination=[node], reply=True, timeout=5.0)
        app.close()
    print(f"tiny_training under CeleryExecutor: {time.monotonic() - t0:.1f}s", file=sys.stderr)

    tis = airflow.task_instances("tiny_training", run.run_id)
    assert tis and all(ti.state == "success" for ti in tis), [(t.task_id, t.state) for t in tis]
    assert all(ti.try_number == 1 for ti in tis)
    # each worker imported Kedro (kedro_mlops.runtime.task_preload) before its pool forked
    for ti in tis:
        task_log = airflow.task_log("tiny_training", run.run_id, ti.task_id, 1)
        assert "Task runtime: warm (Kedro preloaded by the executor worker)" in task_log, \
            ti.task_id
    ran_on = {ti.task_id: ti.hostname for ti in tis}
    print(f"task -> worker: {ran_on}", file=sys.stderr)
    # Every task ran on one of the two workers (a LocalExecutor task would record this
    # machine's hostname), both took tasks, and the MLflow run opened on one was closed on
    # the other.
    assert set(ran_on.values()) == set(WORKERS.values()), ran_on
    assert ran_on["start_mlflow_run"] == WORKERS["w1"]
    assert ran_on["end_mlflow_run"] == WORKERS["w2"]
    assert all(ti.raw.get("queue") == "default" for ti in tis)

    # the same result as with the LocalExecutor: one run, finished, one new model version
    (mlflow_run,) = runs_of_dag_run("tiny_training", run.run_id, "tiny")
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["target_max"] == "3.0"
    assert mlflow_run.data.metrics["summary.y_max"] == 3.0
    versions = model_versions("tiny_scale")
    assert len(versions) == before + 1
    (version,) = [v for v in versions if v.run_id == mlflow_run.info.run_id]
    assert version.tags["airflow.run_id"] == run.run_id


def test_the_celery_executors_scheduler_starts_no_forkserver(celery_stack):
    """The scheduler forks no worker here: the LocalExecutor's preloading forkserver
    (kedro_mlops/runtime/scheduler_plugin.py) would be 420 MB for nothing."""
    settings, _, _ = celery_stack
    _, forkservers = scheduler_forkservers(settings)
    assert forkservers == []


def _script(path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(path), *args], env=env, capture_output=True,
                          text=True, check=False, timeout=120)


def test_docker_health_checks_against_the_running_components(celery_stack):
    """docker/airflow/healthcheck.py, as the containers run it (their env, their hostname)."""
    _, _, env = celery_stack
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        result = _script(HEALTHCHECK, component, env=env)
        assert result.returncode == 0, f"{component}: {result.stderr}"
    for prefix in WORKERS:
        ping = CeleryPing(prefix)
        try:
            (node,) = ping.nodes()
        finally:
            ping.close()
        result = _script(HEALTHCHECK, "worker", "--name", node, env=env)
        assert result.returncode == 0, f"{node}: {result.stderr}"
    # and they do report trouble
    assert _script(HEALTHCHECK, "worker", "--name", "nobody@nowhere", "--timeout", "1",
                   env=env).returncode == 1
    assert _script(HEALTHCHECK, "scheduler", "--hostname", "no-such-host",
                   env=env).returncode == 1
    down = {**env, "AIRFLOW__API__PORT": "1"}
    assert _script(HEALTHCHECK, "api-server", env=down).returncode == 1


def test_docker_airflow_init_migrates_and_sets_the_admin_password(celery_stack, tmp_path):
    """docker/airflow/init.py (the airflow-init service) on an already migrated database."""
    _, _, env = celery_stack
    passwords = tmp_path / "auth" / "simple_auth_manager_passwords.json"
    init_env = {**env, "AIRFLOW_ADMIN_PASSWORD": "s3cret-for-test",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}
    result = _script(INIT, env=init_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(passwords.read_text()) == {"admin": "s3cret-for-test"}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    result = _script(INIT, env={**init_env, "AIRFLOW_ADMIN_PASSWORD": ""})
    assert result.returncode != 0 and "AIRFLOW_ADMIN_PASSWORD" in result.stderr
