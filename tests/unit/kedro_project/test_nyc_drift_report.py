"""nyc_airbnb.drift: feature profiles, PSI, the drift table, figure and HTML report."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from nyc_airbnb import drift
from nyc_airbnb.chunks import FrameChunks

NUMERIC = ["latitude", "minimum_nights", "reviews_per_month", "availability_365"]
CATEGORICAL = ["neighbourhood_group", "room_type"]


@pytest.fixture(scope="module")
def listings(_raw_full) -> pd.DataFrame:
    return _raw_full.sample(4000, random_state=1).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(listings) -> dict:
    return drift.reference_profile(listings, NUMERIC, CATEGORICAL, n_bins=10)


# --------------------------------------------------------------------------- psi


def test_psi_of_identical_counts_is_zero():
    assert drift.psi([10, 20, 30, 40], [10, 20, 30, 40]) == pytest.approx(0.0, abs=1e-12)
    # shares, not counts, are compared: the same distribution on 10x the rows
    assert drift.psi([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(0.0, abs=1e-12)
    # a bin empty on both sides is harmless
    assert drift.psi([5, 0, 5], [50, 0, 50]) == pytest.approx(0.0, abs=1e-12)


def test_psi_values():
    # the textbook formula sum((a - e) * ln(a / e)) on shares, up to the epsilon smoothing
    a, e = np.array([0.6, 0.4]), np.array([0.5, 0.5])
    expected = float(np.sum((a - e) * np.log(a / e)))
    assert drift.psi([60, 40], [50, 50]) == pytest.approx(expected, rel=1e-3)
    # symmetric, and grows with the shift
    assert drift.psi([50, 50], [60, 40]) == pytest.approx(drift.psi([60, 40], [50, 50]))
    assert drift.psi([90, 10], [50, 50]) > drift.psi([60, 40], [50, 50]) > 0
    # a bin only one side has: large but finite thanks to the smoothing
    assert 1 < drift.psi([0, 100], [100, 0]) < 50


def test_shares():
    assert drift.shares([1, 3]).tolist() == [0.25, 0.75]
    assert drift.shares([0, 0]).tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- profiles


def test_reference_profile_shape(listings, reference):
    assert reference["version"] == drift.PROFILE_VERSION
    assert reference["rows"] == len(listings)
    assert set(reference["features"]) == set(NUMERIC) | set(CATEGORICAL)
    lat = reference["features"]["latitude"]
    assert lat["kind"] == "numeric"
    assert len(lat["bin_edges"]) == 11  # 10 quantile bins of a continuous column
    assert lat["bin_edges"] == sorted(lat["bin_edges"])
    assert lat["bin_edges"][0] == listings["latitude"].min()
    assert lat["bin_edges"][-1] == listings["latitude"].max()
    # quantile bins: about a tenth of the rows each
    assert max(lat["counts"]) - min(lat["counts"]) < 0.02 * len(listings)
    rpm = reference["features"]["reviews_per_month"]
    assert rpm["nulls"] == int(listings["reviews_per_month"].isna().sum()) > 0
    assert sum(rpm["counts"]) + rpm["nulls"] == len(listings)
    room = reference["features"]["room_type"]
    assert room["kind"] == "categorical"
    assert set(room["categories"]) == set(listings["room_type"].unique())
    assert len(room["counts"]) == len(room["categories"]) + 1
    assert room["counts"][-1] == 0  # nothing is "other" in the training data itself
    assert room["counts"][:-1] == [
        int((listings["room_type"] == c).sum()) for c in room["categories"]
    ]
    # the profile is logged as JSON with the model
    assert json.loads(json.dumps(reference)) == reference


def test_reference_profile_of_a_constant_column():
    profile = drift.reference_profile(pd.DataFrame({"x": [3.0] * 5}), ["x"], [], n_bins=4)
    spec = profile["features"]["x"]
    assert spec["bin_edges"] == [2.5, 3.5]
    assert spec["counts"] == [5]
    with pytest.raises(ValueError, match="n_bins"):
        drift.reference_profile(pd.DataFrame({"x": [1.0]}), ["x"], [], n_bins=1)


def test_chunks_add_up_to_the_profile_of_the_whole(listings, reference):
    profile = drift.empty_profile_like(reference)
    assert profile["rows"] == 0
    assert all(sum(s["counts"]) == 0 and s["nulls"] == 0 for s in profile["features"].values())
    for chunk in FrameChunks.of(listings, 333):
        drift.add_chunk(profile, chunk)
    assert profile == reference
    # the reference is not modified by accumulating into a profile built from it
    assert sum(reference["features"]["latitude"]["counts"]) == len(listings)


def test_chunks_of_text_columns_profile_like_typed_ones(listings, reference):
    """Scoring profiles coerced chunks; CSV text coerced by the contract must bin the same."""
    text = listings.astype({c: "string" for c in NUMERIC + CATEGORICAL})
    profile = drift.empty_profile_like(reference)
    for chunk in FrameChunks.of(text, 1000):
        drift.add_chunk(profile, chunk)
    assert profile == reference


def test_values_outside_the_training_range_count_in_the_outer_bins(reference):
    edges = reference["features"]["latitude"]["bin_edges"]
    batch = pd.DataFrame({"latitude": [edges[0] - 1, edges[-1] + 1, edges[-1] + 2, np.nan]})
    profile = drift.add_chunk(drift.empty_profile_like(reference), batch)
    counts = profile["features"]["latitude"]["counts"]
    assert counts[0] == 1 and counts[-1] == 2 and sum(counts) == 3
    assert profile["features"]["latitude"]["nulls"] == 1
    assert profile["rows"] == 4


def test_unseen_categories_go_to_the_other_bin(reference):
    categories = reference["features"]["room_type"]["categories"]
    batch = pd.DataFrame(
        {"room_type": [categories[0], "Hotel room", "Treehouse", None, categories[0]]}
    )
    profile = drift.add_chunk(drift.empty_profile_like(reference), batch)
    spec = profile["features"]["room_type"]
    assert spec["counts"][0] == 2
    assert spec["counts"][-1] == 2  # "Hotel room" and "Treehouse"
    assert sum(spec["counts"]) == 4
    assert spec["nulls"] == 1
    # the unseen categories alone are significant drift
    table = drift.drift_table(profile, reference, 0.1, 0.25)
    assert table.set_index("feature").loc["room_type", "psi"] > 0.25


def test_add_chunk_ignores_features_the_chunk_lacks(reference):
    profile = drift.add_chunk(drift.empty_profile_like(reference), pd.DataFrame({"x": [1, 2]}))
    assert profile["rows"] == 2
    assert all(sum(s["counts"]) == 0 for s in profile["features"].values())


# --------------------------------------------------------------------------- table, report


def _profile_of(frame: pd.DataFrame, reference: dict) -> dict:
    return drift.add_chunk(drift.empty_profile_like(reference), frame)


def test_drift_table_statuses_and_metrics(listings, reference):
    same = _profile_of(listings.sample(1500, random_state=2), reference)
    table = drift.drift_table(same, reference, warn=0.1, alert=0.25)
    assert list(table["feature"]) == list(reference["features"])
    assert (table["psi"] < 0.05).all(), table
    assert set(table["status"]) == {"stable"}
    rpm = table.set_index("feature").loc["reviews_per_month"]
    assert rpm["null_share_training"] == pytest.approx(listings["reviews_per_month"].isna().mean())
    assert 0 < rpm["null_share_batch"] < 1

    shifted = listings.assign(
        latitude=listings["latitude"] + 0.05,  # about 5.5 km north
        minimum_nights=listings["minimum_nights"] * 1.15,  # a small shift: moderate at most
    )
    table = drift.drift_table(_profile_of(shifted, reference), reference, warn=0.1, alert=0.25)
    by_feature = table.set_index("feature")
    assert by_feature.loc["latitude", "psi"] > 0.25
    assert by_feature.loc["latitude", "status"] == "significant"
    assert by_feature.loc["room_type", "status"] == "stable"
    metrics = drift.drift_metrics(table)
    assert metrics["psi.latitude"] == by_feature.loc["latitude", "psi"]
    assert metrics["psi_max"] == table["psi"].max()
    assert metrics["n_features_drifted"] == float((table["status"] == "significant").sum()) >= 1
    for value in metrics.values():
        assert math.isfinite(value)


def test_drift_status_thresholds():
    reference = {"rows": 100, "features": {"x": {"kind": "numeric", "counts": [50, 50],
                                                  "nulls": 0, "bin_edges": [0, 1, 2]}}}

    def status(counts):
        batch = {"rows": 100, "features": {"x": {"counts": counts, "nulls": 0}}}
        return drift.drift_table(batch, reference, warn=0.1, alert=0.25)["status"].item()

    assert status([50, 50]) == "stable"
    assert status([67, 33]) == "moderate"  # psi about 0.12
    assert status([85, 15]) == "significant"  # psi about 0.55


def test_drift_figure_and_html(listings, reference):
    batch = _profile_of(listings.assign(latitude=listings["latitude"] + 0.05), reference)
    table = drift.drift_table(batch, reference, 0.1, 0.25)
    histogram = np.histogram(np.arange(100.0), bins=10)
    figure = drift.drift_figure(batch, reference, table, histogram)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == len(reference["features"]) + 1
    titles = [ax.get_title() for ax in figure.axes]
    assert any(t.startswith("latitude  PSI") and "significant" in t for t in titles)
    assert any(t.startswith("predicted price (batch") for t in titles)

    page = drift.drift_html(table, figure, "Scoring <demo>", {"model": "m v1", "rows": 12})
    assert page.startswith("<!doctype html>")
    assert "<title>Scoring &lt;demo&gt;</title>" in page  # escaped
    assert "<th>model</th><td>m v1</td>" in page
    # the PSI table: one row per feature, the PSI formatted, the status shown
    assert page.count("<tr>") >= 2 + len(reference["features"])
    lat_psi = table.set_index("feature").loc["latitude", "psi"]
    assert re.search(rf"<td>latitude</td>\s*<td>numeric</td>\s*<td>{lat_psi:.4f}</td>\s*"
                     r"<td>significant</td>", page)
    # the figure inline, as a PNG that decodes
    match = re.search(r"<img alt='drift plots' src='data:image/png;base64,([A-Za-z0-9+/=]+)'>",
                      page)
    assert match
    assert base64.b64decode(match.group(1)).startswith(b"\x89PNG")


def test_drift_html_with_an_empty_table():
    figure = Figure()
    figure.add_subplot().plot([1, 2])
    table = pd.DataFrame(columns=["feature", "kind", "psi", "status", "null_share_batch",
                                  "null_share_training"])
    page = drift.drift_html(table, figure, "t", {"drift": "not computed"})
    assert "<td>not computed</td>" in page
    assert "<img" in page
