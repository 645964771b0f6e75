"""Project wiring: pipeline registry, catalog paths, mlflow.yml, and a real KedroSession run."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from kedro.framework.context.context import _convert_paths_to_absolute_posix
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from nyc_airbnb.pipeline_registry import register_pipelines
from nyc_airbnb.pipelines.data_processing import create_pipeline as data_processing_pipeline
from nyc_airbnb.pipelines.training import create_training_pipeline
from nyc_airbnb.pipelines.training.pipeline import FITTED_OBJECTS
from nyc_airbnb.validation import MODEL_INPUT_COLUMNS, DataValidationError, validate_model_input
from nyc_helpers import PROJECT_PATH, RAW_CSV, config_loader

# datasets whose path is deliberately not under data_root (see the header of catalog.yml)
SHIPPED_INPUTS = {"raw_listings", "price_reference"}
LOCAL_FILES = {
    "predicted_vs_actual_plot",
    "residuals_plot",
    "feature_importance_plot",
}


def _names(pipeline: Pipeline) -> set[str]:
    return {n.name for n in pipeline.nodes}


# --------------------------------------------------------------------------- registry


def test_registered_pipelines():
    pipelines = register_pipelines()
    assert set(pipelines) == {
        "__default__",
        "data_processing",
        "training",
        "scoring",
        "price_reference",
    }
    assert _names(pipelines["scoring"]) == {"score_listings"}
    assert "build_price_reference" in _names(pipelines["price_reference"])
    assert _names(pipelines["data_processing"]) == {
        "data_processing.validate_raw_listings",
        "data_processing.clean_listings",
        "data_processing.check_clean_listings",
        "data_processing.split_listings",
    }


def test_training_and_default_are_pipeline_ml():
    pipelines = register_pipelines()
    training, default = pipelines["training"], pipelines["__default__"]
    assert isinstance(training, PipelineML)
    assert default is training
    # data_processing + model training in one PipelineML, one logged model; node names carry
    # their namespace (Airflow TaskGroups), datasets do not
    assert _names(training) == {f"data_processing.{n}" for n in _names(data_processing_pipeline())} | {
        f"training.{n}" for n in _names(create_training_pipeline())
    }
    assert {"train_listings", "price_model"} <= {d for n in training.nodes for d in n.outputs}
    assert training.input_name == "inference_listings"
    assert _names(training.inference) == {
        "validate_model_input",
        "build_features",
        "predict_prices",
    }
    assert training.inference.outputs() == {"price_predictions"}
    assert set(FITTED_OBJECTS) <= training.inference.inputs()
    assert set(FITTED_OBJECTS) <= training.outputs() | {
        o for n in training.nodes for o in n.outputs
    }
    # what KedroSession.run does with it (kedro 1.7): `Pipeline([]) + p`, then `.filter()`
    assert isinstance((Pipeline([]) + training).filter(), PipelineML)


def test_logged_model_arguments():
    kwargs = register_pipelines()["training"].log_model_kwargs
    assert kwargs["name"] == "model"
    assert "registered_model_name" not in kwargs  # registration belongs to the deployment
    assert kwargs["signature"].inputs.input_names() == MODEL_INPUT_COLUMNS
    example = kwargs["input_example"]
    assert list(example.columns) == MODEL_INPUT_COLUMNS
    params = config_loader()["parameters"]
    assert len(validate_model_input(example, params["listing_schema"])) == 2


# --------------------------------------------------------------------------- catalog


def _catalog_conf(runtime_params=None) -> dict:
    conf = config_loader(runtime_params)["catalog"]
    return _convert_paths_to_absolute_posix(PROJECT_PATH, conf)


def _filepaths(conf: dict) -> dict[str, str]:
    paths = {}
    for name, entry in conf.items():
        if name.startswith("_"):
            continue
        path = entry.get("filepath") or entry.get("dataset", {}).get("filepath")
        if path:
            paths[name] = path
    return paths


def test_default_paths_resolve_under_the_project(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not the cwd: Kedro anchors relative paths at the project
    paths = _filepaths(_catalog_conf())
    data = (PROJECT_PATH / "data").as_posix()
    assert paths["raw_listings"] == RAW_CSV.as_posix()
    assert paths["train_listings"] == f"{data}/05_model_input/train_listings.parquet"
    assert paths["scoring_listings"] == f"{data}/01_raw/scoring_batch.csv"
    assert paths["price_model"] == f"{data}/06_models/price_model.pkl"
    assert all(p.startswith(data + "/") for p in paths.values())


def test_every_produced_dataset_is_under_data_root():
    root = "s3://mlops/runs/train_dag/manual__2026-01-01"
    conf = _catalog_conf({"data_root": root})
    paths = _filepaths(conf)
    rooted = {name for name, p in paths.items() if p.startswith(root + "/")}
    assert rooted == set(paths) - SHIPPED_INPUTS - LOCAL_FILES
    assert {
        "validated_raw_listings",
        "train_listings",
        "test_listings",
        "scored_listings",
    } <= rooted
    assert paths["scoring_listings"] == f"{root}/01_raw/scoring_batch.csv"
    assert not any(p.startswith(root) for n, p in paths.items() if n in LOCAL_FILES)

    catalog = DataCatalog.from_config(conf)  # S3 datasets build without touching the network
    assert catalog["train_listings"]._protocol == "s3"
    # fitted objects cross Airflow tasks too, so they follow data_root
    assert catalog["price_model"]._protocol == "s3"


def test_runtime_params_for_inputs_and_local_files(tmp_path):
    paths = _filepaths(
        _catalog_conf(
            {
                "raw_listings_path": "s3://in/raw.csv",
                "scoring_input_path": "s3://in/batch.csv",
                "local_root": str(tmp_path),
            }
        )
    )
    assert paths["raw_listings"] == "s3://in/raw.csv"
    assert paths["scoring_listings"] == "s3://in/batch.csv"
    assert paths["residuals_plot"] == f"{tmp_path}/08_reporting/residuals.png"


def test_registered_model_name_and_alias():
    entry = _catalog_conf()["champion_model"]
    assert (entry["model_name"], entry["alias"]) == ("nyc_airbnb_price", "champion")
    # scoring reads the model the training DAG registers
    airflow = yaml.safe_load((PROJECT_PATH / "conf/base/airflow.yml").read_text())
    assert airflow["training"]["registered_model_name"] == entry["model_name"]
    entry = _catalog_conf({"model_alias": "challenger"})["champion_model"]
    assert entry["alias"] == "challenger"


def test_no_credentials_or_keys_in_the_configuration():
    text = "\n".join(p.read_text() for p in (PROJECT_PATH / "conf" / "base").glob("*.yml"))
    for secret in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "password", "secret:"):
        assert secret not in text


# --------------------------------------------------------------------------- mlflow.yml


def _mlflow_conf(runtime_params=None) -> KedroMlflowConfig:
    loader = config_loader(runtime_params)
    loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**", "**/mlflow*"]  # as kedro-mlflow
    return KedroMlflowConfig.model_validate(loader["mlflow"])


def test_mlflow_config(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    config = _mlflow_conf()
    assert config.server.mlflow_tracking_uri == "http://tracking.example:5000"
    assert config.tracking.experiment.name == "nyc_airbnb_training"
    assert config.tracking.params.dict_params.flatten is True
    assert config.tracking.run.name is None  # kedro-mlflow then names the run after the pipeline
    assert "training" not in config.tracking.disable_tracking.pipelines
    assert "scoring" in config.tracking.disable_tracking.pipelines
    assert _mlflow_conf({"run_name": "dag__run_1"}).tracking.run.name == "dag__run_1"


def test_mlflow_config_requires_the_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(Exception, match="MLFLOW_TRACKING_URI"):
        _mlflow_conf()


# --------------------------------------------------------------------------- KedroSession


@pytest.fixture
def session_env(isolated_mlflow, tmp_path, monkeypatch):
    from kedro.framework.startup import bootstrap_project

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    bootstrap_project(PROJECT_PATH)
    return tmp_path


def _run(pipeline: str, runtime_params: dict):
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=PROJECT_PATH, runtime_params=runtime_params) as session:
        return session.run(pipeline_names=[pipeline])


def test_session_runs_data_processing_into_data_root(session_env):
    data_root = session_env / "run"
    _run("data_processing", {"data_root": str(data_root)})
    train = pd.read_parquet(data_root / "05_model_input" / "train_listings.parquet")
    test = pd.read_parquet(data_root / "05_model_input" / "test_listings.parquet")
    assert len(train) + len(test) > 19_000
    assert (data_root / "08_reporting" / "data_quality_report.json").exists()


def test_session_stops_on_bad_raw_data(session_env, raw_full):
    bad_file = session_env / "bad_raw.csv"
    raw_full.drop(columns=["room_type"]).to_csv(bad_file, index=False)
    data_root = session_env / "run"
    with pytest.raises(DataValidationError, match="column 'room_type': required column is missing"):
        _run("data_processing", {"data_root": str(data_root), "raw_listings_path": str(bad_file)})
    assert not (data_root / "05_model_input").exists()  # nothing downstream was produced
