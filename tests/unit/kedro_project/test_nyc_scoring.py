"""scoring: the node, the pipeline with real CSV datasets (no partial output), the registry dataset."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from nyc_airbnb.datasets import MlflowRegisteredModelDataset, RegisteredModel
from nyc_airbnb.pipelines.scoring import create_pipeline
from nyc_airbnb.pipelines.scoring.nodes import score_listings
from nyc_airbnb.validation import MODEL_INPUT_COLUMNS, DataValidationError
from nyc_helpers import make_catalog


class FakeModel:
    """Stands for the pyfunc model: predicts 100 + minimum_nights, records what it was given."""

    def __init__(self):
        self.calls: list[pd.DataFrame] = []

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(data)
        return pd.DataFrame(
            {"id": data["id"], "predicted_price": 100.0 + data["minimum_nights"].astype(float)}
        )


def registered(model=None) -> RegisteredModel:
    return RegisteredModel(
        model=model or FakeModel(),
        name="nyc_airbnb_price",
        alias="champion",
        version="7",
        run_id="r1",
    )


def test_score_listings_output(raw_sample, params):
    champion = registered()
    batch = raw_sample.head(25)
    scored = score_listings(batch, champion, params["listing_schema"])
    assert list(scored.columns) == [
        "id",
        "predicted_price",
        "price",
        "model_name",
        "model_version",
        "model_alias",
        "model_run_id",
    ]
    assert scored["id"].tolist() == batch["id"].tolist()
    assert scored["predicted_price"].tolist() == (100.0 + batch["minimum_nights"]).tolist()
    assert scored["price"].tolist() == batch["price"].astype(float).tolist()
    assert set(scored["model_version"]) == {"7"}
    assert set(scored["model_alias"]) == {"champion"}
    # the model gets the validated model columns only
    (given,) = champion.model.calls
    assert list(given.columns) == MODEL_INPUT_COLUMNS


def test_price_is_optional(raw_sample, params):
    scored = score_listings(
        raw_sample.head(5).drop(columns=["price"]), registered(), params["listing_schema"]
    )
    assert "price" not in scored.columns
    assert len(scored) == 5


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda df: df.drop(columns=["latitude"]), "column 'latitude': required column is missing"),
        (
            lambda df: df.astype({"availability_365": "object"}).assign(
                availability_365="all year"
            ),
            "column 'availability_365': wrong dtype, cannot convert to int64",
        ),
        (
            lambda df: df.assign(neighbourhood_group="Yonkers"),
            "column 'neighbourhood_group': isin(",
        ),
        (lambda df: df.head(0), "table: has at least 1 row(s) (got 0)"),
    ],
)
def test_bad_batch_fails_before_the_model_runs(raw_sample, params, mutate, expected):
    champion = registered()
    with pytest.raises(DataValidationError, match="'scoring_listings'") as info:
        score_listings(mutate(raw_sample.head(10).copy()), champion, params["listing_schema"])
    assert expected in str(info.value)
    assert champion.model.calls == []


def test_model_output_mismatch_is_an_error(raw_sample, params):
    class Shuffling(FakeModel):
        def predict(self, data):
            return super().predict(data).iloc[::-1]

    with pytest.raises(ValueError, match="do not match"):
        score_listings(raw_sample.head(5), registered(Shuffling()), params["listing_schema"])


# --------------------------------------------------------------------------- pipeline, files


def _run_scoring(tmp_path: Path, batch_file: Path, params) -> Path:
    output = tmp_path / "09_scored" / "scored_listings.csv"
    catalog = make_catalog(
        {"champion_model": registered(), "params:listing_schema": params["listing_schema"]}
    )
    catalog["scoring_listings"] = CSVDataset(filepath=str(batch_file))
    catalog["scored_listings"] = CSVDataset(filepath=str(output), save_args={"index": False})
    SequentialRunner().run(create_pipeline(), catalog)
    return output


def test_scoring_pipeline_writes_the_scored_file(tmp_path, raw_sample, params):
    batch_file = tmp_path / "batch.csv"
    raw_sample.head(30).to_csv(batch_file, index=False)
    output = _run_scoring(tmp_path, batch_file, params)
    scored = pd.read_csv(output)
    assert len(scored) == 30
    assert scored["model_version"].unique().tolist() == [7]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "No columns to parse from file"),  # empty file: the CSV dataset fails to load
        ("id,name,price\n1,x,10\n", "required column is missing"),
        (None, "column 'neighbourhood_group': isin("),  # one unknown borough in 30 good rows
    ],
)
def test_failed_scoring_writes_no_output(tmp_path, raw_sample, params, content, expected):
    batch_file = tmp_path / "batch.csv"
    if content is None:
        batch = raw_sample.head(30).copy()
        batch.loc[29, "neighbourhood_group"] = "Newark"
        batch.to_csv(batch_file, index=False)
    else:
        batch_file.write_text(content)
    with pytest.raises((DataValidationError, DatasetError), match=re.escape(expected)):
        _run_scoring(tmp_path, batch_file, params)
    assert not (tmp_path / "09_scored").exists()


# --------------------------------------------------------------------------- registry dataset


class _Constant(mlflow.pyfunc.PythonModel):
    def __init__(self, value: float):
        self.value = value

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"id": model_input["id"], "predicted_price": self.value})


def test_registered_model_dataset_resolves_alias_to_version(local_mlflow):
    for value in (1.0, 2.0):
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model",
                python_model=_Constant(value),
                registered_model_name="price_model_test",
                pip_requirements=["mlflow"],
            )
    local_mlflow.set_registered_model_alias("price_model_test", "champion", "1")

    loaded = MlflowRegisteredModelDataset(model_name="price_model_test", alias="champion").load()
    assert (loaded.name, loaded.alias, loaded.version) == ("price_model_test", "champion", "1")
    assert loaded.run_id == local_mlflow.get_model_version("price_model_test", "1").run_id
    assert loaded.predict(pd.DataFrame({"id": [5]}))["predicted_price"].tolist() == [1.0]

    with pytest.raises(DatasetError, match=r"models:/price_model_test@challenger"):
        MlflowRegisteredModelDataset(model_name="price_model_test", alias="challenger").load()
    with pytest.raises(DatasetError, match="read-only"):
        MlflowRegisteredModelDataset(model_name="price_model_test").save(loaded)
