"""Price drift check: histogram, KL divergence, threshold."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from nyc_airbnb.validation import (
    DataValidationError,
    check_price_drift,
    kl_divergence,
    log_price_histogram,
)

REFERENCE = {
    "bin_edges": [math.log1p(10), math.log1p(100), math.log1p(1000)],
    "probabilities": [0.5, 0.5],
}
DRIFT = {"max_kl_divergence": 0.1, "epsilon": 1e-6}


def test_histogram_bins_and_clipping():
    prices = pd.Series([20, 50, 200, 500, 5, 99999])  # 5 and 99999 fall in the outer bins
    assert log_price_histogram(prices, REFERENCE["bin_edges"]).tolist() == [0.5, 0.5]
    assert log_price_histogram(pd.Series([], dtype=float), REFERENCE["bin_edges"]).tolist() == [
        0.0,
        0.0,
    ]


def test_kl_divergence_values():
    assert kl_divergence([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0, abs=1e-12)
    expected = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert kl_divergence([0.9, 0.1], [0.5, 0.5], epsilon=0) == pytest.approx(expected)
    # an empty reference bin gives a large but finite divergence thanks to the smoothing
    assert 1 < kl_divergence([0.5, 0.5], [1.0, 0.0]) < 20


def test_no_drift_returns_the_divergence():
    prices = pd.Series([20, 30, 200, 300])
    assert check_price_drift(prices, REFERENCE, DRIFT, "x") == pytest.approx(0.0, abs=1e-9)


def test_drift_raises_naming_column_and_rule():
    prices = pd.Series([200] * 95 + [20] * 5)
    with pytest.raises(DataValidationError) as info:
        check_price_drift(prices, REFERENCE, DRIFT, "clean_listings")
    (failure,) = info.value.failures
    assert failure.column == "price"
    assert "KL(log1p price || reference) = 0.4946" in failure.check  # 0.95 ln 1.9 + 0.05 ln 0.1
    assert "exceeds max_kl_divergence = 0.1" in str(info.value)
    assert "'clean_listings'" in str(info.value)


def test_threshold_comes_from_parameters():
    prices = pd.Series([200] * 95 + [20] * 5)
    kl = check_price_drift(prices, REFERENCE, {"max_kl_divergence": 1.0}, "x")
    assert 0.1 < kl < 1.0


def test_committed_reference_accepts_a_resample_and_rejects_a_shift(
    raw_full, params, price_reference
):
    cleaning = params["cleaning"]
    prices = raw_full["price"].astype(float)
    prices = prices[prices.between(cleaning["price_min"], cleaning["price_max"])]
    drift = params["data_quality"]["drift"]
    sample = prices.sample(3000, random_state=1)
    assert check_price_drift(sample, price_reference, drift, "x") < 0.02
    with pytest.raises(DataValidationError):
        check_price_drift(np.clip(sample * 2.5, None, 1000), price_reference, drift, "x")
