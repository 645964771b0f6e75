"""The error contract between a Kedro project and the tasks that run it.

An exception raised by a node, a dataset or the deployment itself may declare two attributes;
the tasks read them here, and nowhere else, on the exception and on every exception it was raised
from or while handling (``__cause__``/``__context__``), so a wrapper (Kedro's ``DatasetError``,
a node's own error) keeps what the original declared:

- ``retryable = False`` (a class or instance attribute): the same input fails the same way on
  every try (bad data, an unknown param, a missing registry alias). The task fails at once with
  Airflow's ``AirflowFailException`` instead of using up its retries. Absent or true: retried.
- ``metrics``: a mapping of metric name to number (e.g. rows rejected by a data check). They are
  logged to the DAG run's MLflow run before the task fails, so the failed run shows them. The
  first mapping found along the chain is used.

The project declares these without importing this package (a Kedro project stays pure Kedro).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then each one it was raised from or while handling, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def is_retryable(error: BaseException) -> bool:
    """False when the error, or one in its chain, declares ``retryable = False``."""
    return all(getattr(current, "retryable", True) is not False for current in _chain(error))


def error_metrics(error: BaseException) -> dict[str, float]:
    """The first non-empty ``metrics`` mapping along the error's chain, as floats; else empty."""
    for current in _chain(error):
        metrics = getattr(current, "metrics", None)
        if isinstance(metrics, Mapping) and metrics:
            return {str(k): float(v) for k, v in metrics.items()}
    return {}
