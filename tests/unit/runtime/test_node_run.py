"""A node task's Kedro session inside the DAG run's MLflow run (kedro_mlops.runtime.node_run)."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import pytest
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


def _kedro_mlflow_ready_for_a_node(monkeypatch, flatten: bool):
    """kedro-mlflow's hook as its before_pipeline_run leaves it, on a manager of its own."""
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook

    for name, value in {"_is_mlflow_enabled": True, "flatten": flatten, "recursive": True,
                        "sep": ".", "long_params_strategy": "fail", "run_id": None}.items():
        monkeypatch.setattr(mlflow_hook, name, value, raising=False)
    manager = _create_hook_manager()
    manager.register(mlflow_hook)
    return mlflow_hook, manager


NODE_INPUTS = {
    "params:model": {"max_depth": 3, "learning": {"rate": 0.1}},
    "params:features": ["a", "b"],
    "params:odd name!": 1,
    "parameters": {"seed": 7},
    "listings": object(),  # data, not a param
}


def _params_logged(run_id: str) -> dict[str, str]:
    return mlflow.MlflowClient().get_run(run_id).data.params


@pytest.mark.parametrize("flatten", [True, False])
def test_a_nodes_params_go_in_one_request_named_as_kedro_mlflow_names_them(
        registry, monkeypatch, flatten):
    from kedro_mlops.runtime.node_run import OneRequestForTheNodesParams

    hook, manager = _kedro_mlflow_ready_for_a_node(monkeypatch, flatten)
    experiment = registry.create_experiment("e")
    with mlflow.start_run(experiment_id=experiment) as theirs:
        hook.before_node_run(node=None, catalog=None, inputs=NODE_INPUTS, is_async=False)

    requests = []
    for method in ("log_param", "log_batch"):
        original = getattr(mlflow.MlflowClient, method)
        monkeypatch.setattr(mlflow.MlflowClient, method,
                            lambda self, *a, _m=method, _o=original, **k:
                            (requests.append(_m), _o(self, *a, **k))[1])
    batch = OneRequestForTheNodesParams(manager)
    with mlflow.start_run(experiment_id=experiment) as ours:
        # as Kedro calls them: ours first (tryfirst), then kedro-mlflow's, then after the node
        batch.before_node_run(node=None, inputs=NODE_INPUTS)
        hook.before_node_run(node=None, catalog=None, inputs=NODE_INPUTS, is_async=False)
        batch.after_node_run()

    assert requests == ["log_batch"]
    assert _params_logged(ours.info.run_id) == _params_logged(theirs.info.run_id)
    assert len(_params_logged(ours.info.run_id)) >= 4
    assert hook._is_mlflow_enabled is True  # restored for the pipeline's end


def test_a_value_too_long_for_mlflow_is_left_to_kedro_mlflows_strategy(registry, monkeypatch):
    from kedro_mlops.runtime.node_run import OneRequestForTheNodesParams

    hook, manager = _kedro_mlflow_ready_for_a_node(monkeypatch, flatten=True)
    monkeypatch.setattr(hook, "long_params_strategy", "tag", raising=False)
    inputs = {"params:short": 1, "params:long": "x" * 7000}  # over 6000, the param limit
    batch = OneRequestForTheNodesParams(manager)
    with mlflow.start_run(experiment_id=registry.create_experiment("e")) as run:
        batch.before_node_run(node=None, inputs=inputs)
        hook.before_node_run(node=None, catalog=None, inputs=inputs, is_async=False)
        batch.after_node_run()
    data = mlflow.MlflowClient().get_run(run.info.run_id).data
    assert data.params == {"short": "1"}
    assert data.tags["long"] == "x" * 7000  # kedro-mlflow's "tag" strategy


def test_nothing_is_logged_where_kedro_mlflow_is_off(registry, monkeypatch):
    from kedro.framework.hooks.manager import _create_hook_manager

    from kedro_mlops.runtime.node_run import OneRequestForTheNodesParams

    hook, _ = _kedro_mlflow_ready_for_a_node(monkeypatch, flatten=True)
    with mlflow.start_run(experiment_id=registry.create_experiment("e")) as run:
        # hooks of the plugin not registered (DISABLE_HOOKS_FOR_PLUGINS)
        OneRequestForTheNodesParams(_create_hook_manager()).before_node_run(
            node=None, inputs=NODE_INPUTS)
        # tracking off for this pipeline (mlflow.yml disable_tracking)
        monkeypatch.setattr(hook, "_is_mlflow_enabled", False)
        manager = _create_hook_manager()
        manager.register(hook)
        OneRequestForTheNodesParams(manager).before_node_run(node=None, inputs=NODE_INPUTS)
    assert mlflow.MlflowClient().get_run(run.info.run_id).data.params == {}
