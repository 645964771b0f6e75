"""Champion/challenger gate of a training DAG run (the ``evaluate_and_promote`` task).

After ``log_and_register_model`` registered a new version, the gate:

1. points the alias ``challenger`` at it;
2. scores it and the current ``champion`` on the same held-out data: this DAG run's test split
   (a Kedro dataset under the run's ``data_root``), restricted to the model's input schema, with
   the target column taken from that split. A champion whose own gate scored it on the same
   rows (same :func:`holdout_key`: unchanged data, same split) keeps the score recorded then,
   instead of being downloaded and scored again;
3. decides with :func:`decide` (a pure function): ``first_champion`` when there is no champion,
   ``forced`` when the trigger param ``force_promotion`` is true, ``promoted`` when the
   challenger beats the champion by more than ``min_improvement`` (relative), else
   ``kept_champion``;
4. records it: one sentence (:func:`summary`) as the version's description, a few tags on the
   version (:data:`VERSION_TAGS`: what the MLflow UI's Tags column can show), every detail as
   tags on the DAG run's MLflow run, and the sentence in the task log; moves ``champion`` when
   promoted.

Idempotent: the run's tags, then the version's, are written before any alias moves, and a retry
that finds the decision on the version re-applies it (same tags, same aliases) instead of
deciding again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_PREFIX = "promotion."
DECISION_TAG = "promotion.decision"
SUMMARY_TAG = "promotion.summary"
#: The trigger-form param (boolean, off by default) that promotes whatever the scores say.
FORCE_PARAM = "force_promotion"

#: metric name -> True when lower is better
METRICS: dict[str, bool] = {"mae": True, "rmse": True, "r2": False}

FIRST_CHAMPION = "first_champion"
FORCED = "forced"
PROMOTED = "promoted"
KEPT_CHAMPION = "kept_champion"
PROMOTING = frozenset({FIRST_CHAMPION, FORCED, PROMOTED})


#: what the held-out rows, as the model gets them, and the scoring settings hash to
HOLDOUT_KEY_TAG = "promotion.holdout_key"


def version_tag_keys(metric: str) -> tuple[str, ...]:
    """The gate's tags kept on a model version (the rest stay on the training run)."""
    return (DECISION_TAG, "promotion.metric", f"promotion.challenger_{metric}",
            f"promotion.champion_{metric}", "promotion.champion_version", HOLDOUT_KEY_TAG)


class PromotionConfigError(ValueError):
    """The ``promotion`` section of airflow.yml is wrong: fails the same way on every try."""

    retryable = False


@dataclass(frozen=True)
class PromotionConfig:
    """The ``promotion`` section of a training DAG in conf/<env>/airflow.yml."""

    holdout_dataset: str
    target: str
    metric: str = "mae"
    min_improvement: float = 0.0
    #: when set (with ``id_column``), the model's input is the raw rows of this dataset whose id
    #: is in the held-out split, exactly as scoring receives listings; else the held-out split's
    #: own columns, cast to the model signature's types
    raw_dataset: str | None = None
    id_column: str | None = None
    #: the model output's prediction column (DataFrame outputs); default: its only non-id column
    prediction_column: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PromotionConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise PromotionConfigError(
                f"Unknown key(s) in the promotion config: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        for key in ("holdout_dataset", "target"):
            if not values.get(key):
                raise PromotionConfigError(f"The promotion config needs '{key}'")
        config = cls(**values)
        if config.metric not in METRICS:
            raise PromotionConfigError(
                f"Unknown promotion metric '{config.metric}': use one of {', '.join(METRICS)}"
            )
        if not (isinstance(config.min_improvement, int | float) and config.min_improvement >= 0):
            raise PromotionConfigError(
                f"promotion.min_improvement must be a number >= 0 (a relative margin, 0.01 = 1%),"
                f" got {config.min_improvement!r}"
            )
        if bool(config.raw_dataset) != bool(config.id_column):
            raise PromotionConfigError("promotion: set raw_dataset and id_column together")
        return config


@dataclass(frozen=True)
class Decision:
    decision: str
    promote: bool
    reason: str


# --------------------------------------------------------------------------- the pure part


def score(metric: str, y_true, y_pred) -> float:
    import numpy as np

    y_true = np.asarray(y_true, dtype="float64")
    y_pred = np.asarray(y_pred, dtype="float64")
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"cannot score {y_pred.shape} predictions against {y_true.shape} targets")
    error = y_pred - y_true
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "rmse":
        return float(np.sqrt(np.mean(error**2)))
    if metric == "r2":
        total = float(np.sum((y_true - y_true.mean()) ** 2))
        return 1.0 - float(np.sum(error**2)) / total if total else 0.0
    raise PromotionConfigError(f"Unknown promotion metric '{metric}'")


