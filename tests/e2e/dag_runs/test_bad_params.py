"""Bad trigger params against the real Airflow scheduler and api-server (the package's stack).

Declared params (the trigger form) are checked by Airflow against their JSON schema when a run
is created, for the UI's form and the REST API alike: a bad value is an HTTP 400 naming the param
and no DAG run exists. Anything else is checked by the DAG's first task (kedro_mlops.runtime.session),
which fails at once, before any MLflow run or data exists.

The same stack also serves the demo's first step on a DAG file the processor has not parsed yet.
"""

from __future__ import annotations

import pytest

from kedro_mlops.config import run_data_root
from kedro_mlops.local.airflow_client import AirflowError, DagRunFailed
from kedro_mlops.local.stack.s3 import s3_client
from kedro_mlops.runtime.dag_run_tracking import find_run

from .conftest import dags_folder

pytestmark = pytest.mark.e2e

TRAINING = "nyc_airbnb_training"
SCORING = "nyc_airbnb_scoring"


def _post_run(airflow, dag_id: str, conf: dict, *, from_the_form: bool) -> str:
    """POST a new DAG run, as the REST API's users do or as the UI's trigger form does (the same
    endpoint, with the page as referer); the error text of the refusal."""
    headers = {"referer": f"{airflow.base_url}/dags/{dag_id}/trigger"} if from_the_form else {}
    with pytest.raises(AirflowError) as refused:
        airflow.request("POST", f"/dags/{dag_id}/dagRuns", ok=(200,), headers=headers,
                        json={"logical_date": None, "conf": conf})
    return str(refused.value)


#: (DAG, conf, what the 400 must name)
REFUSED = {
    "non-numeric hyperparameter": (
        TRAINING, {"model.hist_gradient_boosting.learning_rate": "abc"},
        ["model.hist_gradient_boosting.learning_rate", "'abc' is not of type 'number'"]),
    "hyperparameter below its minimum": (
        TRAINING, {"model.hist_gradient_boosting.max_iter": 0},
        ["model.hist_gradient_boosting.max_iter", "0 is less than the minimum of 10"]),
    "a fractional integer hyperparameter": (
        TRAINING, {"model.hist_gradient_boosting.max_leaf_nodes": 31.5},
        ["model.hist_gradient_boosting.max_leaf_nodes", "31.5 is not of type 'integer'"]),
    "batch_date that is not a date": (
        SCORING, {"batch_date": "yesterday"},
        ["batch_date", "'yesterday' does not match"]),
    "batch_date that climbs out of its folder": (
        SCORING, {"batch_date": "../../predictions/ds=2026-01-01"},
        ["batch_date", "does not match"]),
    "model_alias that is a path": (
        SCORING, {"model_alias": "../champion"},
        ["model_alias", "'../champion' does not match"]),
}


@pytest.mark.parametrize("from_the_form", [True, False], ids=["trigger form", "REST API"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_declared_param_with_a_bad_value_is_refused_naming_it(airflow_stack, case,
                                                                from_the_form):
    _, airflow = airflow_stack
    dag_id, conf, named = REFUSED[case]
    runs_before = [r.run_id for r in airflow.runs(dag_id)]
    message = _post_run(airflow, dag_id, conf, from_the_form=from_the_form)
    assert "HTTP 400" in message
    assert f"Invalid input for param {named[0]}" in message
    for text in named[1:]:
        assert text in message
    assert [r.run_id for r in airflow.runs(dag_id)] == runs_before, "no DAG run was created"


def test_the_trigger_form_declares_the_types_airflow_checks(airflow_stack):
    """What the UI builds its form from: the refusals above come from these schemas."""
    _, airflow = airflow_stack
    params = airflow.request("GET", f"/dags/{TRAINING}/details").json()["params"]
    learning_rate = params["model.hist_gradient_boosting.learning_rate"]
    assert learning_rate["schema"]["type"] == "number" and learning_rate["value"] == 0.1
    assert params["model.hist_gradient_boosting.max_iter"]["schema"]["minimum"] == 10
    scoring = airflow.request("GET", f"/dags/{SCORING}/details").json()["params"]
    assert scoring["batch_date"]["schema"]["pattern"] == "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"


def _no_trace_of(settings, dag_id: str, run_id: str) -> None:
    """No MLflow run in any experiment, no object under the run's data prefix."""
    import mlflow

    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert experiments, "the MLflow server answers (at least its Default experiment)"
    assert find_run(client, experiments, dag_id, run_id) is None, "no MLflow run was created"
    # this run's own prefix: the package's other files train into runs/<dag_id>/ too
    prefix = run_data_root(dag_id, run_id).removeprefix(f"s3://{settings.bucket}/") + "/"
    assert prefix.startswith(f"runs/{dag_id}/"), prefix
    keys = [o["Key"] for o in s3_client(settings).list_objects_v2(
        Bucket=settings.bucket, Prefix=prefix).get("Contents", [])]
    assert keys == [], f"nothing written under {prefix}"


#: undeclared params that name a path: the first task fails, naming them
PATH_PARAMS = {
    "a file in another bucket": (
        {"raw_listings_path": "s3://other-bucket/listings.csv"},
        "raw_listings_path='s3://other-bucket/listings.csv' would point outside this run's data"),
    "an absolute local path": (
        {"raw_listings_path": "/etc/passwd"},
        "raw_listings_path='/etc/passwd' would point outside this run's data"),
    "the run's data root": (
        {"data_root": "s3://mlops/runs/another_dag/another_run"},
        "Trigger param(s) data_root cannot be set"),
}


@pytest.mark.parametrize("case", list(PATH_PARAMS))
def test_a_param_choosing_a_path_fails_the_first_task_and_leaves_nothing(airflow_stack, case):
    settings, airflow = airflow_stack
    conf, expected = PATH_PARAMS[case]
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag(TRAINING, conf, timeout=600)
    assert expected in str(failed.value)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.value.task_instances}
    assert states["start_mlflow_run"] == ("failed", 1)  # not retried: it cannot get better
    assert not any(state == "success" for state, _ in states.values())
    _no_trace_of(settings, TRAINING, failed.value.run.run_id)


FRESH_DAG = '''
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG("fresh_dag_probe", schedule="@daily", catchup=False,
         start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    EmptyOperator(task_id="noop")
'''


def test_the_demo_waits_for_a_dag_the_processor_has_not_parsed_yet(airflow_stack):
    """`make demo` on a fresh stack asks for a DAG's runs while the dag-processor may not have
    registered it (the API then answers 404); the demo waits for it, then runs it."""
    from kedro_mlops.local.demo import _scheduled_or_manual

    settings, airflow = airflow_stack
    (dags_folder(settings) / "fresh_dag_probe.py").write_text(FRESH_DAG)
    assert airflow.get_dag("fresh_dag_probe") is None, "the probe must start unregistered"
    run = _scheduled_or_manual(airflow, "fresh_dag_probe", {}, timeout=180)
    assert run.state == "success"
    assert run.raw["run_type"] == "scheduled", "unpausing the new DAG started its schedule"
