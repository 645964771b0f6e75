"""Fixtures for the unit tests of the Kedro project nyc_airbnb (kedro_project/)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
from nyc_helpers import RAW_CSV, REFERENCE_JSON, config_loader, make_catalog, param_inputs


@pytest.fixture(scope="session")
def params() -> dict[str, Any]:
    return config_loader()["parameters"]


@pytest.fixture(scope="session")
def _raw_full() -> pd.DataFrame:
    return pd.read_csv(RAW_CSV)


@pytest.fixture
def raw_full(_raw_full) -> pd.DataFrame:
    """The committed 20k-row raw file (a copy per test)."""
    return _raw_full.copy()


@pytest.fixture
def raw_sample(_raw_full) -> pd.DataFrame:
    """3,000 raw rows (includes out-of-bounds prices and never-reviewed listings)."""
    return _raw_full.sample(3000, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def price_reference() -> dict[str, Any]:
    return json.loads(REFERENCE_JSON.read_text())


@pytest.fixture(scope="session")
def fast_params(params) -> dict[str, Any]:
    """Project parameters with a smaller model, for fast tests."""
    fast = json.loads(json.dumps(params))
    fast["features"]["name_tfidf"]["max_features"] = 30
    fast["features"]["name_tfidf"]["min_df"] = 3
    fast["model"]["hist_gradient_boosting"]["max_iter"] = 40
    fast["evaluation"]["max_rows"] = 300
    fast["evaluation"]["n_repeats"] = 2
    fast["data_quality"]["min_rows"] = 100
    return fast


@pytest.fixture(scope="session")
def trained(tmp_path_factory, _raw_full, fast_params, price_reference) -> dict[str, Any]:
    """Run data_processing nodes and the training pipeline in-process on 3,000 raw rows."""
    from kedro.runner import SequentialRunner
    from kedro_datasets.pickle import PickleDataset
    from nyc_airbnb.pipelines.data_processing import create_pipeline as data_processing
    from nyc_airbnb.pipelines.training import create_training_pipeline

    pickles_dir = tmp_path_factory.mktemp("models")
    raw = _raw_full.sample(3000, random_state=0).reset_index(drop=True)
    catalog = make_catalog(
        {"raw_listings": raw, "price_reference": price_reference, **param_inputs(fast_params)},
        pickles_dir,
    )
    for name in ("train_listings", "test_listings", "test_predictions", "test_features"):
        # persisted: the runner releases memory datasets after their last consumer
        catalog[name] = PickleDataset(filepath=str(pickles_dir / f"{name}.pkl"))
    pipeline = data_processing() + create_training_pipeline()
    outputs = SequentialRunner().run(pipeline, catalog)
    return {
        "catalog": catalog,
        "pickles_dir": pickles_dir,
        "outputs": {name: ds.load() for name, ds in outputs.items()},
        "train": catalog.load("train_listings"),
        "test": catalog.load("test_listings"),
        "test_predictions": catalog.load("test_predictions"),
        "test_features": catalog.load("test_features"),
        "params": fast_params,
    }
