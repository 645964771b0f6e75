"""One MLflow run per Airflow DAG run, whichever task or worker logs into it.

The run is identified by tags, not by state held in a process: every task finds it with the same
search, so a retried task, a task on another worker or a failure callback in the dag-processor all
land in the same run. The first task of a DAG creates it (idempotently: it searches first), the
last one ends it FINISHED, and the DAG's failure callback ends it FAILED.
"""

from __future__ import annotations

import logging
import os

import mlflow
from mlflow.entities import RunStatus, RunTag
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)

DAG_ID_TAG = "airflow.dag_id"
RUN_ID_TAG = "airflow.run_id"
RUN_URL_TAG = "airflow.run_url"
GIT_COMMIT_TAG = "git_commit"


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _batches(items: list[str], size: int):
    return [items[i : i + size] for i in range(0, len(items), size)]


def find_run(client: MlflowClient, experiment_ids: str | list[str], dag_id: str, run_id: str):
    ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    runs = client.search_runs(
        ids,
        filter_string=f"tags.`{DAG_ID_TAG}` = '{_quote(dag_id)}' "
        f"and tags.`{RUN_ID_TAG}` = '{_quote(run_id)}'",
        order_by=["attributes.start_time ASC"],
        max_results=2,
    )
    return runs[0] if runs else None


def airflow_run_url(dag_id: str, run_id: str) -> str | None:
    base = os.environ.get("AIRFLOW__API__BASE_URL")
    if not base:
        return None
    return f"{base.rstrip('/')}/dags/{dag_id}/runs/{run_id}"


def find_or_create_run(experiment_name: str, dag_id: str, run_id: str, extra_tags=None) -> str:
    """The MLflow run id of this DAG run, created on first call."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (
        experiment.experiment_id if experiment else _create_experiment(client, experiment_name)
    )
    existing = find_run(client, experiment_id, dag_id, run_id)
    if existing is not None:
        log.info("Resuming MLflow run %s of DAG run %s", existing.info.run_id, run_id)
        return existing.info.run_id
    tags = {DAG_ID_TAG: dag_id, RUN_ID_TAG: run_id, **(extra_tags or {})}
    url = airflow_run_url(dag_id, run_id)
    if url:
        tags[RUN_URL_TAG] = url
    run = client.create_run(experiment_id, tags=tags, run_name=f"{dag_id}/{run_id}")
    log.info("Created MLflow run %s for DAG run %s", run.info.run_id, run_id)
    return run.info.run_id


def _create_experiment(client: MlflowClient, name: str) -> str:
    try:
        return client.create_experiment(name)
    except mlflow.exceptions.MlflowException:
        # Another task created it between our lookup and our create.
        return client.get_experiment_by_name(name).experiment_id


def set_tags(client: MlflowClient, mlflow_run_id: str, tags: dict) -> None:
    """Every tag in one request: each ``set_tag`` is a round trip through the tracking server."""
    client.log_batch(mlflow_run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def end_run(mlflow_run_id: str, status: str) -> None:
    RunStatus.from_string(status)  # fail loudly on a typo rather than store garbage
    MlflowClient().set_terminated(mlflow_run_id, status)


def fail_dag_run(dag_id: str, run_id: str, reason: str) -> str | None:
    """Mark this DAG run's MLflow run FAILED with the reason; None when it never started.

    Searched in every experiment: the callback runs outside the tasks and does not know which
    experiment the DAG's config chose.
    """
    client = MlflowClient()
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    run = next(
        (r for ids in _batches(experiment_ids, 100)
         if (r := find_run(client, ids, dag_id, run_id)) is not None),
        None,
    )
    if not run:
        return None
    set_tags(client, run.info.run_id, {"airflow.failure": reason[:5000]})
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    return run.info.run_id
