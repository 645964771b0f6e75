"""Trigger params of a DAG run as Kedro runtime params, and the checks they pass first.

Pure functions, no Kedro: a DAG run's params (Airflow's trigger form, dotted keys) become Kedro's
nested runtime params, and a value that would choose where a run reads or writes is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Trigger-form params for the deployment (a run note, the promotion gate) that never reach Kedro.
RUN_ANNOTATIONS = ("run_note", "force_promotion")
#: runtime params the deployment sets for every run (``session.kedro_session``): where its data is
DEPLOYMENT_PATHS = ("data_root", "lake_root")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z]:/)")


class InvalidRunParams(ValueError):
    """A trigger param that Kedro would not accept."""

    retryable = False


def _leaves_its_folder(value: str) -> bool:
    """An absolute path, a URL (``s3://other-bucket``) or a path with a ``..`` segment: a value
    that, joined to a catalog path, would point outside the run's prefix."""
    text = value.strip().replace("\\", "/")
    return (text.startswith(("/", "~")) or bool(_URL_SCHEME.match(text))
            or ".." in text.split("/"))


def check_param_paths(params: Mapping[str, Any], runtime_params: Mapping[str, Any]) -> None:
    """Reject trigger params that would choose where a run reads or writes.

    Every path of a DAG run is rooted at the deployment's ``data_root`` / ``lake_root``; a param
    value is joined to those (``ds=<batch_date>``), so it may not be a path of its own. Runtime
    params of airflow.yml are checked too: they are rendered from trigger params.
    """
    owned = sorted(k for k in params if k in DEPLOYMENT_PATHS)
    if owned:
        raise InvalidRunParams(
            f"Trigger param(s) {', '.join(owned)} cannot be set: the deployment roots every run's "
            "data at its own prefix (MLOPS_RUNS_ROOT/<dag_id>/<run_id>, MLOPS_LAKE_ROOT). "
            "Remove them from the trigger params."
        )
    bad = [
        f"{key}={value!r}"
        for source in (params, runtime_params)
        for key, value in source.items()
        if key not in RUN_ANNOTATIONS and isinstance(value, str) and _leaves_its_folder(value)
    ]
    if bad:
        raise InvalidRunParams(
            f"Param(s) {', '.join(dict.fromkeys(bad))} would point outside this run's data "
            "(an absolute path, a URL or a '..' segment): a DAG param cannot choose where a run "
            "reads or writes. Give a plain value (e.g. batch_date=2026-11-27)."
        )


def kedro_runtime_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Trigger params as Kedro runtime params: ``model.max_depth`` → ``{"model": {"max_depth"}}``."""
    nested: dict[str, Any] = {}
    for key, value in params.items():
        if key in RUN_ANNOTATIONS:
            continue
        *parents, leaf = key.split(".")
        target = nested
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return nested


def unknown_params(keys, known: Mapping[str, Any]) -> list[str]:
    """The dotted ``keys`` that name no (nested) key of ``known``, sorted."""
    unknown = []
    for key in keys:
        node: Any = known
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                unknown.append(key)
                break
            node = node[part]
    return sorted(unknown)
