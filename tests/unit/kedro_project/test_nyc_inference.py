"""The inference pipeline end to end, in-process (SequentialRunner, in-memory catalog), and packaged
as kedro-mlflow packages it (KedroPipelineModel saved with the PipelineML's log_model_kwargs and
loaded back with mlflow.pyfunc) — no MLflow server."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from kedro_mlflow.mlflow import KedroPipelineModel
from mlflow.exceptions import MlflowException
from nyc_airbnb.pipelines.training import create_inference_pipeline, create_pipeline
from nyc_airbnb.pipelines.training.pipeline import INFERENCE_INPUT, INFERENCE_OUTPUT
from nyc_airbnb.validation import MODEL_INPUT_COLUMNS, DataValidationError
from nyc_helpers import make_catalog, param_inputs


def run_inference(trained, batch: pd.DataFrame) -> pd.DataFrame:
    catalog = make_catalog(
        {INFERENCE_INPUT: batch, **param_inputs(trained["params"])}, trained["pickles_dir"]
    )
    outputs = SequentialRunner().run(create_inference_pipeline(), catalog)
    assert set(outputs) == {INFERENCE_OUTPUT}
    return outputs[INFERENCE_OUTPUT].load()


def as_raw_rows(listings: pd.DataFrame) -> pd.DataFrame:
    """Cleaned rows back to the raw CSV schema: dates as text, no price."""
    raw = listings.drop(columns=["price"]).copy()
    raw["last_review"] = raw["last_review"].dt.strftime("%Y-%m-%d")
    return raw


def test_inference_reproduces_the_test_evaluation(trained):
    predictions = run_inference(trained, as_raw_rows(trained["test"]))
    expected = trained["test_predictions"]
    assert predictions["id"].tolist() == expected["id"].tolist()
    np.testing.assert_allclose(predictions["predicted_price"], expected["predicted_price"])


def test_inference_on_raw_csv_rows(trained, raw_sample):
    batch = raw_sample.drop(columns=["price"]).head(50)
    predictions = run_inference(trained, batch)
    assert list(predictions.columns) == ["id", "predicted_price"]
    assert predictions["id"].tolist() == batch["id"].tolist()
    assert predictions["predicted_price"].between(1, 5000).all()


def test_inference_validates_its_input(trained, raw_sample):
    batch = raw_sample.head(20).copy()
    batch.loc[3, "neighbourhood_group"] = "Long Island"
    with pytest.raises(DataValidationError, match="column 'neighbourhood_group': isin"):
        run_inference(trained, batch)


# --------------------------------------------------------------------------- packaged model


@pytest.fixture(scope="module")
def pyfunc_model(trained, tmp_path_factory):
    """What kedro-mlflow's MlflowHook.after_pipeline_run does, with a local save instead of a log."""
    pipeline_ml = create_pipeline()
    catalog = make_catalog(param_inputs(trained["params"]), trained["pickles_dir"])
    model = KedroPipelineModel(
        pipeline=pipeline_ml.inference, catalog=catalog, input_name=pipeline_ml.input_name
    )
    tmp = tmp_path_factory.mktemp("pyfunc")
    artifacts = model.extract_pipeline_artifacts(parameters_saving_folder=tmp)
    kwargs = dict(pipeline_ml.log_model_kwargs)
    kwargs.pop("name")
    kwargs.pop("extra_pip_requirements")
    path = tmp / "model"
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=model,
        artifacts=artifacts,
        pip_requirements=["mlflow"],  # skip the (slow) requirements inference
        **kwargs,
    )
    return mlflow.pyfunc.load_model(str(path))


def test_packaged_model_has_signature_and_example(pyfunc_model):
    signature = pyfunc_model.metadata.signature
    assert signature.inputs.input_names() == MODEL_INPUT_COLUMNS
    assert signature.outputs.input_names() == ["id", "predicted_price"]
    assert pyfunc_model.metadata.saved_input_example_info["type"] == "dataframe"


def test_packaged_model_predicts_like_the_pipeline(pyfunc_model, trained, raw_sample):
    batch = raw_sample.head(40)  # raw CSV rows, with price and columns the model ignores
    predictions = pyfunc_model.predict(batch)
    expected = run_inference(trained, batch)
    assert predictions["id"].tolist() == batch["id"].tolist()
    np.testing.assert_allclose(predictions["predicted_price"], expected["predicted_price"])


def test_packaged_model_rejects_missing_column(pyfunc_model, raw_sample):
    with pytest.raises(MlflowException, match=r"missing inputs \['room_type'\]"):
        pyfunc_model.predict(raw_sample.head(5).drop(columns=["room_type"]))


def test_packaged_model_runs_the_listing_contract(pyfunc_model, raw_sample):
    batch = raw_sample.head(5).copy()
    batch["neighbourhood_group"] = "Hoboken"
    with pytest.raises(DataValidationError, match="column 'neighbourhood_group'"):
        pyfunc_model.predict(batch)
