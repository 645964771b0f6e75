"""Nodes of the data_processing pipeline: validate raw listings, clean, check, split.

Pure functions of data and parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from nyc_airbnb.validation import (
    PRICE_COLUMN,
    check_price_drift,
    check_price_scale,
    clean_listing_schema,
    listing_schema,
    log_price_histogram,
    validate,
)


def validate_raw_listings(
    raw_listings: pd.DataFrame, schema_params: dict[str, Any], quality_params: dict[str, Any]
) -> pd.DataFrame:
    """Check the raw training file against the listing contract and coerce its dtypes.

    Every column of the raw file is required, and so is a non-null, non-negative price whose
    median is a plausible nightly price (``quality_params["price_median"]``, when set).
    """
    if quality_params.get("price_median") and PRICE_COLUMN in raw_listings:
        # before the row rules: prices in cents also break the per-row price cap, and the
        # median names the cause and the fix
        prices = pd.to_numeric(raw_listings[PRICE_COLUMN], errors="coerce").dropna()
        if len(prices):
            check_price_scale(prices, quality_params["price_median"], "raw_listings")
    schema = listing_schema(
        schema_params, price="required", min_rows=int(quality_params["min_rows"])
    )
    return validate(raw_listings, schema, dataset="raw_listings")


def clean_listings(listings: pd.DataFrame, cleaning_params: dict[str, Any]) -> pd.DataFrame:
    """Drop duplicates, prices and coordinates out of bounds; parse ``last_review`` as a date."""
    lat, lon = cleaning_params["latitude"], cleaning_params["longitude"]
    df = listings.drop_duplicates()
    df = df.drop_duplicates(subset="id", keep="first")
    keep = (
        df[PRICE_COLUMN].between(cleaning_params["price_min"], cleaning_params["price_max"])
        & df["latitude"].between(lat["min"], lat["max"])
        & df["longitude"].between(lon["min"], lon["max"])
    )
    df = df.loc[keep].copy()
    df["last_review"] = pd.to_datetime(df["last_review"], format="ISO8601").astype("datetime64[ns]")
    return df.reset_index(drop=True)


def check_clean_listings(
    listings: pd.DataFrame,
    price_reference: dict[str, Any],
    schema_params: dict[str, Any],
    cleaning_params: dict[str, Any],
    quality_params: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the cleaned table and check its price distribution against the reference.

    Returns:
        the validated table (the input of the split) and a data quality report.
    """
    schema = clean_listing_schema(
        schema_params, cleaning_params, min_rows=int(quality_params["min_rows"])
    )
    validated = validate(listings, schema, dataset="clean_listings")
    kl = check_price_drift(
        validated[PRICE_COLUMN], price_reference, quality_params["drift"], "clean_listings"
    )
    report = {
        "n_rows": len(validated),
        "price_kl_divergence": kl,
        "max_kl_divergence": float(quality_params["drift"]["max_kl_divergence"]),
        "price_median": float(validated[PRICE_COLUMN].median()),
        "share_without_reviews": float(validated["last_review"].isna().mean()),
        "rows_per_borough": {
            str(k): int(v) for k, v in validated["neighbourhood_group"].value_counts().items()
        },
    }
    return validated, report


def split_listings(
    listings: pd.DataFrame, split_params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random train/test split, seeded, optionally stratified by a column (e.g. the borough)."""
    stratify_by = split_params.get("stratify_by")
    train, test = train_test_split(
        listings,
        test_size=split_params["test_size"],
        random_state=split_params["random_state"],
        stratify=listings[stratify_by] if stratify_by else None,
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def build_price_reference(
    listings: pd.DataFrame, cleaning_params: dict[str, Any], reference_params: dict[str, Any]
) -> dict[str, Any]:
    """Histogram of log1p(price) of the cleaned data: the reference of the drift check.

    The bins span log1p of the cleaning price bounds, so any cleaned price falls in a bin.
    """
    edges = np.linspace(
        np.log1p(cleaning_params["price_min"]),
        np.log1p(cleaning_params["price_max"]),
        int(reference_params["n_bins"]) + 1,
    )
    probabilities = log_price_histogram(listings[PRICE_COLUMN], edges)
    return {
        "generated_by": "kedro run --pipeline price_reference",
        "variable": "log1p(price)",
        "n_rows": len(listings),
        "price_min": cleaning_params["price_min"],
        "price_max": cleaning_params["price_max"],
        "bin_edges": [round(float(e), 6) for e in edges],
        "probabilities": [round(float(p), 6) for p in probabilities],
    }
