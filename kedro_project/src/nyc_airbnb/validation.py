"""Data contracts for listing rows: pandera schemas, a readable validation error, the price drift check.

Pure pandas / pandera / numpy: no I/O, no MLflow. Used by the data_processing pipeline (raw and
cleaned training data), by the inference pipeline packaged in the MLflow model, and by scoring, so
that every entry point checks its input in the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

ID_COLUMN = "id"
PRICE_COLUMN = "price"
PREDICTION_COLUMN = "predicted_price"

# Raw schema of a listing, in file order, without the target. `model_input` marks the columns the
# model reads (the MLflow signature); the others are only required in the raw training file.
# dtype is the pandas dtype the column is coerced to ("str" is pandas' string dtype).


@dataclass(frozen=True)
class ColumnSpec:
    dtype: str
    nullable: bool
    model_input: bool


LISTING_COLUMNS: dict[str, ColumnSpec] = {
    "id": ColumnSpec("int64", nullable=False, model_input=True),
    "name": ColumnSpec("str", nullable=True, model_input=True),
    "host_id": ColumnSpec("int64", nullable=False, model_input=False),
    "host_name": ColumnSpec("str", nullable=True, model_input=False),
    "neighbourhood_group": ColumnSpec("str", nullable=False, model_input=True),
    "neighbourhood": ColumnSpec("str", nullable=False, model_input=False),
    "latitude": ColumnSpec("float64", nullable=False, model_input=True),
    "longitude": ColumnSpec("float64", nullable=False, model_input=True),
    "room_type": ColumnSpec("str", nullable=False, model_input=True),
    "minimum_nights": ColumnSpec("int64", nullable=False, model_input=True),
    "number_of_reviews": ColumnSpec("int64", nullable=False, model_input=True),
    "last_review": ColumnSpec("str", nullable=True, model_input=True),
    "reviews_per_month": ColumnSpec("float64", nullable=True, model_input=True),
    "calculated_host_listings_count": ColumnSpec("int64", nullable=False, model_input=True),
    "availability_365": ColumnSpec("int64", nullable=False, model_input=True),
}
MODEL_INPUT_COLUMNS: list[str] = [c for c, s in LISTING_COLUMNS.items() if s.model_input]


@dataclass(frozen=True)
class ValidationFailure:
    """One failed rule: which column (None for the whole table), which check, on how many rows,
    and in which files (when the data came from files)."""

    column: str | None
    check: str
    n_failures: int = 0
    examples: tuple[Any, ...] = field(default_factory=tuple)
    files: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        where = f"column '{self.column}'" if self.column else "table"
        text = f"{where}: {self.check}"
        if self.n_failures:
            text += f" ({self.n_failures} failing value(s)"
            if self.examples:
                text += ", e.g. " + ", ".join(repr(e) for e in self.examples)
            text += ")"
        if self.files:
            text += " in " + name_files(self.files)
        return text


MAX_FILES_NAMED = 3


def name_files(files: Iterable[str]) -> str:
    """``file a, b and 2 more``: the first few files of a list, for a one-line message."""
    files = list(files)
    named = ", ".join(files[:MAX_FILES_NAMED])
    more = len(files) - MAX_FILES_NAMED
    return f"file(s) {named}" + (f" and {more} more" if more > 0 else "")


class DataValidationError(ValueError):
    """Input data breaks the data contract. The message lists every failing column and rule."""

    retryable = False  # the same data fails the same way on every try

    def __init__(
        self,
        dataset: str,
        failures: Iterable[ValidationFailure],
        *,
        rows_failed: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ):
        self.dataset = dataset
        self.failures = list(failures)
        #: how many rows broke at least one rule (None when the table as a whole is wrong)
        self.rows_failed = rows_failed
        #: figures worth recording where the failure is reported (e.g. on the MLflow run)
        self.metrics = dict(metrics or {})
        lines = "\n".join(f"  - {f.describe()}" for f in self.failures)
        super().__init__(
            f"Data validation failed for '{dataset}' ({len(self.failures)} problem(s)):\n{lines}"
        )


# --------------------------------------------------------------------------- schemas


def _is_iso_date(series: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    return series.isna() | parsed.notna()


def _bounds_check(
    schema_params: Mapping[str, Any], name: str, default: tuple[float, float], what: str
) -> pa.Check:
    """``in_range`` on the ``schema_params[name]`` bounds ({min, max}), named for the reader; the
    plain ``default`` range where the parameters set none (models logged before they existed)."""
    bounds = schema_params.get(name)
    if not bounds:
        return pa.Check.in_range(*default)
    low, high = bounds["min"], bounds["max"]
    return pa.Check.in_range(low, high, error=f"{what}: between {low:g} and {high:g}")


def _column_checks(name: str, schema_params: Mapping[str, Any]) -> list[pa.Check]:
    max_nights = schema_params.get("max_minimum_nights")
    checks = {
        "neighbourhood_group": [pa.Check.isin(list(schema_params["boroughs"]))],
        "room_type": [pa.Check.isin(list(schema_params["room_types"]))],
        "latitude": [
            _bounds_check(schema_params, "latitude", (-90.0, 90.0), "in New York City")
        ],
        "longitude": [
            _bounds_check(schema_params, "longitude", (-180.0, 180.0), "in New York City")
        ],
        "minimum_nights": [pa.Check.ge(1)]
        + ([pa.Check.le(max_nights, error=f"plausible: at most {max_nights:g} nights")]
           if max_nights else []),
        "number_of_reviews": [pa.Check.ge(0)],
        "reviews_per_month": [pa.Check.ge(0)],
        "calculated_host_listings_count": [pa.Check.ge(0)],
        "availability_365": [pa.Check.in_range(0, 365)],
        "last_review": [pa.Check(_is_iso_date, error="is a date (YYYY-MM-DD)")],
    }
    return checks.get(name, [])


def _finite_check() -> pa.Check:
    # "inf" in a CSV parses as a float that passes ge(0); the model cannot use it (scikit-learn
    # rejects the whole input), so the contract says which column holds it
    return pa.Check(lambda s: np.isfinite(s.astype("float64")),
                    error="a finite number (not inf or -inf)")


def _price_checks(schema_params: Mapping[str, Any]) -> list[pa.Check]:
    checks = [_finite_check(), pa.Check.ge(0)]
    max_price = schema_params.get("max_price")
    if max_price:
        checks.append(pa.Check.le(
            max_price, error=f"plausible: at most {max_price:g} US dollars a night"))
    return checks


def _min_rows_check(min_rows: int) -> pa.Check:
    return pa.Check(lambda df: len(df) >= min_rows, error=f"has at least {min_rows} row(s)")


def listing_schema(
    schema_params: Mapping[str, Any],
    *,
    price: str = "required",
    columns: Iterable[str] | None = None,
    min_rows: int = 1,
) -> pa.DataFrameSchema:
    """Schema of raw listing rows (as read from CSV).

    Args:
        schema_params: ``params:listing_schema``: allowed ``boroughs`` and ``room_types``; and,
            when set, the New York City box (``latitude``, ``longitude``: {min, max}) and
            ``max_minimum_nights`` and ``max_price`` (values beyond are wrong data, not
            listings). Every float column must be finite.
        price: "required" (training data: present, numeric, no nulls, >= 0) or "optional"
            (scoring / inference input: may be absent or null).
        columns: the listing columns to require; all raw columns by default.
        min_rows: minimum number of rows.
    """
    if price not in ("required", "optional"):
        raise ValueError(f"price must be 'required' or 'optional', got {price!r}")
    wanted = list(LISTING_COLUMNS) if columns is None else list(columns)
    schema_columns = {
        name: pa.Column(
            LISTING_COLUMNS[name].dtype,
            checks=([_finite_check()] if LISTING_COLUMNS[name].dtype == "float64" else [])
            + _column_checks(name, schema_params),
            nullable=LISTING_COLUMNS[name].nullable,
            coerce=True,
        )
        for name in wanted
    }
    schema_columns[PRICE_COLUMN] = pa.Column(
        "float64",
        checks=_price_checks(schema_params),
        nullable=price == "optional",
        required=price == "required",
        coerce=True,
    )
    return pa.DataFrameSchema(
        schema_columns, checks=[_min_rows_check(min_rows)], strict=False, name="listings"
    )


def clean_listing_schema(
    schema_params: Mapping[str, Any], cleaning_params: Mapping[str, Any], min_rows: int
) -> pa.DataFrameSchema:
    """Schema of the cleaned training table: raw contract plus the cleaning guarantees."""
    base = listing_schema(schema_params, price="required", min_rows=min_rows)
    lat, lon = cleaning_params["latitude"], cleaning_params["longitude"]
    return base.update_columns(
        {
            ID_COLUMN: {"unique": True},
            PRICE_COLUMN: {
                "checks": [
                    pa.Check.in_range(cleaning_params["price_min"], cleaning_params["price_max"])
                ]
            },
            "latitude": {"checks": [pa.Check.in_range(lat["min"], lat["max"])]},
            "longitude": {"checks": [pa.Check.in_range(lon["min"], lon["max"])]},
            "last_review": {"dtype": "datetime64[ns]", "checks": []},
        }
    )


# --------------------------------------------------------------------------- validation


NOT_NULLABLE = "null values are not allowed"


def _summarise(err: SchemaErrors, n_rows: int, max_examples: int = 3) -> list[ValidationFailure]:
    cases = err.failure_cases.copy()
    check = cases["check"].astype(str)
    table_level = cases["schema_context"].astype(str) == "DataFrameSchema"
    # a missing column is reported by the table-level check "column_in_dataframe"
    missing = check == "column_in_dataframe"
    cases["column"] = cases["column"].astype(object).where(~table_level, None)
    cases.loc[missing, "column"] = cases.loc[missing, "failure_case"]
    # when a column cannot be coerced, its other failures are consequences: keep only the coercion
    is_coercion = check.str.startswith("coerce_dtype")
    coerce_failed = set(cases.loc[is_coercion, "column"])
    cases = cases[~(cases["column"].isin(coerce_failed) & ~is_coercion)]

    failures = []
    for (column, check_name), group in cases.groupby(
        [cases["column"].fillna(""), cases["check"].astype(str)], sort=False
    ):
        if check_name == "column_in_dataframe":
            failures.append(ValidationFailure(column, "required column is missing"))
            continue
        if column == "":
            failures.append(ValidationFailure(None, f"{check_name} (got {n_rows})"))
            continue
        values = group["failure_case"]
        if check_name.startswith("coerce_dtype("):
            # an int64 column cannot hold a null: pandera reports an empty field as a failed
            # conversion, but it is a missing value
            nulls = values.isna()
            if nulls.any():
                failures.append(ValidationFailure(column, NOT_NULLABLE, int(nulls.sum())))
                if nulls.all():
                    continue
                values = values[~nulls]
            text = f"wrong dtype, cannot convert to {check_name[13:-1].strip(chr(39))}"
        elif check_name.startswith("dtype("):
            text = f"wrong dtype, expected {check_name[6:-1].strip(chr(39))}"
        else:
            text = {
                "not_nullable": NOT_NULLABLE,
                "field_uniqueness": "values must be unique",
            }.get(check_name, check_name)
        examples = () if check_name == "not_nullable" else tuple(
            _plain(v) for v in values.drop_duplicates().head(max_examples))
        failures.append(ValidationFailure(column, text, len(values), examples))
    return failures


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def validate(df: pd.DataFrame, schema: pa.DataFrameSchema, dataset: str) -> pd.DataFrame:
    """Validate ``df`` lazily (all rules) and return it coerced to the schema dtypes.

    Raises:
        DataValidationError: listing each failing column and rule.
    """
    fractions = _fractional_integers(df, schema)
    try:
        validated = schema.validate(df, lazy=True)
    except SchemaErrors as err:
        index = err.failure_cases["index"].dropna()
        failures = _summarise(err, len(df))
        seen = {f.column for f in fractions}
        raise DataValidationError(
            dataset, fractions + [f for f in failures if f.column not in seen],
            rows_failed=int(index.nunique()),
        ) from None
    if fractions:
        raise DataValidationError(dataset, fractions)
    return validated


def _fractional_integers(
    df: pd.DataFrame, schema: pa.DataFrameSchema, max_examples: int = 3
) -> list[ValidationFailure]:
    """Integer columns read as floats with a fraction (an id 12345.5): pandera's coercion would
    cut the fraction off silently."""
    failures = []
    for name, column in schema.columns.items():
        if str(column.dtype) != "int64" or name not in df or df[name].dtype.kind != "f":
            continue
        values = df[name]
        bad = values[values.notna() & (values % 1 != 0)]
        if len(bad):
            examples = tuple(_plain(v) for v in bad.drop_duplicates().head(max_examples))
            failures.append(ValidationFailure(
                name, "wrong dtype, cannot convert to int64 (not a whole number)", len(bad),
                examples,
            ))
    return failures


def validate_model_input(
    listings: pd.DataFrame, schema_params: Mapping[str, Any], dataset: str = "model_input"
) -> pd.DataFrame:
    """Check rows to predict against the listing contract: the model columns, price optional.

    The same check runs in the MLflow model (first node of the inference pipeline) and in the
    scoring pipeline before the model is called.
    """
    schema = listing_schema(schema_params, price="optional", columns=MODEL_INPUT_COLUMNS)
    return validate(listings, schema, dataset=dataset)


# --------------------------------------------------------------------------- plausibility


def check_price_scale(prices: pd.Series, bounds: Mapping[str, float], dataset: str) -> float:
    """The median price, if it is a plausible nightly price in US dollars.

    Every price can be valid on its own while the column means something else: prices in cents
    are all 100 times too high, and the cleaning bounds would silently drop most rows.

    Raises:
        DataValidationError: naming the price column and the median rule.
    """
    median = float(prices.median())
    low, high = float(bounds["min"]), float(bounds["max"])
    if not low <= median <= high:
        hint = (" (prices in cents? divide them by 100)" if median > high
                else " (prices in another unit? give US dollars per night)")
        raise DataValidationError(
            dataset,
            [ValidationFailure(
                PRICE_COLUMN,
                f"median price {median:g} is not a plausible nightly price in US dollars "
                f"(price_median rule: between {low:g} and {high:g}){hint}",
            )],
        )
    return median


# --------------------------------------------------------------------------- drift


def log_price_histogram(prices: pd.Series, bin_edges: Iterable[float]) -> np.ndarray:
    """Share of log1p(price) in each bin; values beyond the outer edges count in the outer bins."""
    edges = np.asarray(list(bin_edges), dtype=float)
    values = np.clip(np.log1p(prices.to_numpy(dtype=float)), edges[0], edges[-1])
    counts, _ = np.histogram(values, bins=edges)
    total = counts.sum()
    if total == 0:
        return np.zeros(len(counts))
    return counts / total


def kl_divergence(p: Iterable[float], q: Iterable[float], epsilon: float = 1e-6) -> float:
    """KL(p || q) in nats, with ``epsilon`` smoothing so empty bins do not give infinity."""
    p_arr = np.asarray(list(p), dtype=float) + epsilon
    q_arr = np.asarray(list(q), dtype=float) + epsilon
    p_arr, q_arr = p_arr / p_arr.sum(), q_arr / q_arr.sum()
    return float(np.sum(p_arr * np.log(p_arr / q_arr)))


def check_price_drift(
    prices: pd.Series, reference: Mapping[str, Any], drift_params: Mapping[str, Any], dataset: str
) -> float:
    """KL divergence of the log-price histogram of ``prices`` from the committed reference.

    Returns:
        the divergence, if it is within ``drift_params["max_kl_divergence"]``.

    Raises:
        DataValidationError: naming the price column and the KL rule when the threshold is exceeded.
    """
    current = log_price_histogram(prices, reference["bin_edges"])
    kl = kl_divergence(current, reference["probabilities"], drift_params.get("epsilon", 1e-6))
    threshold = float(drift_params["max_kl_divergence"])
    if not np.isfinite(kl) or kl > threshold:
        raise DataValidationError(
            dataset,
            [
                ValidationFailure(
                    PRICE_COLUMN,
                    f"distribution drift: KL(log1p price || reference) = {kl:.4f} "
                    f"exceeds max_kl_divergence = {threshold}",
                )
            ],
        )
    return kl
