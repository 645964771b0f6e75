"""Closing the MLflow runs of DAG runs that ended without closing them.

A DAG run's MLflow run is closed by its last task (FINISHED) or by the DAG's failure callback
(FAILED). Neither runs when the DAG run dies another way: the scheduler or the dag-processor
killed before the callback ran, a stuck run marked failed by hand in the UI or the REST API
(which runs no callback). Such a run would stay RUNNING in MLflow forever, so the first task
of every DAG run sweeps its DAG: each RUNNING MLflow run of the same DAG whose Airflow DAG run
Airflow itself no longer runs is marked FAILED, with the reason and the sweeping DAG run as tags.

Airflow's state is the judge, asked through the task's own channel (the Task SDK), never
guessed from times: a DAG run that is merely slow, or queued behind ``max_active_runs``, is left
alone, and so is one whose state cannot be read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from kedro_mlops.runtime.dag_run_tracking import DAG_ID_TAG, RUN_ID_TAG, _quote, set_tags

log = logging.getLogger(__name__)

#: Airflow DAG run states in which the run may still close its MLflow run itself
ACTIVE_DAG_RUN_STATES = frozenset({"queued", "running"})
FAILURE_TAG = "airflow.failure"
SWEPT_BY_TAG = "airflow.swept_by_run_id"

DagRunState = Callable[[str], str]


def close_abandoned_runs(
    experiment_name: str, dag_id: str, current_run_id: str, dag_run_state: DagRunState
) -> list[str]:
    """Mark FAILED the RUNNING MLflow runs of ``dag_id`` whose DAG run is over; their ids.

    ``dag_run_state(run_id)`` is Airflow's state of that DAG run (``"failed"``, ``"running"``...).
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{DAG_ID_TAG}` = '{_quote(dag_id)}' "
        f"and attributes.status = '{RunStatus.to_string(RunStatus.RUNNING)}'",
        max_results=1000,
    )
    closed = []
    for run in runs:
        airflow_run_id = run.data.tags.get(RUN_ID_TAG)
        if not airflow_run_id or airflow_run_id == current_run_id:
            continue
        try:
            answer = dag_run_state(airflow_run_id)
            state = str(getattr(answer, "value", answer))  # the Task SDK answers an enum
        except Exception as error:  # noqa: BLE001 - unknown is not over: leave the run alone
            log.warning("State of DAG run %s unreadable (%s): MLflow run %s left RUNNING",
                        airflow_run_id, error, run.info.run_id)
            continue
        if state in ACTIVE_DAG_RUN_STATES:
            continue
        reason = (f"The Airflow DAG run {airflow_run_id} ended '{state}' without closing its "
                  f"MLflow run (its failure callback never ran: scheduler or dag-processor "
                  f"killed, or the run was marked '{state}' by hand); closed by DAG run "
                  f"{current_run_id}.")
        set_tags(client, run.info.run_id, {FAILURE_TAG: reason, SWEPT_BY_TAG: current_run_id})
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
        log.warning("MLflow run %s marked FAILED: %s", run.info.run_id, reason)
        closed.append(run.info.run_id)
    return closed
