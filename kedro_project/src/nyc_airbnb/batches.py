"""Realistic new scoring batches of NYC listings, for the demo, tests and benchmarks.

A batch is rows resampled (with replacement) from the shipped 2019 listings, with fresh ids and
small realistic jitter, optionally shifted by a documented amount of drift, and written as CSV
part files under ``<root>/incoming/ds=<YYYY-MM-DD>/`` (a local directory or an ``s3://`` URL).

Jitter (every batch, whatever ``drift``):

- latitude / longitude: + uniform(-0.001, 0.001) degrees (about +-100 m), rounded to 5 decimals,
  kept within the NYC bounds of the cleaning parameters (``NYC_LATITUDE``, ``NYC_LONGITUDE``);
- minimum_nights: +-1 night for 10% of the rows, at least 1;
- number_of_reviews: scaled by a log-normal factor (sigma 0.1), rounded; 0 stays 0 and a positive
  count stays positive; reviews_per_month takes the same factor (2 decimals, at least 0.01);
- last_review: moved by up to +-15 days, never after the source's latest review (ISO date);
  last_review and reviews_per_month are null exactly where number_of_reviews == 0;
- availability_365: +-5 days for rows with a non-zero availability, within 0..365;
- price (``with_price=True`` only): scaled by a log-normal factor (sigma 0.05), rounded;
- the other columns (name, host, neighbourhood, room type, host listings count) are copied.

Drift (``drift`` in [0, 1]; each effect is linear in ``drift``, none at 0):

- mix: rows that are an 'Entire home/apt' in Manhattan are sampled with weight
  ``1 + DRIFT_ENTIRE_HOME_MANHATTAN_WEIGHT * drift`` (others 1): their share p becomes
  ``(1 + 3 d) p / (1 + 3 d p)``, from about 27% of the shipped file to about 59% at drift 1;
- minimum_nights: multiplied by ``1 + DRIFT_MINIMUM_NIGHTS_SCALE * drift`` (doubled at drift 1);
- availability_365: pulled towards 365 by ``DRIFT_AVAILABILITY_PULL * drift`` of the way
  (``a + 0.5 d (365 - a)``: the mean goes from about 113 to about 239 days at drift 1);
- latitude: shifted north by ``DRIFT_LATITUDE_SHIFT * drift`` degrees (0.01 degree, about 1.1 km).

``batch_profile`` computes the statistic each effect moves. Everything is deterministic for a
given seed. Pure pandas / numpy (+ fsspec to write): no MLflow, Airflow or Kedro imports.

CLI::

    python -m nyc_airbnb.batches --root s3://mlops --date 2026-11-27 --rows 5000 --files 2

S3 is reached as the Kedro catalog reaches it: s3fs / botocore read the standard environment
(``AWS_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``), which ``python -m kedro_mlops.local.stack env`` prints for the local stack.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import numbers
import os
import re
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from fsspec.implementations.local import LocalFileSystem

from nyc_airbnb.validation import ID_COLUMN, LISTING_COLUMNS, PRICE_COLUMN

SOURCE_RELATIVE_PATH = Path("data") / "01_raw" / "nyc_airbnb_2019_sample.csv"
# kedro_project/src/nyc_airbnb/batches.py -> kedro_project/
PROJECT_PATH = Path(__file__).resolve().parents[2]
PROJECT_PATH_ENV = "KEDRO_PROJECT_PATH"

# NYC bounds: the `cleaning` latitude / longitude of conf/base/parameters_data_processing.yml.
NYC_LATITUDE = (40.5, 41.2)
NYC_LONGITUDE = (-74.25, -73.5)

# Jitter (see the module docstring).
COORDINATE_JITTER = 1e-3
MINIMUM_NIGHTS_JITTER_SHARE = 0.10
REVIEWS_SIGMA = 0.10
LAST_REVIEW_JITTER_DAYS = 15
AVAILABILITY_JITTER_DAYS = 5
PRICE_SIGMA = 0.05

# Drift effects at drift = 1 (each scales linearly with drift).
DRIFT_ENTIRE_HOME_MANHATTAN_WEIGHT = 3.0
DRIFT_MINIMUM_NIGHTS_SCALE = 1.0
DRIFT_AVAILABILITY_PULL = 0.5
DRIFT_LATITUDE_SHIFT = 0.01

# Default ids: random, unique, above every source id, exact in a float64 (JSON, JS readers).
DEFAULT_ID_LOW = 10**9
DEFAULT_ID_HIGH = 2**53

INCOMING_DIR = "incoming"
PART_TEMPLATE = "part-{:05d}.csv"
_PART_RE = re.compile(r"^part-(\d{5})\.csv$")
_DS_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT64_MAX = int(np.iinfo(np.int64).max)


# --------------------------------------------------------------------------- source


def default_source_path() -> Path:
    """The shipped listings CSV: next to this package's project, else under $KEDRO_PROJECT_PATH."""
    candidates = [PROJECT_PATH / SOURCE_RELATIVE_PATH]
    if os.environ.get(PROJECT_PATH_ENV):
        candidates.append(Path(os.environ[PROJECT_PATH_ENV]) / SOURCE_RELATIVE_PATH)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"listings CSV not found (tried {tried}); pass path= or set {PROJECT_PATH_ENV}"
    )


