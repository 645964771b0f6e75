"""Fixtures of the unit tests: a throwaway MLflow tracking store for tests that log to one."""

from __future__ import annotations

import pytest


@pytest.fixture
def isolated_mlflow(monkeypatch):
    """Undo, after the test, what mlflow.set_tracking_uri / set_registry_uri / set_experiment
    change process-wide (module globals and MLFLOW_* environment variables), e.g. when
    kedro-mlflow sets them up in a KedroSession."""
    import mlflow
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils
    from mlflow.tracking import fluent

    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    yield
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture
def local_mlflow(isolated_mlflow, tmp_path, monkeypatch):
    """A throwaway MLflow tracking store and registry (sqlite in tmp_path), experiment set."""
    import mlflow

    monkeypatch.chdir(tmp_path)  # the default artifact root (./mlruns) goes to tmp_path
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("unit_tests")
    return mlflow.MlflowClient()
