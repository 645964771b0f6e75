"""The listing contract (pandera) and its error messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nyc_airbnb.pipelines.data_processing.nodes import validate_raw_listings
from nyc_airbnb.validation import (
    MODEL_INPUT_COLUMNS,
    DataValidationError,
    validate_model_input,
)


def _raise(df, params):
    with pytest.raises(DataValidationError) as info:
        validate_raw_listings(df, params["listing_schema"], params["data_quality"])
    return info.value


def test_committed_raw_file_passes_and_is_coerced(raw_full, params):
    out = validate_raw_listings(raw_full, params["listing_schema"], params["data_quality"])
    assert len(out) == 20_000
    assert out["price"].dtype == "float64"
    assert out["id"].dtype == "int64"
    assert out["last_review"].isna().sum() == 4123
    assert out["reviews_per_month"].isna().sum() == 4123


def test_missing_column_is_named(raw_sample, params):
    err = _raise(raw_sample.drop(columns=["neighbourhood_group"]), params)
    assert "column 'neighbourhood_group': required column is missing" in str(err)
    assert [(f.column, f.check) for f in err.failures] == [
        ("neighbourhood_group", "required column is missing")
    ]


def test_missing_price_column_is_named(raw_sample, params):
    err = _raise(raw_sample.drop(columns=["price"]), params)
    assert "column 'price': required column is missing" in str(err)


def test_wrong_dtype_is_named_with_the_bad_value(raw_sample, params):
    bad = raw_sample.astype({"latitude": "object"})
    bad.loc[5, "latitude"] = "forty point seven"
    err = _raise(bad, params)
    assert len(err.failures) == 1  # no cascade of range/type errors on the same column
    failure = err.failures[0]
    assert failure.column == "latitude"
    assert "wrong dtype, cannot convert to float64" in failure.check
    assert "'forty point seven'" in str(err)


def test_text_in_an_integer_column(raw_sample, params):
    bad = raw_sample.astype({"minimum_nights": "object"})
    bad.loc[0, "minimum_nights"] = "two"
    err = _raise(bad, params)
    assert "column 'minimum_nights': wrong dtype, cannot convert to int64" in str(err)


def test_empty_frame_fails_min_rows(raw_sample, params):
    err = _raise(raw_sample.head(0), params)
    assert "table: has at least 1000 row(s) (got 0)" in str(err)


def test_too_few_rows(raw_sample, params):
    err = _raise(raw_sample.head(10), params)
    assert [f.column for f in err.failures] == [None]
    assert "has at least 1000 row(s)" in err.failures[0].check


def test_unseen_borough_is_named_with_the_value(raw_sample, params):
    bad = raw_sample.copy()
    bad.loc[[3, 4], "neighbourhood_group"] = "Hoboken"
    err = _raise(bad, params)
    failure = err.failures[0]
    assert failure.column == "neighbourhood_group"
    assert failure.check.startswith("isin(")
    assert failure.n_failures == 2
    assert failure.examples == ("Hoboken",)


def test_unknown_room_type(raw_sample, params):
    bad = raw_sample.copy()
    bad.loc[0, "room_type"] = "Castle"
    assert "column 'room_type': isin(" in str(_raise(bad, params))


def test_nan_price_is_rejected(raw_sample, params):
    bad = raw_sample.copy()
    bad.loc[[1, 2, 3], "price"] = np.nan
    err = _raise(bad, params)
    assert [(f.column, f.check, f.n_failures) for f in err.failures] == [
        ("price", "null values are not allowed", 3)
    ]


def test_unparseable_date_and_out_of_range_value(raw_sample, params):
    bad = raw_sample.copy()
    bad.loc[0, "last_review"] = "last summer"
    bad.loc[1, "availability_365"] = 400
    err = _raise(bad, params)
    text = str(err)
    assert (
        "column 'last_review': is a date (YYYY-MM-DD) (1 failing value(s), e.g. 'last summer')"
        in (text)
    )
    assert "column 'availability_365': in_range(0, 365)" in text


def test_all_problems_reported_at_once_in_a_short_message(raw_sample, params):
    bad = raw_sample.drop(columns=["room_type"])
    bad.loc[0, "neighbourhood_group"] = "Hoboken"
    bad.loc[1, "price"] = np.nan
    err = _raise(bad, params)
    assert {f.column for f in err.failures} == {"room_type", "neighbourhood_group", "price"}
    lines = str(err).splitlines()
    assert lines[0] == "Data validation failed for 'raw_listings' (3 problem(s)):"
    assert len(lines) == 4


# --------------------------------------------------------------------------- model input


def test_model_input_price_is_optional_and_extra_columns_are_kept(raw_sample, params):
    batch = raw_sample.drop(columns=["price"]).head(20)
    out = validate_model_input(batch, params["listing_schema"])
    assert list(out.columns) == list(batch.columns)
    with_nan_price = raw_sample.head(5).assign(price=np.nan)
    assert validate_model_input(with_nan_price, params["listing_schema"])["price"].isna().all()


def test_model_input_needs_only_model_columns(raw_sample, params):
    out = validate_model_input(raw_sample[MODEL_INPUT_COLUMNS].head(5), params["listing_schema"])
    assert len(out) == 5


def test_model_input_coerces_csv_quirks(raw_sample, params):
    """A small batch read from CSV can have all-null text columns (float) or int-valued floats."""
    batch = raw_sample[MODEL_INPUT_COLUMNS].head(3).copy()
    batch["last_review"] = np.nan
    batch["reviews_per_month"] = pd.Series([1, 2, 3], dtype="int64")
    out = validate_model_input(batch, params["listing_schema"])
    assert out["last_review"].dtype == "str"
    assert out["reviews_per_month"].dtype == "float64"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda df: df.drop(columns=["room_type"]),
            "column 'room_type': required column is missing",
        ),
        (
            lambda df: df.assign(neighbourhood_group="Jersey City"),
            "column 'neighbourhood_group': isin(",
        ),
        (lambda df: df.assign(latitude="north"), "column 'latitude': wrong dtype"),
        (lambda df: df.head(0), "table: has at least 1 row(s)"),
    ],
)
def test_model_input_rejections(raw_sample, params, mutate, expected):
    with pytest.raises(DataValidationError, match="'model_input'") as info:
        validate_model_input(mutate(raw_sample.head(10).copy()), params["listing_schema"])
    assert expected in str(info.value)
