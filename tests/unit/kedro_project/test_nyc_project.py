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
    # staging copies of MLflow artifacts: the training profile and the scoring drift report
    "feature_profile",
    "drift_report_plot",
    "drift_report_html",
}
# scoring reads batches from and writes predictions to the data lake (runtime param lake_root),
# one partition per batch_date, not to the run's data_root
LAKE_FILES = {"scored_batch"}


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
    assert _names(pipelines["scoring"]) == {"check_batch", "score_batch", "publish_predictions",
                                            "report_scoring"}
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
    assert paths["scored_batch"] == f"{data}/predictions/ds=2019-07-08/predictions.parquet"
    assert _catalog_conf()["scoring_batch"]["path"] == f"{data}/incoming/ds=2019-07-08"
    assert paths["price_model"] == f"{data}/06_models/price_model.pkl"
    assert all(p.startswith(data + "/") for p in paths.values())


def test_every_produced_dataset_is_under_data_root():
    root = "s3://mlops/runs/train_dag/manual__2026-01-01"
    conf = _catalog_conf({"data_root": root})
    paths = _filepaths(conf)
    rooted = {name for name, p in paths.items() if p.startswith(root + "/")}
    assert rooted == set(paths) - SHIPPED_INPUTS - LOCAL_FILES - LAKE_FILES
    assert {
        "validated_raw_listings",
        "train_listings",
        "test_listings",
        "batch_check",
    } <= rooted
    assert not any(p.startswith(root) for n, p in paths.items() if n in LAKE_FILES)
    # the parts of parallel scoring tasks are the run's own data
    assert conf["scored_parts"]["path"] == f"{root}/07_model_output/scored_parts"
    parts = _catalog_conf({"data_root": root, "batch_part": 1, "batch_parts": 3})
    assert (parts["scored_parts"]["part"], parts["scoring_batch_part"]["parts"]) == (1, 3)
    assert not any(p.startswith(root) for n, p in paths.items() if n in LOCAL_FILES)

    catalog = DataCatalog.from_config(conf)  # S3 datasets build without touching the network
    assert catalog["train_listings"]._protocol == "s3"
    # fitted objects cross Airflow tasks too, so they follow data_root
    assert catalog["price_model"]._protocol == "s3"


def test_scoring_batch_and_predictions_follow_lake_root_and_batch_date():
    conf = _catalog_conf(
        {"data_root": "s3://mlops/runs/score_dag/r1", "lake_root": "s3://mlops",
         "batch_date": "2026-01-02"}
    )
    assert conf["scoring_batch"]["path"] == "s3://mlops/incoming/ds=2026-01-02"
    assert conf["scored_batch"]["filepath"] == (
        "s3://mlops/predictions/ds=2026-01-02/predictions.parquet"
    )
    assert conf["batch_check"]["filepath"] == (
        "s3://mlops/runs/score_dag/r1/08_reporting/batch_check.json"
    )
    # report_scoring reads back only the predictions
    assert conf["scored_batch"]["load_args"]["columns"] == ["predicted_price"]
    catalog = DataCatalog.from_config(conf)  # without touching the network
    assert "s3" in catalog["scoring_batch"]._fs.protocol
    assert "s3" in catalog["scored_batch"]._fs.protocol
    # an explicit input path wins over the dated lake prefix
    conf = _catalog_conf({"lake_root": "s3://mlops", "scoring_input_path": "s3://in/batch.csv"})
    assert conf["scoring_batch"]["path"] == "s3://in/batch.csv"


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
    assert _catalog_conf({"scoring_input_path": "s3://in/batch.csv"})["scoring_batch"][
        "path"
    ] == "s3://in/batch.csv"
    assert paths["drift_report_html"] == f"{tmp_path}/08_reporting/drift_report.html"
    assert paths["residuals_plot"] == f"{tmp_path}/08_reporting/residuals.png"


def test_registered_model_name_and_alias():
    airflow = yaml.safe_load((PROJECT_PATH / "conf/base/airflow.yml").read_text())
    registered = airflow["training"]["registered_model_name"]
    # scoring reads the model the training DAG registers, and pins the alias of that model
    assert airflow["scoring"]["pin_model_alias"]["name"] == registered
    for name in ("scoring_model", "scoring_model_reference"):
        entry = _catalog_conf()[name]
        assert (entry["model_name"], entry["alias"], entry["model_version"]) == (
            registered, "champion", None
        )
    # the version the DAG run pinned reaches the built datasets (Kedro drops a `version` key)
    conf = _catalog_conf({"model_alias": "challenger", "model_version": "12"})
    catalog = DataCatalog.from_config(conf)
    for name in ("scoring_model", "scoring_model_reference"):
        described = catalog[name]._describe()
        assert (described["model_uri"], str(described["model_version"])) == (
            f"models:/{registered}@challenger", "12"
        )


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
    assert "scoring" not in config.tracking.disable_tracking.pipelines  # scoring runs are logged
    assert config.tracking.experiment.name == "nyc_airbnb_training"
    scoring = _mlflow_conf({"mlflow_experiment": "nyc_airbnb_scoring"})
    assert scoring.tracking.experiment.name == "nyc_airbnb_scoring"
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
