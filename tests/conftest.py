"""Settings every test process shares."""

import os
import sys
import tempfile

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# Parsing DAG files reads Airflow's config; keep the tests off ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-tests-"))

# MLflow's process-wide state: (module, attribute) pairs and the variables behind them
_MLFLOW_GLOBALS = (
    ("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
    ("mlflow.tracking._model_registry.utils", "_registry_uri"),
    ("mlflow.tracking.fluent", "_active_experiment_id"),
)
_MLFLOW_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME",
                "MLFLOW_EXPERIMENT_ID")


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_globals():
    """A KedroSession created in the test process lets kedro-mlflow's hook point MLflow's
    process-wide tracking URI at that test's server; left there, every later module's MLflow
    queries would go to a stopped or foreign server instead of its own stack's."""
    saved = {(mod, attr): getattr(sys.modules[mod], attr)
             for mod, attr in _MLFLOW_GLOBALS if mod in sys.modules}
    saved_vars = {var: os.environ.get(var) for var in _MLFLOW_VARS}
    yield
    for mod, attr in _MLFLOW_GLOBALS:
        if mod in sys.modules:
            setattr(sys.modules[mod], attr, saved.get((mod, attr)))
    for var, value in saved_vars.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