def load_source(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read the listings the batches are resampled from (default: the shipped 2019 sample).

    ``path`` may be a local path or an fsspec URL.
    """
    return pd.read_csv(default_source_path() if path is None else path, encoding="utf-8")


# --------------------------------------------------------------------------- generation


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_drift(drift: Any) -> float:
    try:
        value = float(drift)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(drift, bool) or not 0.0 <= value <= 1.0:  # NaN fails the comparison too
        raise ValueError(f"drift must be a number in [0, 1], got {drift!r}")
    return value


def _output_columns(with_price: bool) -> list[str]:
    columns = list(LISTING_COLUMNS)
    if with_price:  # where the raw training file has it
        columns.insert(columns.index("room_type") + 1, PRICE_COLUMN)
    return columns


def _fresh_ids(rng: np.random.Generator, n_rows: int, low: int) -> np.ndarray:
    ids = rng.integers(low, DEFAULT_ID_HIGH, size=n_rows, dtype=np.int64)
    while True:
        _, first = np.unique(ids, return_index=True)
        if len(first) == n_rows:
            return ids
        repeated = np.ones(n_rows, dtype=bool)
        repeated[first] = False
        ids[repeated] = rng.integers(low, DEFAULT_ID_HIGH, size=int(repeated.sum()), dtype=np.int64)


def generate_batch(
    source: pd.DataFrame,
    n_rows: int,
    *,
    seed: int,
    drift: float = 0.0,
    id_start: int | None = None,
    with_price: bool = False,
) -> pd.DataFrame:
    """``n_rows`` new listings resampled from ``source``, jittered and drifted (module docstring).

    Args:
        source: listings with at least the raw columns (``load_source()``), and ``price`` when
            ``with_price``.
        n_rows: rows to generate (>= 1).
        seed: the same seed (and arguments) gives the same batch.
        drift: 0 keeps the source's distributions; 1 applies every documented drift effect fully.
        id_start: ids ``id_start, id_start + 1, ...``; by default random unique ids in
            [1e9, 2**53), above every source id.
        with_price: add the ``price`` column (after ``room_type``, as in the raw file). Scoring
            batches have no target, so it is off by default.

    Returns:
        The columns of ``nyc_airbnb.validation.LISTING_COLUMNS`` in that order (plus ``price``),
        with their dtypes, index 0..n_rows-1.

    Raises:
        ValueError: naming the argument (n_rows, seed, drift, id_start, source) that is invalid.
    """
    n_rows = _check_int("n_rows", n_rows, 1)
    seed = _check_int("seed", seed, 0)
    drift = _check_drift(drift)
    if id_start is not None:
        id_start = _check_int("id_start", id_start, 0)
        if id_start + n_rows - 1 > _INT64_MAX:
            raise ValueError(f"id_start {id_start} + n_rows {n_rows} overflows int64")
    columns = _output_columns(with_price)
    missing = [c for c in columns if c not in source.columns]
    if missing:
        raise ValueError(f"source is missing column(s) {missing}")
    if len(source) == 0:
        raise ValueError("source has no rows")

    rng = np.random.default_rng(seed)

    # --- which source rows (the mix drift weights Manhattan entire homes up)
    shifted = (source["neighbourhood_group"] == "Manhattan").to_numpy() & (
        source["room_type"] == "Entire home/apt"
    ).to_numpy()
    weights = np.where(shifted, 1.0 + DRIFT_ENTIRE_HOME_MANHATTAN_WEIGHT * drift, 1.0)
    rows = rng.choice(len(source), size=n_rows, replace=True, p=weights / weights.sum())
    out = source.iloc[rows][columns].reset_index(drop=True)

    # --- ids
    if id_start is not None:
        out[ID_COLUMN] = np.arange(id_start, id_start + n_rows, dtype=np.int64)
    else:
        source_max = pd.to_numeric(source[ID_COLUMN], errors="coerce").max()
        low = DEFAULT_ID_LOW if pd.isna(source_max) else max(DEFAULT_ID_LOW, int(source_max) + 1)
        out[ID_COLUMN] = _fresh_ids(rng, n_rows, low)

    # --- coordinates
    lat = out["latitude"].to_numpy(dtype=float)
    lon = out["longitude"].to_numpy(dtype=float)
    lat = lat + rng.uniform(-COORDINATE_JITTER, COORDINATE_JITTER, n_rows)
    lon = lon + rng.uniform(-COORDINATE_JITTER, COORDINATE_JITTER, n_rows)
    lat = lat + DRIFT_LATITUDE_SHIFT * drift
    out["latitude"] = np.clip(lat, *NYC_LATITUDE).round(5)
    out["longitude"] = np.clip(lon, *NYC_LONGITUDE).round(5)

    # --- minimum nights
    nights = out["minimum_nights"].to_numpy(dtype=np.int64)
    step = rng.choice(
        np.array([-1, 0, 1]),
        size=n_rows,
        p=[MINIMUM_NIGHTS_JITTER_SHARE / 2, 1 - MINIMUM_NIGHTS_JITTER_SHARE,
           MINIMUM_NIGHTS_JITTER_SHARE / 2],
    )
    nights = np.maximum(nights + step, 1)
    nights = np.rint(nights * (1.0 + DRIFT_MINIMUM_NIGHTS_SCALE * drift)).astype(np.int64)
    out["minimum_nights"] = np.maximum(nights, 1)

    # --- reviews: count, per month, last review (null exactly where there is no review)
    reviews = out["number_of_reviews"].to_numpy(dtype=np.int64)
    factor = rng.lognormal(0.0, REVIEWS_SIGMA, n_rows)
    has_reviews = reviews > 0
    reviews = np.where(has_reviews, np.maximum(np.rint(reviews * factor), 1), 0).astype(np.int64)
    out["number_of_reviews"] = reviews
    per_month = out["reviews_per_month"].to_numpy(dtype=float) * factor
    per_month = np.maximum(per_month.round(2), 0.01)
    out["reviews_per_month"] = np.where(has_reviews, per_month, np.nan)

    source_days = (
        pd.to_datetime(source["last_review"], errors="coerce", format="ISO8601")
        .to_numpy(dtype="datetime64[ns]")
        .astype("datetime64[D]")
    )
    shift = rng.integers(-LAST_REVIEW_JITTER_DAYS, LAST_REVIEW_JITTER_DAYS + 1, n_rows)
    last_days = source_days[rows] + shift.astype("timedelta64[D]")
    if not np.isnat(source_days).all():
        # not after the source's latest review (NaT, i.e. no review, stays NaT)
        last_days = np.minimum(last_days, np.nanmax(source_days))
    keep = has_reviews & ~np.isnat(last_days)
    text = np.where(keep, np.datetime_as_string(last_days, unit="D"), None)
    out["last_review"] = pd.Series(text, dtype="str")

    # --- availability
    available = out["availability_365"].to_numpy(dtype=np.int64)
    step = rng.integers(-AVAILABILITY_JITTER_DAYS, AVAILABILITY_JITTER_DAYS + 1, n_rows)
    available = np.where(available > 0, np.clip(available + step, 0, 365), 0).astype(float)
    available = available + DRIFT_AVAILABILITY_PULL * drift * (365 - available)
    out["availability_365"] = np.clip(np.rint(available), 0, 365).astype(np.int64)

    # --- price
    if with_price:
        price = out[PRICE_COLUMN].to_numpy(dtype=float) * rng.lognormal(0.0, PRICE_SIGMA, n_rows)
        out[PRICE_COLUMN] = np.maximum(np.rint(price), 0).astype(np.int64)

    dtypes = {name: spec.dtype for name, spec in LISTING_COLUMNS.items()}
    return out.astype(dtypes)


def batch_profile(df: pd.DataFrame) -> dict[str, float]:
    """The statistics the drift effects move (see the module docstring), for tests and demos."""
    return {
        "share_entire_home_manhattan": float(
            ((df["neighbourhood_group"] == "Manhattan") & (df["room_type"] == "Entire home/apt"))
            .mean()
        ),
        "mean_minimum_nights": float(df["minimum_nights"].mean()),
        "median_minimum_nights": float(df["minimum_nights"].median()),
        "mean_availability_365": float(df["availability_365"].mean()),
        "mean_latitude": float(df["latitude"].mean()),
    }


# --------------------------------------------------------------------------- writing


def check_ds(ds: str) -> str:
    """``ds`` if it is a calendar date written YYYY-MM-DD, else ValueError."""
    if not isinstance(ds, str) or not _DS_RE.fullmatch(ds):
        raise ValueError(f"ds must be a date written YYYY-MM-DD, got {ds!r}")
    try:
        dt.date.fromisoformat(ds)
    except ValueError:
        raise ValueError(
            f"ds must be a date written YYYY-MM-DD, got {ds!r} (no such date)"
        ) from None
    return ds


def partition_url(root: str, ds: str) -> str:
    """``<root>/incoming/ds=<ds>``: where the part files of the batch for ``ds`` go."""
    return f"{str(root).rstrip('/')}/{INCOMING_DIR}/ds={check_ds(ds)}"


def write_batch(
    df: pd.DataFrame,
    root: str,
    ds: str,
    *,
    n_files: int = 1,
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> list[str]:
    """Write ``df`` as UTF-8 CSV files ``part-00000.csv``... under ``<root>/incoming/ds=<ds>/``.

    Rows are split in ``n_files`` contiguous parts of nearly equal size (header in each). Each
    part is written to ``_tmp-<part>-<random>.csv`` in the same prefix, then moved to its final
    name, so a reader that skips names starting with ``_`` or ``.`` never sees a partial file.

    Writing is idempotent: part files already in the partition are replaced, and parts beyond
    ``n_files`` left by an earlier, larger write are deleted after the new ones are in place.
    ``overwrite=False`` refuses (FileExistsError) when the partition already has part files.

    Args:
        root: a local directory or an fsspec URL (``s3://bucket/prefix``).
        ds: the batch date, YYYY-MM-DD.
        storage_options: passed to fsspec (e.g. ``{"endpoint_url": ...}``); by default s3fs
            reads the standard AWS environment variables.

    Returns:
        The written files: URLs spelled like ``root`` when it is one, else absolute local paths.
    """
    if isinstance(n_files, bool) or not isinstance(n_files, numbers.Integral) or n_files < 1:
        raise ValueError(f"n_files must be an integer >= 1, got {n_files!r}")
    if n_files > max(len(df), 1):
        raise ValueError(f"n_files ({n_files}) must not exceed the number of rows ({len(df)})")
    target = partition_url(root, ds)
    fs, directory = fsspec.core.url_to_fs(target, **(storage_options or {}))
    directory = directory.rstrip("/")
    is_url = "://" in str(root)

    if isinstance(fs, LocalFileSystem):
        fs.makedirs(directory, exist_ok=True)
    existing = _existing_parts(fs, directory)
    if existing and not overwrite:
        raise FileExistsError(
            f"{target} already holds {len(existing)} part file(s); pass overwrite=True to replace"
        )

    written = []
    for index, bounds in enumerate(np.array_split(np.arange(len(df)), n_files)):
        part = df.iloc[bounds[0]: bounds[-1] + 1] if len(bounds) else df.iloc[0:0]
        data = part.to_csv(index=False, lineterminator="\n").encode("utf-8")
        name = PART_TEMPLATE.format(index)
        final = f"{directory}/{name}"
        tmp = f"{directory}/_tmp-{name[:-4]}-{uuid.uuid4().hex}.csv"
        try:
            fs.pipe_file(tmp, data)
            fs.mv(tmp, final)
        except BaseException:
            _remove_quietly(fs, tmp)
            raise
        written.append(f"{target}/{name}" if is_url else final)

    stale = [path for index, path in existing if index >= n_files]
    if stale:
        fs.rm(stale)
    return written


def _existing_parts(fs: fsspec.AbstractFileSystem, directory: str) -> list[tuple[int, str]]:
    try:
        paths = fs.ls(directory, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    except TypeError:  # filesystems without the refresh keyword
        paths = fs.ls(directory, detail=False)
    parts = []
    for path in paths:
        match = _PART_RE.match(path.rstrip("/").rsplit("/", 1)[-1])
        if match:
            parts.append((int(match.group(1)), path))
    return sorted(parts)


def _remove_quietly(fs: fsspec.AbstractFileSystem, path: str) -> None:
    # best effort: the write error is the one to report (readers skip `_` names anyway)
    with contextlib.suppress(Exception):
        if fs.exists(path):
            fs.rm(path)


# --------------------------------------------------------------------------- CLI


def date_seed(seed: int, ds: str) -> int:
    """The seed of the batch for ``ds`` in a CLI run with ``seed``: depends on both only, so a
    date's batch is the same whichever other dates the run writes."""
    ordinal = dt.date.fromisoformat(check_ds(ds)).toordinal()
    return int(np.random.SeedSequence([seed, ordinal]).generate_state(1, dtype=np.uint32)[0])


def _s3_endpoint() -> str:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "FSSPEC_S3_ENDPOINT_URL"):
        if os.environ.get(name):
            return f"{os.environ[name]} ({name})"
    return "AWS default (no AWS_ENDPOINT_URL set)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nyc_airbnb.batches",
        description="Write new scoring batches of NYC listings as CSV part files under "
        "<root>/incoming/ds=<date>/.",
    )
    parser.add_argument("--root", required=True,
                        help="local directory or s3://bucket[/prefix] (S3: the AWS_* environment)")
    parser.add_argument("--date", dest="dates", action="append", required=True,
                        metavar="YYYY-MM-DD",
                        help="batch date (ds); repeat for several batches")
    parser.add_argument("--rows", type=int, default=1000, help="rows per batch (default 1000)")
    parser.add_argument("--files", type=int, default=1, help="part files per batch (default 1)")
    parser.add_argument("--seed", type=int, default=0,
                        help="each date's batch is seeded by (seed, date) (default 0)")
    parser.add_argument("--drift", type=float, default=0.0, help="0..1 (default 0: no drift)")
    parser.add_argument("--id-start", type=int, default=None,
                        help="consecutive ids from here, the k-th date from id_start + k * rows "
                        "(default: random unique ids)")
    parser.add_argument("--with-price", action="store_true", help="include the price column")
    parser.add_argument("--source", default=None,
                        help="listings CSV to resample (default: the shipped one)")
    parser.add_argument("--no-overwrite", action="store_true",
                        help="fail if a date's partition already has part files")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    where = "arguments"
    try:
        for ds in args.dates:
            check_ds(ds)
        where = "source"
        source = load_source(args.source)
        if str(args.root).startswith(("s3://", "s3a://")):
            print(f"S3 endpoint: {_s3_endpoint()}")
        for k, ds in enumerate(args.dates):
            where = f"ds={ds}"
            id_start = None if args.id_start is None else args.id_start + k * args.rows
            start = time.perf_counter()
            df = generate_batch(source, args.rows, seed=date_seed(args.seed, ds), drift=args.drift,
                                id_start=id_start, with_price=args.with_price)
            where = partition_url(args.root, ds)
            urls = write_batch(df, args.root, ds, n_files=args.files,
                               overwrite=not args.no_overwrite)
            seconds = time.perf_counter() - start
            print(f"ds={ds}: {len(df)} rows (drift {args.drift:g}) in {len(urls)} file(s), "
                  f"{seconds:.2f}s")
            for url in urls:
                print(f"  {url}")
    except (ValueError, OSError) as err:  # OSError: e.g. no such bucket, access denied
        print(f"error ({where}): {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