def relative_improvement(challenger: float, champion: float, metric: str) -> float:
    """How much better the challenger is, relative to the champion's score (> 0: better)."""
    gain = champion - challenger if METRICS[metric] else challenger - champion
    if champion == 0:
        return math.inf if gain > 0 else (0.0 if gain == 0 else -math.inf)
    return gain / abs(champion)


def decide(
    challenger: float,
    champion: float | None,
    metric: str,
    min_improvement: float = 0.0,
    force: bool = False,
    champion_version: str | None = None,
) -> Decision:
    """Promote or not. Ties, and gains not above the margin, keep the champion.

    ``min_improvement`` is relative: 0.01 asks the challenger to beat the champion by more than
    1% of the champion's score (lower for mae/rmse, higher for r2).
    """
    if metric not in METRICS:
        raise PromotionConfigError(f"Unknown promotion metric '{metric}'")
    if challenger is None or math.isnan(challenger):
        raise ValueError(f"the challenger's {metric} is not a number: {challenger!r}")
    direction = "lower" if METRICS[metric] else "higher"
    if champion is None:
        return Decision(FIRST_CHAMPION, True,
                        f"no champion yet: the challenger ({metric} {challenger:.4f}) is the first")
    against = f"champion v{champion_version}" if champion_version else "the champion"
    if math.isnan(champion):
        if force:
            return Decision(FORCED, True, f"forced promotion ({against} could not be scored)")
        raise ValueError(f"the champion's {metric} is not a number: {champion!r}")
    gain = relative_improvement(challenger, champion, metric)
    compared = (f"challenger {metric} {challenger:.4f} vs {against} {champion:.4f} "
                f"({direction} is better): relative improvement {gain:+.2%}, "
                f"required > {min_improvement:.2%}")
    if force:
        return Decision(FORCED, True, f"forced promotion (force_promotion=true); {compared}")
    if gain > min_improvement:
        return Decision(PROMOTED, True, f"the challenger beats the champion: {compared}")
    return Decision(KEPT_CHAMPION, False, f"the champion stays: {compared}")


