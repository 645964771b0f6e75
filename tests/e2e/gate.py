"""The promotion gate run on a `kedro run`'s model, as the training DAG's last task runs it."""

from __future__ import annotations

from pathlib import Path

from .test_kedro_tracking import MODEL, PROJECT

#: the training DAG's promotion settings (conf/base/airflow.yml)
PROMOTION = {"holdout_dataset": "test_listings", "raw_dataset": "raw_listings",
             "id_column": "id", "target": "price", "metric": "mae"}


def register_and_gate(mlflow_client, run, runs_root: Path, dag_id: str, force: bool) -> str:
    """Register the model ``run`` logged and put it through the gate; its version.

    The gate reads the held-out data from ``<runs_root>/<dag_id>/<run name>``, where the
    ``kedro run`` must have written it (its ``data_root``).
    """
    import mlflow
    import pytest

    from kedro_mlops.config import KedroProject
    from kedro_mlops.runtime.promotion import evaluate_and_promote
    from kedro_mlops.runtime.session import DagRunCall

    (model,) = mlflow_client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    version = str(mlflow.register_model(model.model_uri, MODEL).version)
    call = DagRunCall(KedroProject("nyc_airbnb", str(PROJECT)), "training", dag_id,
                      run.info.run_name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_RUNS_ROOT", str(runs_root))
        # the gate's Kedro session resolves the lake too; the gate reads nothing from it
        mp.setenv("MLOPS_LAKE_ROOT", str(runs_root / "lake"))
        evaluate_and_promote(call, run.info.run_id, MODEL, version, PROMOTION, force=force)
    return version


def champion_version(mlflow_client) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(MODEL, "champion").version
    except MlflowException:
        return None
