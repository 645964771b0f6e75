"""A node task's Kedro session inside the DAG run's MLflow run (kedro_mlops.runtime.node_run)."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig

from kedro_mlops.runtime.node_run import ReuseTheActiveRun


def _context() -> SimpleNamespace:
    # kedro-mlflow's template default, as a project's mlflow.yml usually has it
    config = KedroMlflowConfig.model_validate({"tracking": {"run": {"nested": True}}})
    return SimpleNamespace(mlflow=config)


def test_kedro_mlflow_reuses_the_dag_runs_active_run_instead_of_nesting_it(registry):
    context = _context()
    with mlflow.start_run(experiment_id=registry.create_experiment("e")):
        ReuseTheActiveRun().after_context_created(context)
    assert context.mlflow.tracking.run.nested is False


def test_without_an_active_run_the_projects_setting_stands(registry):
    context = _context()
    ReuseTheActiveRun().after_context_created(context)
    assert context.mlflow.tracking.run.nested is True
    ReuseTheActiveRun().after_context_created(SimpleNamespace())  # kedro-mlflow's hooks off