def _number(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"


def _percent(value: float) -> str:
    if math.isinf(value):
        return "infinitely"
    return f"{value:.1%}" if abs(value) >= 0.001 or value == 0 else f"{value:.2%}"


def summary(
    decision: str, metric: str, challenger: float, champion: float | None,
    champion_version: str | None, min_improvement: float, rows: int, holdout_dataset: str,
) -> str:
    """The decision as one sentence, for the model version's description (what a reader of the
    MLflow UI sees first), e.g. "Promoted to `@champion`: MAE 61.20 beats champion v3's 63.00 by
    2.9% (rule: lower MAE by more than 0.0%) on 9,779 held-out rows of test_listings."."""
    name = metric.upper()
    direction = "lower" if METRICS[metric] else "higher"
    rule = f"rule: {direction} {name} by more than {_percent(min_improvement)}"
    where = f"on {rows:,} held-out rows of {holdout_dataset}"
    mine = f"{name} {_number(challenger)}"
    if decision == FIRST_CHAMPION or champion_version is None:
        return f"First `@{CHAMPION}`: {mine} {where}; there was no champion to compare with."
    theirs = f"champion v{champion_version}"
    if champion is None or math.isnan(champion):
        return (f"Forced to `@{CHAMPION}` (force_promotion=true): {mine} {where}; {theirs} could "
                "not be scored.")
    gain = relative_improvement(challenger, champion, metric)
    versus = f"{theirs}'s {_number(champion)}"
    if decision == PROMOTED:
        return f"Promoted to `@{CHAMPION}`: {mine} beats {versus} by {_percent(gain)} ({rule}) {where}."
    change = f"{_percent(abs(gain))} {'better' if gain > 0 else 'worse'}" if gain else "a tie"
    if decision == FORCED:
        return (f"Forced to `@{CHAMPION}` (force_promotion=true): {mine} vs {versus}, {change} "
                f"({rule}) {where}.")
    return (f"Kept {theirs} as `@{CHAMPION}`: {mine} vs {versus}, {change}, does not pass the "
            f"{rule} {where}; this version is `@{CHALLENGER}`.")


# --------------------------------------------------------------------------- data and models


def _cast_to_schema(frame, schema):
    """Cast columns to the model signature's types (MLflow will not turn int into double)."""
    import pandas as pd

    out = frame.copy()
    for spec in schema.inputs:
        name = spec.name
        if name not in out.columns:
            continue
        kind = getattr(spec.type, "name", str(spec.type))
        if kind in ("double", "float"):
            out[name] = out[name].astype("float64" if kind == "double" else "float32")
        elif kind in ("long", "integer") and out[name].notna().all():
            out[name] = out[name].astype("int64" if kind == "long" else "int32")
        elif kind == "string":
            values = out[name]
            if pd.api.types.is_datetime64_any_dtype(values):
                values = values.dt.strftime("%Y-%m-%d")
            out[name] = values.map(lambda v: v if pd.isna(v) else str(v)).astype(object)
    return out


def holdout_data(catalog, config: PromotionConfig, schema):
    """(model input, target, ids) of the held-out split, as the model's signature expects it."""
    holdout = catalog.load(config.holdout_dataset)
    if config.target not in holdout.columns:
        raise PromotionConfigError(
            f"promotion.target '{config.target}' is not a column of '{config.holdout_dataset}'"
        )
    holdout = holdout[holdout[config.target].notna()]
    input_names = schema.input_names()
    if config.raw_dataset:
        key = config.id_column
        raw = catalog.load(config.raw_dataset)
        raw = raw[raw[key].isin(holdout[key])].drop_duplicates(subset=[key])
        rows = holdout[[key, config.target]].merge(raw[[c for c in raw.columns
                                                        if c != config.target]],
                                                   on=key, how="inner")
    else:
        rows = holdout
    missing = [c for c in input_names if c not in rows.columns]
    if missing:
        raise PromotionConfigError(
            f"The held-out data lacks the model input column(s) {', '.join(missing)}; "
            "set promotion.raw_dataset and promotion.id_column to read raw rows by id"
        )
    if rows.empty:
        raise ValueError(f"No held-out rows in '{config.holdout_dataset}' to evaluate on")
    rows = rows.reset_index(drop=True)
    features = _cast_to_schema(rows[input_names], schema)
    ids = rows[config.id_column] if config.id_column else None
    return features, rows[config.target].to_numpy(dtype="float64"), ids


def _predictions(model, features, ids, config: PromotionConfig):
    import numpy as np
    import pandas as pd

    output = model.predict(features)
    if isinstance(output, pd.DataFrame):
        key = config.id_column
        if key and key in output.columns and ids is not None:
            output = output.set_index(key).reindex(ids.to_numpy())
        columns = [c for c in output.columns if c != key]
        column = config.prediction_column or (columns[0] if len(columns) == 1 else None)
        if column is None or column not in output.columns:
            raise PromotionConfigError(
                f"Cannot tell the prediction column among {list(output.columns)}: "
                "set promotion.prediction_column"
            )
        output = output[column]
    values = np.asarray(output, dtype="float64").reshape(-1)
    if len(values) != len(features) or not np.isfinite(values).all():
        raise ValueError(f"the model returned {len(values)} predictions (finite: "
                         f"{bool(np.isfinite(values).all())}) for {len(features)} rows")
    return values


def holdout_key(features, y, config: PromotionConfig) -> str:
    """A digest of what a model is scored on here: the input rows as the model gets them (values,
    columns, dtypes), the target, and the settings that turn predictions into a score."""
    import hashlib

    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(repr((list(features.columns), [str(t) for t in features.dtypes],
                        config.metric, config.id_column, config.prediction_column)).encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y, dtype="float64").tobytes())
    return digest.hexdigest()[:32]


def recorded_score(version, metric: str, key: str) -> float | None:
    """The score ``version`` got at its own gate, when that gate scored it on the same rows
    (``key``) with the same metric: scoring it again would give the same number."""
    tags = getattr(version, "tags", None) or {}
    value = tags.get(f"promotion.challenger_{metric}")
    if value is None or tags.get(HOLDOUT_KEY_TAG) != key:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _load(model_name: str, version: str):
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")


def _champion_version(client, model_name: str):
    """The champion's version, or None when no version holds the alias yet."""
    from kedro_mlops.runtime.model_alias import NoModelForAlias, version_for_alias

    try:
        return version_for_alias(model_name, CHAMPION, client)
    except NoModelForAlias:
        return None


