"""Nodes of the scoring pipeline: check a batch, score it in chunks, report on it.

Pure: batches arrive as iterables of DataFrame chunks (``nyc_airbnb.chunks.FrameChunks``) and the
model as a loaded object; reading, writing and MLflow are the catalog's business. Nothing is
scored before the whole batch has passed its checks, and scoring returns a lazy stream of chunks,
so memory holds one chunk at a time however large the batch (the check also keeps the listing ids,
12 bytes a row, to find an id delivered twice).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nyc_airbnb import drift
from nyc_airbnb.chunks import FrameChunks, RowProgress
from nyc_airbnb.validation import (
    ID_COLUMN,
    LISTING_COLUMNS,
    MODEL_INPUT_COLUMNS,
    PREDICTION_COLUMN,
    PRICE_COLUMN,
    DataValidationError,
    ValidationFailure,
    listing_schema,
    validate,
)

DATASET = "scoring_batch"
MAX_EXAMPLES = 3

log = logging.getLogger(__name__)


class MissingSignatureError(ValueError):
    """The model version cannot say what input it expects."""

    retryable = False


class _Failures:
    """Failures of many chunks, merged by (column, rule) with their counts added up and the
    files they were found in."""

    def __init__(self) -> None:
        self._merged: dict[tuple[str | None, str], ValidationFailure] = {}
        self.rows = 0

    def add(self, error: DataValidationError, source: str | None = None) -> None:
        self.rows += error.rows_failed or 0
        for failure in error.failures:
            key = (failure.column, failure.check)
            seen = self._merged.get(key) or ValidationFailure(failure.column, failure.check)
            examples = tuple(dict.fromkeys(seen.examples + failure.examples))[:MAX_EXAMPLES]
            files = tuple(dict.fromkeys(seen.files + ((source,) if source else ())))
            self._merged[key] = ValidationFailure(
                failure.column, failure.check, seen.n_failures + failure.n_failures, examples,
                files,
            )

    def __bool__(self) -> bool:
        return bool(self._merged)

    def list(self) -> list[ValidationFailure]:
        return list(self._merged.values())


class _Ids:
    """The listing ids of a batch and the file of each, to find ids delivered more than once.

    Holds 12 bytes per row (an int64 id, an int32 file number): the one thing about a batch that
    grows with it, as a duplicate can be anywhere in it.
    """

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._files: list[np.ndarray] = []
        self._sources: dict[str | None, int] = {}

    def add(self, ids: pd.Series, source: str | None) -> None:
        number = self._sources.setdefault(source, len(self._sources))
        self._ids.append(ids.to_numpy(dtype="int64"))
        self._files.append(np.full(len(ids), number, dtype="int32"))

    def duplicates(self) -> tuple[ValidationFailure, int] | None:
        """The failure naming the ids found more than once and their files, and how many rows
        carry such an id; None when every id is unique."""
        if not self._ids:
            return None
        ids, files = np.concatenate(self._ids), np.concatenate(self._files)
        order = np.argsort(ids, kind="stable")
        ids, files = ids[order], files[order]
        repeated = ids[1:] == ids[:-1]
        if not repeated.any():
            return None
        in_duplicate = np.zeros(len(ids), dtype=bool)
        in_duplicate[1:] |= repeated
        in_duplicate[:-1] |= repeated
        duplicated_ids = np.unique(ids[in_duplicate])
        names = {number: source for source, number in self._sources.items()}
        sources = tuple(names[n] for n in np.unique(files[in_duplicate]) if names[n])
        failure = ValidationFailure(
            ID_COLUMN,
            f"duplicate listing ids, {len(duplicated_ids)} id(s) on {int(in_duplicate.sum())} "
            "rows: scoring returns one prediction per listing id, so deliver each listing once "
            "(drop the repeated rows, or the file delivered twice)",
            len(duplicated_ids),
            tuple(int(i) for i in duplicated_ids[:MAX_EXAMPLES]),
            sources,
        )
        return failure, int(in_duplicate.sum())


def _check_columns(
    columns: Iterable[str], signature: Mapping[str, str], source: str | None
) -> list[ValidationFailure]:
    where = f" (file {source})" if source else ""
    allowed = set(LISTING_COLUMNS) | {PRICE_COLUMN} | set(signature)
    present = list(columns)
    missing = [c for c in signature if c not in present]
    extra = [c for c in present if c not in allowed]
    return [
        *(ValidationFailure(c, f"required by the model signature, missing{where}") for c in missing),
        *(
            ValidationFailure(c, f"unexpected column: neither in the model signature nor in the "
                                 f"listing schema{where}")
            for c in extra
        ),
    ]


def check_batch(
    batch: Iterable[pd.DataFrame], model_reference: Mapping[str, Any], schema_params: dict
) -> dict[str, Any]:
    """Check every chunk of the batch against the model's input signature and the listing
    contract, and profile it against the training data of that model version.

    Returns:
        ``rows``, ``files``, the ``model_version`` and signature ``inputs`` it was checked for
        and the batch ``profile`` (None when the model version has no training profile).

    Raises:
        DataValidationError: a missing or unexpected column, a value of the wrong type, a null
            in a required field or a value out of range (each named with its column, its rule,
            how many values fail over the whole batch and the files they are in), a listing id
            found more than once (in one file or across files: one prediction per listing id is
            the output contract), a file that is not UTF-8, not comma-separated or cut mid-row,
            or no rows. ``metrics`` carries ``batch.rows_in`` and ``batch.rows_rejected``.
    """
    signature = dict(model_reference["inputs"])
    if not signature:
        raise MissingSignatureError(
            f"Model {model_reference['name']} version {model_reference['version']} has no input "
            "signature: a batch cannot be checked against it. Register versions logged with a "
            "signature (the training pipeline sets one)."
        )
    schema = listing_schema(
        schema_params, price="optional", columns=[c for c in signature if c in LISTING_COLUMNS],
        min_rows=0,
    )
    reference = model_reference.get("profile")
    profile = drift.empty_profile_like(reference) if reference else None
    failures = _Failures()
    ids = _Ids()
    rows = 0
    progress = RowProgress(log, "check_batch (read)")
    for chunk in batch:
        progress.add(len(chunk))
        source = chunk.attrs.get("source")
        column_failures = _check_columns(chunk.columns, signature, source)
        if column_failures:  # the rest would only repeat it: stop at the first bad header
            raise DataValidationError(DATASET, column_failures, metrics={"batch.rows_in": rows})
        rows += len(chunk)
        try:
            validated = validate(chunk, schema, dataset=DATASET)
        except DataValidationError as error:
            failures.add(error, source)
            continue
        ids.add(validated[ID_COLUMN], source)
        if profile is not None:
            drift.add_chunk(profile, validated)
    progress.done()
    files = list(getattr(batch, "sources", []))
    if failures:
        raise DataValidationError(
            DATASET, failures.list(), rows_failed=failures.rows,
            metrics={"batch.rows_in": rows, "batch.rows_rejected": failures.rows},
        )
    duplicates = ids.duplicates()
    if duplicates:
        failure, duplicated_rows = duplicates
        raise DataValidationError(
            DATASET, [failure], rows_failed=duplicated_rows,
            metrics={"batch.rows_in": rows, "batch.rows_rejected": duplicated_rows},
        )
    if rows == 0:
        raise DataValidationError(
            DATASET,
            [ValidationFailure(None, f"the batch is empty: no data rows in {len(files)} file(s)")],
            metrics={"batch.rows_in": 0},
        )
    return {
        "rows": rows,
        "files": files,
        "model_version": str(model_reference["version"]),
        "inputs": list(signature),
        "profile": profile,
    }


def score_batch(
    batch: Iterable[pd.DataFrame],
    registered_model: Any,
    batch_check: Mapping[str, Any],
    scoring_run: Mapping[str, Any],
) -> FrameChunks:
    """Predict every row of a checked batch, lazily, chunk by chunk.

    ``registered_model`` is a ``nyc_airbnb.datasets.RegisteredModel`` (anything with ``predict``,
    ``name``, ``version``). Each output row carries the listing id, the prediction, the model
    name and version, and the MLflow run of this scoring (``scoring_run["run_id"]``).
    """
    if str(batch_check["model_version"]) != str(registered_model.version):
        raise ValueError(
            f"The batch was checked for model version {batch_check['model_version']} but version "
            f"{registered_model.version} was loaded: pin one version for the whole run "
            "(runtime param model_version)."
        )
    # the columns of the signature the batch was checked against, in its order
    inputs = list(batch_check.get("inputs") or MODEL_INPUT_COLUMNS)
    dtypes = {c: LISTING_COLUMNS[c].dtype for c in inputs if c in LISTING_COLUMNS}
    run_id = scoring_run.get("run_id")

    def output(ids, predictions) -> pd.DataFrame:
        return pd.DataFrame(
            {
                ID_COLUMN: np.asarray(ids, dtype="int64"),
                PREDICTION_COLUMN: np.asarray(predictions, dtype="float64"),
                "model_name": registered_model.name,
                "model_version": str(registered_model.version),
                "scoring_run_id": run_id,
            }
        )

    def score(chunk: pd.DataFrame) -> pd.DataFrame:
        # check_batch has validated every row of these files: only the types are restored here
        # (a second pandera pass cost a third of the scoring time; the model's own first node
        # still validates what it is given, so a file changed in between fails, unpublished)
        try:
            validated = chunk[inputs].astype(dtypes)
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(
                f"The batch changed after check_batch validated it ({err}): re-run the DAG run"
            ) from err
        predictions = pd.DataFrame(registered_model.predict(validated))
        if len(predictions) != len(validated) or not np.array_equal(
            predictions[ID_COLUMN].to_numpy(), validated[ID_COLUMN].to_numpy()
        ):
            raise ValueError("The model returned predictions that do not match the batch rows")
        return output(validated[ID_COLUMN], predictions[PREDICTION_COLUMN])

    def scored_chunks():
        produced = False
        progress = RowProgress(log, "score_batch (scored, handed to the writer)")
        # a header-only part file gives a chunk of 0 rows: the model refuses empty input (its
        # first node requires a row)
        for chunk in batch:
            if len(chunk):
                produced = True
                yield score(chunk)
                # after the yield: the consumer has written the chunk, so the line is work done
                progress.add(len(chunk))
        progress.done()
        if not produced:  # a fanned-out part without a file: an empty part, typed like the rest
            yield output([], [])

    return FrameChunks(scored_chunks, getattr(batch, "sources", []))


def publish_predictions(scored_parts: Iterable[pd.DataFrame]) -> FrameChunks:
    """The parts scored by parallel tasks as one table, streamed chunk by chunk (the catalog
    writes it as the day's single Parquet file); empty parts add nothing."""
    return FrameChunks(lambda: (chunk for chunk in scored_parts if len(chunk)),
                       getattr(scored_parts, "sources", []))


def _prediction_summary(predictions: np.ndarray) -> dict[str, float]:
    quantiles = np.quantile(predictions, [0.05, 0.5, 0.95]) if len(predictions) else [np.nan] * 3
    return {
        "mean": float(np.mean(predictions)) if len(predictions) else float("nan"),
        "std": float(np.std(predictions)) if len(predictions) else float("nan"),
        "p05": float(quantiles[0]),
        "p50": float(quantiles[1]),
        "p95": float(quantiles[2]),
    }


def report_scoring(
    scored: Iterable[pd.DataFrame],
    batch_check: Mapping[str, Any],
    model_reference: Mapping[str, Any],
    drift_params: Mapping[str, Any],
) -> tuple[dict[str, Any], Figure, str]:
    """Figures of the scoring run: rows in / scored / rejected, the prediction distribution and
    the drift of the batch against the model's training data (PSI per feature).

    Returns:
        metrics (kedro-mlflow format), the drift figure, the HTML drift report.
    """
    predictions = np.concatenate(
        [chunk[PREDICTION_COLUMN].to_numpy(dtype="float64") for chunk in scored]
        or [np.empty(0)]
    )
    values: dict[str, float] = {
        "batch.rows_in": float(batch_check["rows"]),
        "batch.rows_scored": float(len(predictions)),
        "batch.rows_rejected": float(batch_check["rows"] - len(predictions)),
        "batch.files": float(len(batch_check["files"])),
        "model.version": float(model_reference["version"]),
    }
    values.update({f"prediction.{k}": v for k, v in _prediction_summary(predictions).items()})
    upper = np.quantile(predictions, 0.99) if len(predictions) else 1.0
    histogram = np.histogram(np.clip(predictions, 0, upper), bins=40)
    reference, profile = model_reference.get("profile"), batch_check.get("profile")
    title = (f"Scoring with {model_reference['name']} v{model_reference['version']}: "
             f"{batch_check['rows']} rows")
    summary = {
        "model": f"{model_reference['name']} version {model_reference['version']} "
                 f"(alias {model_reference['alias']})",
        "rows in / scored": f"{batch_check['rows']} / {len(predictions)}",
        "files": ", ".join(batch_check["files"]),
        "prediction p05 / p50 / p95": "{p05:.1f} / {p50:.1f} / {p95:.1f}".format(
            **_prediction_summary(predictions)),
    }
    if reference and profile:
        table = drift.drift_table(profile, reference, float(drift_params["psi_warn"]),
                                  float(drift_params["psi_alert"]))
        values.update({f"drift.{k}": v for k, v in drift.drift_metrics(table).items()})
        figure = drift.drift_figure(profile, reference, table, histogram)
    else:
        table = pd.DataFrame(columns=["feature", "kind", "psi", "status", "null_share_batch",
                                      "null_share_training"])
        summary["drift"] = "not computed: this model version logged no training data profile"
        figure = Figure(figsize=(5, 3), layout="constrained")
        ax = figure.add_subplot()
        ax.stairs(*histogram, fill=True, color="#66c2a5")
        ax.set_title("predicted price (batch)")
    html = drift.drift_html(table, figure, title, summary)
    metrics = {name: {"value": value, "step": 0} for name, value in values.items()}
    return metrics, figure, html
