"""data_processing nodes: cleaning, checks of the cleaned table, split, price reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from nyc_airbnb.pipelines.data_processing.nodes import (
    build_price_reference,
    check_clean_listings,
    clean_listings,
    split_listings,
    validate_raw_listings,
)
from nyc_airbnb.validation import DataValidationError
from nyc_helpers import make_catalog, param_inputs


@pytest.fixture
def validated(raw_sample, params):
    return validate_raw_listings(raw_sample, params["listing_schema"], params["data_quality"])


@pytest.fixture
def clean(validated, params):
    return clean_listings(validated, params["cleaning"])


def test_clean_drops_price_and_coordinate_outliers(validated, params):
    cleaning = params["cleaning"]
    dirty = validated.copy()
    dirty.loc[0, "price"] = 0.0
    dirty.loc[1, "price"] = 10_000.0
    dirty.loc[2, "latitude"] = 40.0  # south of NYC
    dirty.loc[3, "longitude"] = -73.0  # east of NYC
    dropped_ids = set(dirty.loc[:3, "id"])

    out = clean_listings(dirty, cleaning)

    assert dropped_ids.isdisjoint(out["id"])
    assert out["price"].between(cleaning["price_min"], cleaning["price_max"]).all()
    assert out["latitude"].between(cleaning["latitude"]["min"], cleaning["latitude"]["max"]).all()
    assert (
        out["longitude"].between(cleaning["longitude"]["min"], cleaning["longitude"]["max"]).all()
    )
    expected_kept = dirty.iloc[4:]
    expected_kept = expected_kept[
        expected_kept["price"].between(cleaning["price_min"], cleaning["price_max"])
    ]
    assert len(out) == len(expected_kept)


def test_clean_drops_duplicates(validated, params):
    dirty = pd.concat([validated, validated.head(5)], ignore_index=True)  # exact duplicates
    same_id = validated.head(1).assign(price=123.0)  # same listing id, other values
    dirty = pd.concat([dirty, same_id], ignore_index=True)
    out = clean_listings(dirty, params["cleaning"])
    assert out["id"].is_unique
    assert len(out) == len(clean_listings(validated, params["cleaning"]))


def test_clean_parses_last_review(clean, validated):
    assert str(clean["last_review"].dtype) == "datetime64[ns]"
    reviewed = validated.set_index("id")["last_review"]
    row = clean.dropna(subset=["last_review"]).iloc[0]
    assert row["last_review"] == pd.Timestamp(reviewed[row["id"]])
    assert (
        clean["last_review"].isna().sum()
        == validated.loc[validated["id"].isin(clean["id"]), "last_review"].isna().sum()
    )


def test_check_clean_listings_passes_and_reports(clean, price_reference, params):
    out, report = check_clean_listings(
        clean,
        price_reference,
        params["listing_schema"],
        params["cleaning"],
        {**params["data_quality"], "min_rows": 100},
    )
    assert len(out) == len(clean)
    assert report["n_rows"] == len(clean)
    assert 0 <= report["price_kl_divergence"] < params["data_quality"]["drift"]["max_kl_divergence"]
    assert sum(report["rows_per_borough"].values()) == len(clean)


def test_check_clean_listings_stops_on_drift(clean, price_reference, params):
    inflated = clean.assign(price=(clean["price"] * 3).clip(upper=1000))
    with pytest.raises(DataValidationError) as info:
        check_clean_listings(
            inflated,
            price_reference,
            params["listing_schema"],
            params["cleaning"],
            {**params["data_quality"], "min_rows": 100},
        )
    assert info.value.failures[0].column == "price"
    assert "distribution drift: KL(log1p price || reference)" in str(info.value)
    assert "exceeds max_kl_divergence = 0.1" in str(info.value)


def test_check_clean_listings_enforces_cleaning_guarantees(clean, price_reference, params):
    broken = clean.copy()
    broken.loc[0, "price"] = 5000.0
    broken.loc[1, "id"] = broken.loc[2, "id"]
    with pytest.raises(DataValidationError) as info:
        check_clean_listings(
            broken,
            price_reference,
            params["listing_schema"],
            params["cleaning"],
            {**params["data_quality"], "min_rows": 100},
        )
    columns = {f.column: f.check for f in info.value.failures}
    assert columns["price"].startswith("in_range(10")
    assert columns["id"] == "values must be unique"


def test_check_clean_listings_enforces_min_rows(clean, price_reference, params):
    with pytest.raises(DataValidationError, match=r"table: has at least 1000 row\(s\) \(got 50\)"):
        check_clean_listings(
            clean.head(50),
            price_reference,
            params["listing_schema"],
            params["cleaning"],
            params["data_quality"],
        )


def test_split_is_seeded_disjoint_and_stratified(clean, params):
    split = params["split"]
    train, test = split_listings(clean, split)
    assert len(train) + len(test) == len(clean)
    assert len(test) == pytest.approx(split["test_size"] * len(clean), abs=1)
    assert set(train["id"]).isdisjoint(test["id"])

    _, test_again = split_listings(clean, split)
    pd.testing.assert_frame_equal(test, test_again)
    _, test_other_seed = split_listings(clean, {**split, "random_state": split["random_state"] + 1})
    assert set(test["id"]) != set(test_other_seed["id"])

    share = clean["neighbourhood_group"].value_counts(normalize=True)
    test_share = test["neighbourhood_group"].value_counts(normalize=True)
    assert np.allclose(test_share[share.index], share, atol=0.01)


def test_committed_price_reference_is_reproducible(raw_full, params, price_reference):
    """data/01_raw/price_reference.json is what `kedro run --pipeline price_reference` builds."""
    validated = validate_raw_listings(raw_full, params["listing_schema"], params["data_quality"])
    rebuilt = build_price_reference(
        clean_listings(validated, params["cleaning"]), params["cleaning"], params["price_reference"]
    )
    assert rebuilt == price_reference
    assert len(rebuilt["bin_edges"]) == params["price_reference"]["n_bins"] + 1
    assert sum(rebuilt["probabilities"]) == pytest.approx(1.0, abs=1e-4)


# --------------------------------------------------------------------------- bad raw files


def _write_csv(**to_csv_args):
    def write(raw: pd.DataFrame, path) -> None:
        raw.to_csv(path, index=False, **to_csv_args)

    return write


def _cut_mid_row(raw: pd.DataFrame, path) -> None:
    """An interrupted copy: the last row ends inside its name."""
    whole = raw.iloc[:-1].to_csv(index=False)
    path.write_text(whole + f"{raw['id'].iloc[-1]},Sunny loft", encoding="utf-8")


def _bytes(encode):
    def write(raw: pd.DataFrame, path) -> None:
        path.write_bytes(encode(raw))

    return write


def _latin1_name(raw: pd.DataFrame) -> bytes:
    """UTF-8 but for one name written in latin-1 (an 'é' as the single byte 0xE9)."""
    raw = raw.astype({"name": "object"})
    raw.loc[20, "name"] = "CAFE_PLACEHOLDER in Harlem"
    return raw.to_csv(index=False).encode("utf-8").replace(
        b"CAFE_PLACEHOLDER", "Caf\u00e9".encode("latin-1"))


def _extra_field(raw: pd.DataFrame, path) -> None:
    """One row with a 17th field: an unquoted comma in a value of an export."""
    lines = raw.head(40).to_csv(index=False, quoting=1).splitlines()
    lines[30] += ',"stray"'  # line 31 of the file
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _mutated(mutate):
    def write(raw: pd.DataFrame, path) -> None:
        mutate(raw).to_csv(path, index=False)

    return write


def _set(row: int, column: str, value):
    def mutate(raw: pd.DataFrame) -> pd.DataFrame:
        raw = raw.astype({column: "object"})
        raw.loc[row, column] = value
        return raw

    return mutate


#: (how the bad file is written, the error type, the expected problem line, with {file})
BAD_RAW_FILES = {
    "semicolon-separated": (
        _write_csv(sep=";"),
        "CSVLayoutError",
        ("table: file {file} does not look comma-separated: its header has no ',' but 16 fields "
         "separated by ';'; write the file with ',' as the separator"),
    ),
    "cut mid-row": (
        _cut_mid_row,
        "CSVLayoutError",
        # a file larger than the block read at its end: the line is not numbered
        ("table: file {file} is truncated: its last line has 2 of the header's 16 fields and the "
         "file does not end with a newline; deliver the complete file again"),
    ),
    "id that is not an integer": (
        _mutated(_set(11, "id", "12345.5")),
        "DataValidationError",
        ("column 'id': wrong dtype, cannot convert to int64 (not a whole number) (1 failing "
         "value(s), e.g. 12345.5)"),
    ),
    "empty id": (
        _mutated(_set(12, "id", None)),
        "DataValidationError",
        "column 'id': null values are not allowed (1 failing value(s))",
    ),
    "price in cents": (
        _mutated(lambda raw: raw.assign(price=raw["price"] * 100)),
        "DataValidationError",
        ("column 'price': median price 11000 is not a plausible nightly price in US dollars "
         "(price_median rule: between 25 and 1000) (prices in cents? divide them by 100)"),
    ),
    "latitude outside New York City": (
        _mutated(_set(13, "latitude", 0.0)),
        "DataValidationError",
        "column 'latitude': in New York City: between 40.5 and 41.2 (1 failing value(s), e.g. 0.0)",
    ),
    "minimum_nights of a billion": (
        _mutated(_set(14, "minimum_nights", 10**9)),
        "DataValidationError",
        ("column 'minimum_nights': plausible: at most 3650 nights (1 failing value(s), "
         "e.g. 1000000000)"),
    ),
    "empty file (0 bytes)": (
        _bytes(lambda raw: b""),
        "CSVLayoutError",
        ("table: file {file} is empty (0 bytes): no header and no rows; deliver the complete "
         "file again"),
    ),
    "header only": (
        _write_csv(),  # of raw.head(0): see HEADER_ONLY
        "DataValidationError",
        "table: has at least 1000 row(s) (got 0)",
    ),
    "UTF-16 text": (
        _write_csv(encoding="utf-16"),
        "CSVLayoutError",
        ("table: file {file} is UTF-16 text, not utf-8: export it again as utf-8 (e.g. 'CSV "
         "UTF-8' in a spreadsheet, or `iconv -f UTF-16 -t UTF-8`)"),
    ),
    "latin-1 bytes in a UTF-8 file": (
        _bytes(_latin1_name),
        "CSVLayoutError",
        ("column 'name': not UTF-8 text: file {file}, data row 21, field 2 (invalid "
         "continuation byte); export the file again as UTF-8"),
    ),
    "a row with one field too many": (
        _extra_field,
        "CSVLayoutError",
        ("table: file {file}, line 31: 17 fields where the header has 16; quote the fields that "
         "contain the separator (or fix that row)"),
    ),
    "missing column": (
        _mutated(lambda raw: raw.drop(columns=["room_type"])),
        "DataValidationError",
        "column 'room_type': required column is missing",
    ),
    "price of a billion": (
        _mutated(_set(15, "price", 1e9)),
        "DataValidationError",
        ("column 'price': plausible: at most 100000 US dollars a night (1 failing value(s), "
         "e.g. 1000000000.0)"),
    ),
    "negative price": (
        _mutated(_set(16, "price", -50)),
        "DataValidationError",
        "column 'price': greater_than_or_equal_to(0) (1 failing value(s), e.g. -50.0)",
    ),
    "NaN price": (
        _mutated(_set(17, "price", float("nan"))),
        "DataValidationError",
        "column 'price': null values are not allowed (1 failing value(s))",
    ),
    "inf in a numeric column": (
        _mutated(_set(18, "reviews_per_month", "inf")),
        "DataValidationError",
        ("column 'reviews_per_month': a finite number (not inf or -inf) (1 failing value(s), "
         "e.g. inf)"),
    ),
    "a date that is not a date": (
        _mutated(_set(19, "last_review", "2019-13-45")),
        "DataValidationError",
        "column 'last_review': is a date (YYYY-MM-DD) (1 failing value(s), e.g. '2019-13-45')",
    ),
}
#: cases written from the header of the sample only
HEADER_ONLY = {"header only"}


@pytest.mark.parametrize("case", list(BAD_RAW_FILES))
def test_bad_raw_file_stops_data_processing_naming_the_problem_and_writes_nothing(
    tmp_path, raw_sample, price_reference, params, case
):
    from kedro.io import DatasetError
    from kedro.runner import SequentialRunner
    from kedro_datasets.pandas import ParquetDataset
    from nyc_airbnb.datasets import CheckedCSVDataset
    from nyc_airbnb.pipelines.data_processing import create_pipeline

    write, error_type, expected = BAD_RAW_FILES[case]
    raw_file = tmp_path / "raw.csv"
    write(raw_sample.head(0) if case in HEADER_ONLY else raw_sample.copy(), raw_file)
    out = tmp_path / "run"
    catalog = make_catalog({"price_reference": price_reference, **param_inputs(params)})
    catalog["raw_listings"] = CheckedCSVDataset(filepath=str(raw_file), name="raw_listings")
    for name in ("validated_raw_listings", "clean_listings", "model_input_listings",
                 "train_listings", "test_listings"):
        catalog[name] = ParquetDataset(filepath=str(out / f"{name}.parquet"))

    with pytest.raises(Exception) as info:
        SequentialRunner().run(create_pipeline(), catalog)
    error = info.value
    if error_type == "CSVLayoutError":  # raised by the dataset: the catalog names it
        assert type(error) is DatasetError
        assert str(error).startswith("raw_listings: Data validation failed for 'raw_listings'")
        error = error.__cause__
    assert type(error).__name__ == error_type
    assert isinstance(error, DataValidationError) and error.retryable is False
    (failure,) = error.failures
    assert expected.format(file=raw_file) in failure.describe()
    assert str(error).startswith("Data validation failed for 'raw_listings' (1 problem(s)):")
    assert not out.exists()  # not even the validated raw file


def test_an_unknown_extra_column_in_the_training_file_is_accepted_and_unused(
    raw_sample, params
):
    """Scraped exports gain columns over time: training reads the contract's columns only, and
    the model's signature is the contract's (nyc_airbnb.model_contract), so an extra column
    cannot change what scoring requires. (A scoring batch with one is rejected: see
    test_nyc_scoring.)"""
    from nyc_airbnb.model_contract import model_signature
    from nyc_airbnb.pipelines.data_processing.nodes import validate_raw_listings

    validated = validate_raw_listings(raw_sample.assign(colour="blue"),
                                      params["listing_schema"], params["data_quality"])
    assert len(validated) == len(raw_sample)
    assert "colour" not in model_signature().inputs.input_names()


def test_committed_raw_file_has_a_plausible_median_price(raw_full, params):
    bounds = params["data_quality"]["price_median"]
    assert bounds["min"] <= raw_full["price"].median() <= bounds["max"]