def evaluate_and_promote(
    call, mlflow_run_id: str, model_name: str, version: str,
    config: Mapping[str, Any] | PromotionConfig, force: bool = False,
) -> dict[str, str]:
    """The gate for the version this DAG run registered; returns the tags it recorded."""
    import mlflow

    if not isinstance(config, PromotionConfig):
        config = PromotionConfig.from_mapping(config)
    version = str(version)
    client = mlflow.MlflowClient()
    mine = client.get_model_version(model_name, version)
    if DECISION_TAG in mine.tags:
        tags = _recorded(client, mine, mlflow_run_id)
        log.info("%s v%s was already evaluated (a retry): re-applying '%s'",
                 model_name, version, tags[DECISION_TAG])
    else:
        tags = _evaluate(call, client, model_name, version, config, force)
    record(client, model_name, version, mlflow_run_id, tags)
    client.set_registered_model_alias(model_name, CHALLENGER, version)
    if tags[DECISION_TAG] in PROMOTING:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    log.info("Promotion gate of %s v%s: %s %s", model_name, version, tags[DECISION_TAG],
             tags.get(SUMMARY_TAG) or tags.get("promotion.reason", ""))
    return tags


def _recorded(client, mine, mlflow_run_id: str) -> dict[str, str]:
    """What an earlier try decided: every detail is on the run (written first); a version
    evaluated before the details moved to the run carries them all itself."""
    on_run = {k: v for k, v in client.get_run(mlflow_run_id).data.tags.items()
              if k.startswith(TAG_PREFIX)}
    if on_run.get(DECISION_TAG) == mine.tags[DECISION_TAG]:
        return on_run
    return {k: v for k, v in mine.tags.items() if k.startswith(TAG_PREFIX)}


def record(client, model_name: str, version: str, mlflow_run_id: str,
           tags: Mapping[str, str]) -> None:
    """Every tag on the run; on the version, the sentence as its description and a few tags.

    The run first: a retry that finds the decision on the version reads the details there.
    """
    from kedro_mlops.runtime import dag_run_tracking  # imports MLflow: not at render time

    dag_run_tracking.set_tags(client, mlflow_run_id, tags)
    sentence = tags.get(SUMMARY_TAG)
    if sentence:
        client.update_model_version(model_name, version, description=sentence)
    keep = version_tag_keys(tags.get("promotion.metric", "mae"))
    for key in sorted(keep, key=lambda k: k != DECISION_TAG):  # the decision first
        if key in tags:
            client.set_model_version_tag(model_name, version, key, tags[key])


def _evaluate(call, client, model_name, version, config: PromotionConfig, force: bool):
    from kedro_mlops.runtime.session import kedro_session

    champion = _champion_version(client, model_name)
    if champion is not None and str(champion.version) == version:
        champion = None  # someone pointed the alias here by hand: nothing to compare with
    challenger_model = _load(model_name, version)
    schema = challenger_model.metadata.get_input_schema()
    with kedro_session(call) as session:
        features, y, ids = holdout_data(session.load_context().catalog, config, schema)
    log.info("Held-out data: %d rows of '%s' (target '%s')", len(y), config.holdout_dataset,
             config.target)
    metric = config.metric
    key = holdout_key(features, y, config)
    challenger_score = score(metric, y, _predictions(challenger_model, features, ids, config))
    champion_score = None
    if champion is not None:
        # Retraining on unchanged data: the champion was scored on these very rows at its own
        # gate, and a model scores the same rows the same way; no download, no predict.
        champion_score = recorded_score(champion, metric, key)
        if champion_score is None:
            champion_model = _load(model_name, champion.version)
            champion_score = score(metric, y, _predictions(champion_model, features, ids, config))
        else:
            log.info("Champion v%s was scored on the same held-out rows at its own gate: "
                     "%s %r", champion.version, metric, champion_score)
    decision = decide(challenger_score, champion_score, metric, config.min_improvement,
                      force, champion.version if champion else None)
    tags = {
        DECISION_TAG: decision.decision,
        "promotion.reason": decision.reason[:5000],
        "promotion.metric": metric,
        "promotion.min_improvement": repr(float(config.min_improvement)),
        "promotion.forced": str(bool(force)).lower(),
        "promotion.holdout_dataset": config.holdout_dataset,
        "promotion.holdout_rows": str(len(y)),
        "promotion.model_version": version,
        f"promotion.challenger_{metric}": repr(challenger_score),
        "promotion.champion_version": str(champion.version) if champion else "none",
        HOLDOUT_KEY_TAG: key,
    }
    if champion_score is not None:
        tags[f"promotion.champion_{metric}"] = repr(champion_score)
    tags[SUMMARY_TAG] = summary(
        decision.decision, metric, challenger_score, champion_score,
        str(champion.version) if champion else None, config.min_improvement, len(y),
        config.holdout_dataset,
    )
    return tags
