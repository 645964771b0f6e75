"""How a wait for a DAG run polls the api-server: what it asks for depends on who listens."""

from __future__ import annotations

import pytest

from kedro_mlops.local.airflow_client import AirflowClient, DagRun, DagRunFailed, TaskInstance


def _client(progress, states: list[str]) -> tuple[AirflowClient, list[str]]:
    """A client whose two read calls answer from ``states`` (the run's state per poll) and
    record what was asked; no server is involved in the polling logic under test."""
    client = AirflowClient("http://127.0.0.1:1", "u", "p", progress=progress)
    asked: list[str] = []
    remaining = list(states)

    def get_run(dag_id, run_id):
        asked.append("run")
        state = remaining.pop(0)
        return DagRun(dag_id, run_id, state, None, None, None, {}, {})

    def task_instances(dag_id, run_id):
        asked.append("tis")
        return [TaskInstance("t", "failed" if not remaining else "running", 1, 0, None, -1,
                             None, None, None, {})]

    client.get_run = get_run
    client.task_instances = task_instances
    client.failure_report = lambda run, tis, tail=0: f"{len(tis)} task(s)"
    return client, asked


def test_a_quiet_wait_lists_the_tasks_only_once_the_run_has_ended():
    client, asked = _client(None, ["running", "running", "success"])
    assert client.wait_for_run("d", "r", poll=0).state == "success"
    assert asked == ["run", "run", "run", "tis"]


def test_a_wait_that_prints_progress_lists_the_tasks_at_every_poll():
    lines: list[str] = []
    client, asked = _client(lines.append, ["running", "success"])
    client.wait_for_run("d", "r", poll=0)
    assert asked == ["run", "tis", "run", "tis"]
    assert any("t: running" in line for line in lines)


def test_a_quiet_wait_still_reports_the_failed_tasks():
    client, _ = _client(None, ["running", "failed"])
    with pytest.raises(DagRunFailed) as failure:
        client.wait_for_run("d", "r", poll=0)
    assert str(failure.value) == "1 task(s)"
