"""The sweep of MLflow runs left RUNNING, against the real MLflow server (PostgreSQL store).

Airflow's answer is an input here (a state per DAG run id); the suite in tests/faults makes a
real DAG run die without its callback and lets the next one sweep it.
"""

from __future__ import annotations

from enum import Enum

import pytest

from kedro_mlops.runtime.dag_run_tracking import find_or_create_run
from kedro_mlops.runtime.mlflow_sweep import close_abandoned_runs

pytestmark = pytest.mark.e2e

EXPERIMENT = "sweep"


def test_only_runs_whose_dag_run_airflow_ended_are_closed(mlflow_client):
    states = {"queued_run": "queued", "running_run": "running", "failed_run": "failed",
              "success_run": "success", "unreadable_run": None, "current_run": "running"}
    ids = {run: find_or_create_run(EXPERIMENT, "swept_dag", run) for run in states}
    other_dag = find_or_create_run(EXPERIMENT, "other_dag", "failed_run")
    finished = find_or_create_run(EXPERIMENT, "swept_dag", "finished_run")
    mlflow_client.set_terminated(finished, "FINISHED")

    # the Task SDK answers a str enum, whose str() is not its value
    dag_run_state = Enum("DagRunState", {v.upper(): v for v in states.values() if v}, type=str)

    def state(run_id: str):
        if states.get(run_id) is None:
            raise RuntimeError(f"no answer for {run_id}")
        return dag_run_state(states[run_id])

    closed = close_abandoned_runs(EXPERIMENT, "swept_dag", "current_run", state)

    assert sorted(closed) == sorted([ids["failed_run"], ids["success_run"]])
    status = {run: mlflow_client.get_run(mlflow_id).info.status for run, mlflow_id in ids.items()}
    assert status == {"queued_run": "RUNNING", "running_run": "RUNNING", "failed_run": "FAILED",
                      "success_run": "FAILED", "unreadable_run": "RUNNING",
                      "current_run": "RUNNING"}
    assert mlflow_client.get_run(other_dag).info.status == "RUNNING"  # another DAG's business
    assert mlflow_client.get_run(finished).info.status == "FINISHED"
    tags = mlflow_client.get_run(ids["success_run"]).data.tags
    assert tags["airflow.swept_by_run_id"] == "current_run"
    assert "DAG run success_run ended 'success' without closing" in tags["airflow.failure"]
    # a second sweep finds nothing more to close
    assert close_abandoned_runs(EXPERIMENT, "swept_dag", "current_run", state) == []
