"""One Airflow stack for the fault suite, whose services the tests break and bring back.

PostgreSQL databases of their own, localbucket S3 (objects on disk: a restarted S3 server still
has them, as a real one would), the MLflow server and Airflow's api-server, scheduler and
dag-processor (no triggerer: nothing defers), each a real process that a test may SIGKILL, stop
and start. The DAG is the tiny project's training DAG (a PipelineML: nodes, a registered model
version), with two retries 15 s apart so that a test can break a service between a failed try
and its retry.
Faults inside tasks are armed through ``tests/fault_plugin`` (see ``e2e/fault_switch.py``).

Each test records what it broke and the end state it asserted; the table is printed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from e2e.airflow_stack import running_airflow_stack
from e2e.conftest import (  # noqa: F401 - shared fixtures
    airflow_db_template,
    make_test_settings,
    system_postgres,
)
from e2e.fault_switch import stack_env

from kedro_mlops.local.airflow_client import AirflowClient
from kedro_mlops.render.dag_files import render

TINY = Path(__file__).parents[1] / "fixtures" / "tiny_project"
DAG_ID = "tiny_training"
#: how long a task may go without a heartbeat before the scheduler fails it (default 300 s)
HEARTBEAT_TIMEOUT = 45
#: how often a scheduler takes over the tasks of a dead one (default 300 s; a restarted
#: scheduler finds the dead one's heartbeat still fresh at start, so it waits one interval)
ORPHAN_CHECK_INTERVAL = 30

#: the table this suite's rows go to (see SUMMARY in tests/conftest.py)
TABLE = "summary: fault suite: what broke, and the end state asserted"


class FaultStack:
    """The running stack: settings, REST client, and each service by name to break it."""

    def __init__(self, settings, airflow: AirflowClient, components, faults: Path):
        self.settings = settings
        self.airflow = airflow
        self.components = {c.name: c for c in components}
        self.faults = faults

    def pid(self, service: str) -> int:
        pid = self.components[service].process.pid()
        assert pid, f"{service} is not running"
        return pid

    def kill(self, service: str) -> int:
        """SIGKILL the service's whole process group (its children with it); the dead pid."""
        from kedro_mlops.local.stack.process import _wait_group_gone

        pid = self.pid(service)
        os.killpg(pid, signal.SIGKILL)  # each service leads its own process group
        assert _wait_group_gone(pid, 30), f"{service} survived SIGKILL"
        return pid

    def stop(self, service: str) -> None:
        assert self.components[service].stop(lambda _m: None)

    def start(self, service: str) -> None:
        self.components[service].start(lambda _m: None)


def _tiny_with_retries(target: Path) -> Path:
    shutil.copytree(TINY, target, ignore=shutil.ignore_patterns("__pycache__"))
    conf = target / "conf" / "base" / "airflow.yml"
    text = conf.read_text()
    for old, new in (("retries: 1", "retries: 2"), ("retry_delay_seconds: 1",
                                                       "retry_delay_seconds: 15")):
        assert text.count(old) == 1, f"{conf}: expected one '{old}'"
        text = text.replace(old, new)
    conf.write_text(text)
    return target


# Module-scoped (the suite is one file): a session-scoped stack would keep its scheduler and
# dag-processor running, and taking CPU, while its pytest-xdist worker runs other files.
@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory, system_postgres, airflow_db_template):  # noqa: F811
    state = tmp_path_factory.mktemp("fault-stack")
    settings = make_test_settings(state, postgres_url=system_postgres, s3_server="localbucket")
    dags = state / "dags"
    render(_tiny_with_retries(state / "tiny_project"), ["training"], dags)
    faults = state / "faults"
    overrides = {
        **stack_env(faults),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHAN_CHECK_INTERVAL),
    }
    # the tiny DAG never defers: no triggerer
    with (running_airflow_stack(settings, dags, overrides=overrides,
                                db_template=airflow_db_template, with_triggerer=False)
          as components,
          AirflowClient.for_local_stack(state, port=settings.airflow_port) as client):
        client.wait_for_dag(DAG_ID, timeout=180)
        client.unpause(DAG_ID)
        yield FaultStack(settings, client, components, faults)


@pytest.fixture
def record_fault(request):
    """``row = record_fault(fault)`` when the test breaks something, then
    ``row.update(airflow=..., mlflow=..., s3=...)`` once it asserted the end state: a row of the
    summary table (a test that failed shows its fault and no end state)."""

    def record(fault: str) -> dict[str, str]:
        row = {"fault": fault, "airflow": "", "mlflow": "", "s3": ""}
        request.node.user_properties.append((TABLE, row))
        return row

    return record

