"""One MLflow run per DAG run: found or created by the DAG's first task, left RUNNING between
tasks, finished by its last task or failed by the DAG's failure callback.

The runs are found by their DAG id and run id tags (``dag_run_tracking``), so a retried first
task finds the run it made instead of making a second one.
"""

from __future__ import annotations

import os

from kedro_mlops.runtime import dag_run_tracking, mlflow_sweep
from kedro_mlops.runtime.session import DagRunCall, load_context, validate_params

#: the tag kedro-mlflow sets, alone, from every node task's session
KEDRO_COMMAND_TAG = "kedro_command"


def experiment_name(context, package_name: str) -> str:
    """The experiment of the project's kedro-mlflow config (mlflow.yml; without one, the package
    name). A project that turns kedro-mlflow's hooks off (``DISABLE_HOOKS_FOR_PLUGINS``) has no
    such config: its DAG runs go to the experiment kedro-mlflow's default would choose."""
    config = getattr(context, "mlflow", None)  # set by kedro-mlflow's hook from mlflow.yml
    return config.tracking.experiment.name if config is not None else package_name


def start_dag_run(call: DagRunCall, dag_run_state=None) -> str:
    """Find or create this DAG run's MLflow run, after checking the trigger params.

    With ``dag_run_state`` (Airflow's state of another DAG run of this DAG, by run id), it
    then closes the MLflow runs that earlier DAG runs left RUNNING (see ``mlflow_sweep``).
    """
    validate_params(call)
    name = experiment_name(load_context(call), call.project.package_name)
    tags = {
        "kedro.pipeline": call.pipeline_name,
        "kedro.env": call.project.env,
        "data_root": call.data_root,
        # Node tasks running side by side each have kedro-mlflow write this tag with a single
        # set_tag, which the MLflow server does as look-up-then-insert: two first writes collide
        # on the tag's key (a duplicate-key error failing one task). Created here with the run,
        # their writes are updates of one row.
        KEDRO_COMMAND_TAG: f"kedro run --pipelines={call.pipeline_name}",
    }
    # e.g. runtime.batch_date: which day a scoring run scored, searchable in the MLflow UI
    tags.update({f"runtime.{k}": str(v) for k, v in call.runtime_params.items()})
    note = call.params.get("run_note")
    if note:
        tags["mlflow.note.content"] = str(note)
    commit = os.environ.get("MLOPS_GIT_COMMIT")
    if commit:
        tags[dag_run_tracking.GIT_COMMIT_TAG] = commit
    run_id = dag_run_tracking.find_or_create_run(name, call.dag_id, call.run_id, tags)
    if dag_run_state is not None:
        mlflow_sweep.close_abandoned_runs(name, call.dag_id, call.run_id, dag_run_state)
    return run_id


def finish_dag_run(mlflow_run_id: str) -> None:
    dag_run_tracking.end_run(mlflow_run_id, "FINISHED")


def fail_dag_run(call: DagRunCall, reason: str) -> str | None:
    return dag_run_tracking.fail_dag_run(call.dag_id, call.run_id, reason)
