"""Nodes of the training and inference pipelines.

Pure functions of data and parameters. Each fitted object (review date reference, imputer,
encoders, TF-IDF vectorizer, regressor) is returned on its own so that the catalog persists it as
its own dataset and the inference pipeline (logged to MLflow by kedro-mlflow) reuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from nyc_airbnb.drift import reference_profile
from nyc_airbnb.validation import ID_COLUMN, PREDICTION_COLUMN, PRICE_COLUMN

DAYS_SINCE_LAST_REVIEW = "days_since_last_review"
NAME_PREFIX = "name__"

# --------------------------------------------------------------------------- features


def _last_review_dates(listings: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(listings["last_review"], errors="coerce", format="ISO8601")


def _numeric_frame(
    listings: pd.DataFrame, review_reference_date: pd.Timestamp, feature_params: dict[str, Any]
) -> pd.DataFrame:
    df = listings[list(feature_params["numeric_columns"])].astype("float64")
    for column in feature_params.get("zero_fill_columns", []):
        df[column] = df[column].fillna(0.0)
    days = (review_reference_date - _last_review_dates(listings)).dt.days
    df[DAYS_SINCE_LAST_REVIEW] = days.astype("float64").clip(lower=0)
    return df


def _names(listings: pd.DataFrame) -> list[str]:
    return listings["name"].astype("object").where(listings["name"].notna(), "").tolist()


def fit_review_date_reference(listings: pd.DataFrame) -> pd.Timestamp:
    """The date "days since last review" is counted from: the latest review in the training data."""
    latest = _last_review_dates(listings).max()
    if pd.isna(latest):
        raise ValueError("Column 'last_review' has no date in the training data")
    return pd.Timestamp(latest)


def fit_numeric_imputer(
    listings: pd.DataFrame, review_reference_date: pd.Timestamp, feature_params: dict[str, Any]
) -> SimpleImputer:
    """Median imputation of numeric features, with missing-value indicator columns."""
    imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
    imputer.fit(_numeric_frame(listings, review_reference_date, feature_params))
    return imputer


def fit_room_type_encoder(listings: pd.DataFrame, feature_params: dict[str, Any]) -> OrdinalEncoder:
    """Ordinal room type (shared < private < entire home), order from parameters."""
    encoder = OrdinalEncoder(
        categories=[list(feature_params["room_type_order"])],
        handle_unknown="use_encoded_value",
        unknown_value=-1,
    )
    encoder.fit(listings[["room_type"]].astype("object"))
    return encoder


def fit_borough_encoder(listings: pd.DataFrame) -> OneHotEncoder:
    """One-hot encoding of the borough (neighbourhood_group)."""
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    encoder.fit(listings[["neighbourhood_group"]].astype("object"))
    return encoder


def fit_name_vectorizer(listings: pd.DataFrame, feature_params: dict[str, Any]) -> TfidfVectorizer:
    """TF-IDF of the listing name (accents stripped, so non-ASCII names are handled)."""
    tfidf = dict(feature_params["name_tfidf"])
    if "ngram_range" in tfidf:
        tfidf["ngram_range"] = tuple(tfidf["ngram_range"])
    vectorizer = TfidfVectorizer(**tfidf)
    vectorizer.fit(_names(listings))
    return vectorizer


def build_features(
    listings: pd.DataFrame,
    review_reference_date: pd.Timestamp,
    numeric_imputer: SimpleImputer,
    room_type_encoder: OrdinalEncoder,
    borough_encoder: OneHotEncoder,
    name_vectorizer: TfidfVectorizer,
    feature_params: dict[str, Any],
) -> pd.DataFrame:
    """Model features of listing rows, with the fitted preprocessing objects."""
    numeric = _numeric_frame(listings, review_reference_date, feature_params)
    parts = [
        pd.DataFrame(
            numeric_imputer.transform(numeric),
            columns=numeric_imputer.get_feature_names_out(),
        ),
        pd.DataFrame(
            room_type_encoder.transform(listings[["room_type"]].astype("object")),
            columns=["room_type"],
        ),
        pd.DataFrame(
            borough_encoder.transform(listings[["neighbourhood_group"]].astype("object")),
            columns=borough_encoder.get_feature_names_out(),
        ),
        pd.DataFrame(
            name_vectorizer.transform(_names(listings)).toarray(),
            columns=[NAME_PREFIX + t for t in name_vectorizer.get_feature_names_out()],
        ),
    ]
    features = pd.concat(parts, axis=1).astype("float64")
    features.columns = [str(c) for c in features.columns]
    return features


# --------------------------------------------------------------------------- model


def train_price_model(
    train_features: pd.DataFrame, train_listings: pd.DataFrame, model_params: dict[str, Any]
) -> TransformedTargetRegressor:
    """Gradient boosting on log1p(price); predictions are transformed back to dollars."""
    regressor = HistGradientBoostingRegressor(**model_params["hist_gradient_boosting"])
    model = TransformedTargetRegressor(
        regressor=regressor, func=np.log1p, inverse_func=np.expm1, check_inverse=False
    )
    model.fit(train_features, train_listings[PRICE_COLUMN].to_numpy(dtype="float64"))
    return model


def predict_prices(
    features: pd.DataFrame, price_model: TransformedTargetRegressor, listings: pd.DataFrame
) -> pd.DataFrame:
    """One row per listing: its id and the predicted nightly price (>= 0)."""
    predictions = np.clip(price_model.predict(features), 0.0, None)
    return pd.DataFrame(
        {
            ID_COLUMN: listings[ID_COLUMN].to_numpy(dtype="int64"),
            PREDICTION_COLUMN: predictions.astype("float64"),
        }
    )


# --------------------------------------------------------------------------- evaluation


def _actual_vs_predicted(predictions: pd.DataFrame, listings: pd.DataFrame):
    if (
        not predictions[ID_COLUMN]
        .reset_index(drop=True)
        .equals(listings[ID_COLUMN].astype("int64").reset_index(drop=True))
    ):
        raise ValueError("Predictions and listings are not aligned on 'id'")
    return (
        listings[PRICE_COLUMN].to_numpy(dtype="float64"),
        predictions[PREDICTION_COLUMN].to_numpy(dtype="float64"),
    )


def training_data_metrics(
    data_quality_report: dict[str, Any], train_listings: pd.DataFrame, test_listings: pd.DataFrame
) -> dict[str, dict[str, float]]:
    """Sizes of the splits and the price drift measured by data_processing, as run metrics."""
    metrics = {
        "n_train": len(train_listings),
        "n_test": len(test_listings),
        "price_kl_divergence": data_quality_report["price_kl_divergence"],
    }
    return {name: {"value": float(value), "step": 0} for name, value in metrics.items()}


def evaluate_predictions(
    test_predictions: pd.DataFrame, test_listings: pd.DataFrame
) -> dict[str, dict[str, float]]:
    """MAE, RMSE and R² on the test split, in the format of kedro-mlflow metrics datasets."""
    actual, predicted = _actual_vs_predicted(test_predictions, test_listings)
    metrics = {
        "mae": mean_absolute_error(actual, predicted),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "r2": r2_score(actual, predicted),
    }
    return {name: {"value": float(value), "step": 0} for name, value in metrics.items()}


def plot_predicted_vs_actual(test_predictions: pd.DataFrame, test_listings: pd.DataFrame) -> Figure:
    actual, predicted = _actual_vs_predicted(test_predictions, test_listings)
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(actual, predicted, s=6, alpha=0.3)
    top = float(max(actual.max(), predicted.max()))
    ax.plot([0, top], [0, top], color="black", linewidth=1, label="perfect prediction")
    ax.set_xscale("symlog")
    ax.set_yscale("symlog")
    ax.set_xlabel("actual price ($/night)")
    ax.set_ylabel("predicted price ($/night)")
    ax.set_title(f"Predicted vs actual (test, n={len(actual)})")
    ax.legend(loc="upper left")
    return fig


def plot_residuals(test_predictions: pd.DataFrame, test_listings: pd.DataFrame) -> Figure:
    actual, predicted = _actual_vs_predicted(test_predictions, test_listings)
    residuals = actual - predicted
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.scatter(predicted, residuals, s=6, alpha=0.3)
    left.axhline(0, color="black", linewidth=1)
    left.set_xlabel("predicted price ($/night)")
    left.set_ylabel("actual - predicted ($)")
    left.set_title("Residuals vs predicted")
    right.hist(np.clip(residuals, -500, 500), bins=60)
    right.set_xlabel("actual - predicted ($, clipped to ±500)")
    right.set_ylabel("listings")
    right.set_title("Residual distribution")
    return fig


def _feature_group(column: str) -> str:
    if column.startswith(NAME_PREFIX):
        return "name (tf-idf)"
    if column.startswith("neighbourhood_group_"):
        return "neighbourhood_group"
    if column.startswith("missingindicator_"):
        return column[len("missingindicator_") :]
    return column


def compute_feature_importance(
    price_model: TransformedTargetRegressor,
    test_features: pd.DataFrame,
    test_listings: pd.DataFrame,
    importance_params: dict[str, Any],
) -> pd.DataFrame:
    """Permutation importance per input field (one-hot / TF-IDF / indicator columns grouped).

    Importance = increase of the test MAE ($) when the field's columns are shuffled together.
    """
    rng = np.random.default_rng(importance_params["random_state"])
    n_rows = min(len(test_features), int(importance_params["max_rows"]))
    rows = rng.choice(len(test_features), size=n_rows, replace=False)
    features = test_features.iloc[rows].reset_index(drop=True)
    actual = test_listings[PRICE_COLUMN].to_numpy(dtype="float64")[rows]
    baseline = mean_absolute_error(actual, price_model.predict(features))

    groups: dict[str, list[str]] = {}
    for column in features.columns:
        groups.setdefault(_feature_group(column), []).append(column)

    records = []
    for group, columns in groups.items():
        increases = []
        for _ in range(int(importance_params["n_repeats"])):
            shuffled = features.copy()
            order = rng.permutation(n_rows)
            shuffled[columns] = features[columns].to_numpy()[order]
            increases.append(mean_absolute_error(actual, price_model.predict(shuffled)) - baseline)
        records.append(
            {
                "feature": group,
                "n_columns": len(columns),
                "mae_increase_mean": float(np.mean(increases)),
                "mae_increase_std": float(np.std(increases)),
            }
        )
    return (
        pd.DataFrame.from_records(records)
        .sort_values("mae_increase_mean", ascending=False)
        .reset_index(drop=True)
    )


def plot_feature_importance(feature_importance: pd.DataFrame) -> Figure:
    data = feature_importance.sort_values("mae_increase_mean")
    fig = Figure(figsize=(7, 0.35 * len(data) + 1.5), layout="constrained")
    ax = fig.subplots()
    ax.barh(data["feature"], data["mae_increase_mean"], xerr=data["mae_increase_std"])
    ax.set_xlabel("test MAE increase when shuffled ($)")
    ax.set_title("Permutation importance by input field")
    return fig


# --------------------------------------------------------------------------- reference profile


def profile_training_features(
    listings: pd.DataFrame, profile_params: dict[str, Any]
) -> dict[str, Any]:
    """Profile of the training rows (quantile bins, category shares), logged with the model so
    that scoring can report each batch's drift against the data this model learnt from."""
    return reference_profile(
        listings,
        numeric=profile_params["numeric_columns"],
        categorical=profile_params["categorical_columns"],
        n_bins=int(profile_params["n_bins"]),
    )
