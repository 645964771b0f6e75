"""Trigger params as Kedro runtime params, and the checks they pass first
(kedro_mlops.runtime.params): they cannot choose where a DAG run reads or writes.

The check runs in the first task, before any Kedro session, MLflow run or data exists, so these
tests call the real ``validate_params`` on a call that has nowhere to write.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_mlops.config import KedroProject
from kedro_mlops.runtime.params import (
    InvalidRunParams,
    check_param_paths,
    kedro_runtime_params,
    unknown_params,
)
from kedro_mlops.runtime.session import DagRunCall, validate_params

PROJECT = KedroProject(package_name="nyc_airbnb",
                       project_path=str(Path(__file__).parents[3] / "kedro_project"))


def _call(params=None, runtime_params=None, declared=()) -> DagRunCall:
    return DagRunCall(PROJECT, "scoring", "nyc_airbnb_scoring", "manual__1",
                      params=params or {}, declared=frozenset(declared),
                      runtime_params=runtime_params or {})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_date", "../../predictions/ds=2026-01-01"),
        ("batch_date", "2026-11-27/../.."),
        ("scoring_input_path", "/etc/passwd"),
        ("scoring_input_path", "s3://other-bucket/incoming"),
        ("raw_listings_path", "~/listings.csv"),
        ("raw_listings_path", "C:\\data\\listings.csv"),
        ("model_alias", "..\\..\\x"),
    ],
)
def test_a_param_that_points_outside_the_run_is_rejected_naming_it(key, value):
    with pytest.raises(InvalidRunParams) as info:
        validate_params(_call({key: value}, declared=[key]))
    message = str(info.value)
    assert f"{key}={value!r}" in message
    assert "cannot choose where a run reads or writes" in message
    assert info.value.retryable is False


def test_a_runtime_param_rendered_from_a_trigger_param_is_checked_too():
    """airflow.yml's `batch_date: "{{ params.batch_date or ... }}"`, once rendered."""
    with pytest.raises(InvalidRunParams, match=r"batch_date='\.\./x'"):
        validate_params(_call(runtime_params={"batch_date": "../x", "batch_parts": 2}))


@pytest.mark.parametrize("key", ["data_root", "lake_root"])
def test_the_deployment_roots_cannot_be_trigger_params(key):
    with pytest.raises(InvalidRunParams) as info:
        validate_params(_call({key: "runs/mine"}))
    assert str(info.value).startswith(f"Trigger param(s) {key} cannot be set")
    assert "Remove them from the trigger params" in str(info.value)


def test_plain_values_and_run_notes_pass():
    """No Kedro session is opened for declared params: nothing but the path rule applies."""
    params = {"batch_date": "2026-11-27", "model_alias": "champion",
              "run_note": "compare with ../old run, see /docs", "split.test_size": 0.25}
    validate_params(_call(params, runtime_params={"batch_date": "2026-11-27",
                                                  "mlflow_experiment": "nyc_airbnb_scoring"},
                          declared=params))


# --- trigger params as Kedro runtime params ----------------------------------------------------


def test_dotted_trigger_params_become_nested_runtime_params():
    assert kedro_runtime_params({"model.max_depth": 4, "model.lr": 0.1, "batch_date": "d",
                                 "a.b.c": True}) == {
        "model": {"max_depth": 4, "lr": 0.1}, "batch_date": "d", "a": {"b": {"c": True}}}


def test_run_annotations_never_reach_kedro():
    assert kedro_runtime_params({"run_note": "why", "force_promotion": True, "x": 1}) == {"x": 1}


def test_unknown_params_names_keys_absent_at_any_level():
    known = {"model": {"max_depth": 3}, "batch_parts": 2, "leaf": 1}
    assert unknown_params(["model.max_depth", "batch_parts"], known) == []
    assert unknown_params(["model.depth", "nope", "leaf.below", "batch_parts"], known) == [
        "leaf.below", "model.depth", "nope"]


def test_a_plain_relative_value_is_accepted():
    check_param_paths({"batch_date": "2026-11-27", "part": "ds=1/x"}, {"batch_parts": 2})
