"""training nodes: features, fitted objects, model, evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from nyc_airbnb.pipelines.training.nodes import (
    DAYS_SINCE_LAST_REVIEW,
    build_features,
    compute_feature_importance,
    evaluate_predictions,
    fit_borough_encoder,
    fit_name_vectorizer,
    fit_numeric_imputer,
    fit_review_date_reference,
    fit_room_type_encoder,
    plot_feature_importance,
    plot_predicted_vs_actual,
    plot_residuals,
    training_data_metrics,
)
from nyc_airbnb.pipelines.training.pipeline import FITTED_OBJECTS, FITTED_PREPROCESSING
from sklearn.metrics import mean_absolute_error


@pytest.fixture(scope="module")
def fitted(trained):
    return {name: trained["catalog"].load(name) for name in FITTED_OBJECTS}


def _features(listings, fitted, params):
    return build_features(listings, *(fitted[n] for n in FITTED_PREPROCESSING), params["features"])


def test_every_fitted_object_is_persisted_on_its_own(trained):
    for name in FITTED_OBJECTS:
        assert (trained["pickles_dir"] / f"{name}.pkl").stat().st_size > 0


def test_review_date_reference_is_latest_training_review(trained, fitted):
    assert fitted["review_date_reference"] == trained["train"]["last_review"].max()
    with pytest.raises(ValueError, match="last_review"):
        fit_review_date_reference(trained["train"].assign(last_review=pd.NaT))


def test_features_are_complete_numeric_and_aligned(trained, fitted):
    params = trained["params"]
    train_features = _features(trained["train"], fitted, params)
    test_features = _features(trained["test"], fitted, params)
    assert list(train_features.columns) == list(test_features.columns)
    assert len(test_features) == len(trained["test"])
    assert not test_features.isna().any().any()
    assert (train_features.dtypes == "float64").all()
    columns = set(test_features.columns)
    assert {
        DAYS_SINCE_LAST_REVIEW,
        "missingindicator_days_since_last_review",
        "room_type",
    } <= columns
    assert {f"neighbourhood_group_{b}" for b in params["listing_schema"]["boroughs"]} <= columns
    n_name = sum(c.startswith("name__") for c in columns)
    assert 0 < n_name <= params["features"]["name_tfidf"]["max_features"]


def test_feature_semantics(trained, fitted):
    params = trained["params"]
    rows = trained["test"].head(3).copy()
    rows["room_type"] = ["Shared room", "Private room", "Entire home/apt"]
    rows["neighbourhood_group"] = ["Bronx", "Queens", "Queens"]
    rows["last_review"] = [fitted["review_date_reference"] - pd.Timedelta(days=10), pd.NaT, pd.NaT]
    rows["reviews_per_month"] = [1.5, np.nan, np.nan]
    rows["name"] = ["Cozy loft near park", None, "Café für zwei – très joli"]
    features = _features(rows, fitted, params)

    assert features["room_type"].tolist() == [0.0, 1.0, 2.0]
    assert features["neighbourhood_group_Bronx"].tolist() == [1.0, 0.0, 0.0]
    assert features["neighbourhood_group_Queens"].tolist() == [0.0, 1.0, 1.0]
    assert features.loc[0, DAYS_SINCE_LAST_REVIEW] == 10.0
    assert features["missingindicator_days_since_last_review"].tolist() == [0.0, 1.0, 1.0]
    assert features["reviews_per_month"].tolist() == [1.5, 0.0, 0.0]  # zero-filled, not imputed
    name_columns = [c for c in features.columns if c.startswith("name__")]
    assert features.loc[1, name_columns].sum() == 0.0  # no name -> no terms


def test_encoders_are_fitted_on_training_data(trained):
    params = trained["params"]
    train = trained["train"]
    borough = fit_borough_encoder(train)
    assert set(borough.categories_[0]) == set(train["neighbourhood_group"])
    room = fit_room_type_encoder(train, params["features"])
    assert list(room.categories_[0]) == params["features"]["room_type_order"]
    vectorizer = fit_name_vectorizer(train, params["features"])
    assert len(vectorizer.vocabulary_) <= params["features"]["name_tfidf"]["max_features"]
    ref = fit_review_date_reference(train)
    imputer = fit_numeric_imputer(train, ref, params["features"])
    assert imputer.statistics_.shape == (len(params["features"]["numeric_columns"]) + 1,)


def test_model_beats_the_median_baseline(trained):
    test = trained["test"]
    predictions = trained["test_predictions"]
    assert predictions["id"].tolist() == test["id"].tolist()
    assert (predictions["predicted_price"] >= 0).all()
    model_mae = mean_absolute_error(test["price"], predictions["predicted_price"])
    baseline_mae = mean_absolute_error(
        test["price"], np.full(len(test), trained["train"]["price"].median())
    )
    assert model_mae < 0.9 * baseline_mae


def test_evaluate_predictions_known_values():
    listings = pd.DataFrame({"id": [1, 2, 3, 4], "price": [100.0, 200.0, 300.0, 400.0]})
    perfect = pd.DataFrame({"id": [1, 2, 3, 4], "predicted_price": [100.0, 200.0, 300.0, 400.0]})
    assert evaluate_predictions(perfect, listings) == {
        "mae": {"value": 0.0, "step": 0},
        "rmse": {"value": 0.0, "step": 0},
        "r2": {"value": 1.0, "step": 0},
    }
    off = perfect.assign(predicted_price=[110.0, 190.0, 330.0, 370.0])
    metrics = evaluate_predictions(off, listings)
    assert metrics["mae"]["value"] == pytest.approx(20.0)
    assert metrics["rmse"]["value"] == pytest.approx(math.sqrt((100 + 100 + 900 + 900) / 4))
    assert metrics["r2"]["value"] == pytest.approx(1 - 2000 / 50000)


def test_evaluate_refuses_misaligned_rows():
    listings = pd.DataFrame({"id": [1, 2], "price": [100.0, 200.0]})
    swapped = pd.DataFrame({"id": [2, 1], "predicted_price": [100.0, 200.0]})
    with pytest.raises(ValueError, match="not aligned"):
        evaluate_predictions(swapped, listings)


def test_pipeline_metrics_outputs(trained):
    metrics = trained["outputs"]["test_metrics"]
    assert set(metrics) == {"mae", "rmse", "r2"}
    assert metrics["mae"]["value"] == pytest.approx(
        mean_absolute_error(
            trained["test"]["price"], trained["test_predictions"]["predicted_price"]
        )
    )
    data = trained["outputs"]["training_data_metrics"]
    assert data["n_train"]["value"] == len(trained["train"])
    assert data["n_test"]["value"] == len(trained["test"])
    report = {"price_kl_divergence": 0.01}
    assert training_data_metrics(report, trained["train"], trained["test"])[
        "price_kl_divergence"
    ] == {"value": 0.01, "step": 0}


def test_plots_are_figures(trained):
    outputs = trained["outputs"]
    for name in ("predicted_vs_actual_plot", "residuals_plot", "feature_importance_plot"):
        assert isinstance(outputs[name], Figure)
        assert outputs[name].axes
    fig = plot_predicted_vs_actual(trained["test_predictions"], trained["test"])
    assert "Predicted vs actual" in fig.axes[0].get_title()
    assert len(plot_residuals(trained["test_predictions"], trained["test"]).axes) == 2


def test_feature_importance_groups_input_fields(trained):
    table = compute_feature_importance(
        trained["catalog"].load("price_model"),
        trained["test_features"],
        trained["test"],
        trained["params"]["evaluation"],
    )
    features = set(table["feature"])
    assert {"name (tf-idf)", "neighbourhood_group", "room_type", DAYS_SINCE_LAST_REVIEW} <= features
    assert not any(f.startswith(("missingindicator_", "name__")) for f in features)
    assert table["mae_increase_mean"].is_monotonic_decreasing
    # shuffling the room type must hurt a price model
    assert table.set_index("feature").loc["room_type", "mae_increase_mean"] > 0
    fig = plot_feature_importance(table)
    assert len(fig.axes[0].patches) == len(table)
