"""dags/: generated from the Kedro pipelines, importable, and never stale."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dag_helpers import CONTROL_TASKS, dag_edges, pipeline_edges

from kedro_mlops.render.dag_files import check

REPO = Path(__file__).parents[2]
DAGS = REPO / "dags"
PROJECT = REPO / "kedro_project"
PIPELINES = {"nyc_airbnb_training": "training", "nyc_airbnb_scoring": "scoring"}


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    from airflow.models.dagbag import DagBag

    return DagBag(str(DAGS))


def test_dags_folder_is_what_the_renderer_makes():
    # `--check`: renders into a temporary folder, as the DAGs find the project from dags/
    problems = check(PROJECT, list(PIPELINES.values()), DAGS)
    assert problems == [], (
        f"{', '.join(f'dags/{p.name} is {what}' for p, what in problems)} (or was edited by "
        "hand): run `make dags` and commit it"
    )
    assert sorted(p.name for p in DAGS.glob("*.py")) == sorted(f"{d}_dag.py" for d in PIPELINES)


def test_every_dag_file_imports(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == set(PIPELINES)


@pytest.mark.parametrize("dag_id", sorted(PIPELINES))
def test_tasks_and_edges_are_the_kedro_nodes_and_dependencies(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    edges = pipeline_edges(PROJECT, PIPELINES[dag_id])
    from kedro.framework.project import pipelines

    node_names = {n.name for n in pipelines[PIPELINES[dag_id]].nodes}
    assert set(dag.task_ids) - CONTROL_TASKS == node_names
    assert dag_edges(dag, exclude=CONTROL_TASKS) == edges


@pytest.mark.parametrize("dag_id", sorted(PIPELINES))
def test_dag_is_documented_and_safe_to_retry(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert PIPELINES[dag_id] in dag.doc_md
    assert dag.owner == "data-science"
    assert dag.default_args["retries"] >= 1 and dag.default_args["retry_exponential_backoff"]
    # concurrent runs keep their data apart (run prefixes); airflow.yml sets how many
    assert dag.max_active_runs == {"nyc_airbnb_training": 2, "nyc_airbnb_scoring": 4}[dag_id]
    assert dag.on_failure_callback is not None
    assert {"kedro", "nyc_airbnb"} <= set(dag.tags)


def test_training_dag_ends_by_registering_the_model_then_the_promotion_gate(dagbag):
    dag = dagbag.dags["nyc_airbnb_training"]
    assert {t.task_id for t in dag.leaves} == {"end_mlflow_run"}
    assert dag.get_task("end_mlflow_run").upstream_task_ids == {"evaluate_and_promote"}
    gate = dag.get_task("evaluate_and_promote")
    assert gate.upstream_task_ids == {"log_and_register_model"}
    assert gate.max_active_tis_per_dag == 1  # concurrent trainings are gated one at a time
    assert gate.model_name == dag.get_task("log_and_register_model").model_name
    conf = yaml.safe_load((PROJECT / "conf/base/airflow.yml").read_text())
    assert gate.promotion == conf["training"]["promotion"]
    assert gate.promotion["metric"] in ("mae", "rmse", "r2")
    assert dag.get_task("training.train_price_model").task_group.group_id == "training"
    params = dag.params
    assert params["force_promotion"] is False
    assert params.get_param("force_promotion").schema["type"] == "boolean"


def _kedro_parameter(parameters: dict, dotted: str):
    """The value of a Kedro parameter named as a trigger param names it (``model.x.y``), or
    KeyError."""
    value = parameters
    for key in dotted.split("."):
        value = value[key]
    return value


@pytest.mark.parametrize("dag_id", sorted(PIPELINES))
def test_trigger_defaults_are_the_kedro_parameters_they_override(dagbag, dag_id):
    """A run triggered with the form's defaults trains what `kedro run` trains."""
    from kedro.config import OmegaConfigLoader

    parameters = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base",
                                   default_run_env="local")["parameters"]
    dag = dagbag.dags[dag_id]
    compared = []
    for name in dag.params:
        try:
            kedro_value = _kedro_parameter(parameters, name)
        except (KeyError, TypeError):
            # a deployment param (run_note, batch_date, ...); a dotted name is a Kedro one
            assert "." not in name, f"{dag_id}: trigger param {name} is no Kedro parameter"
            continue
        assert dag.params[name] == kedro_value, (name, dag.params[name], kedro_value)
        compared.append(name)
    if dag_id == "nyc_airbnb_training":
        assert "model.hist_gradient_boosting.max_iter" in compared


def test_training_is_scheduled_weekly_without_backfill_and_scoring_is_not_gated(dagbag):
    training = dagbag.dags["nyc_airbnb_training"]
    assert training.schedule == "@weekly"
    assert training.catchup is False
    scoring = dagbag.dags["nyc_airbnb_scoring"]
    assert "evaluate_and_promote" not in scoring.task_ids
    assert "force_promotion" not in scoring.params


def test_scoring_runs_daily_over_data_intervals_with_one_pinned_model(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    scoring = dagbag.dags["nyc_airbnb_scoring"]
    assert isinstance(scoring.timetable, CronDataIntervalTimetable)
    assert scoring.timetable.expression == "0 0 * * *"  # @daily
    assert scoring.catchup is False
    start = scoring.get_task("start_mlflow_run")
    conf = yaml.safe_load((PROJECT / "conf/base/airflow.yml").read_text())
    assert start.registered_model == {"name": conf["training"]["registered_model_name"],
                                      "alias_param": "model_alias"}
    for task in scoring.tasks:
        if task.task_id != "score_batch":
            assert task.runtime_params["mlflow_experiment"] == "nyc_airbnb_scoring"
    assert scoring.params["model_alias"] == "champion"


def test_score_batch_fans_out_and_publish_joins_the_parts(dagbag):
    """Dynamic task mapping: one copy of the node per part, each with its part index."""
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    scoring = dagbag.dags["nyc_airbnb_scoring"]
    score = scoring.get_task("score_batch")
    assert isinstance(score, MappedOperator)
    expanded = score.expand_input.value["runtime_params"]
    parts = expanded[0]["batch_parts"]
    assert parts >= 2
    assert [p["batch_part"] for p in expanded] == list(range(parts))
    assert all(p["mlflow_experiment"] == "nyc_airbnb_scoring" for p in expanded)
    publish = scoring.get_task("publish_predictions")
    assert publish.upstream_task_ids == {"score_batch"}
    assert publish.runtime_params["batch_parts"] == parts


def _rendered_batch_date(dagbag, batch_date: str, interval_start, run_after) -> str:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    task = dagbag.dags["nyc_airbnb_scoring"].get_task("publish_predictions")
    dag_run = SimpleNamespace(
        data_interval_start=interval_start and datetime.fromisoformat(interval_start),
        run_after=datetime.fromisoformat(run_after).replace(tzinfo=UTC),
    )
    context = {"params": {"batch_date": batch_date}, "dag_run": dag_run}
    return task.render_template(task.runtime_params, context)["batch_date"]


@pytest.mark.parametrize(
    ("batch_date", "interval_start", "run_after", "expected"),
    [
        ("", "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00", "2026-11-02"),  # scheduled
        ("2026-10-01", "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00", "2026-10-01"),
        ("", None, "2026-11-28T14:03:00", "2026-11-28"),  # manual, no logical date
    ],
)
def test_the_batch_date_is_the_param_else_the_data_interval_else_the_trigger_day(
    dagbag, batch_date, interval_start, run_after, expected
):
    assert _rendered_batch_date(dagbag, batch_date, interval_start, run_after) == expected


def test_assets_link_the_champion_and_the_predictions(dagbag):
    gate = dagbag.dags["nyc_airbnb_training"].get_task("evaluate_and_promote")
    publish = dagbag.dags["nyc_airbnb_scoring"].get_task("publish_predictions")
    assert [a.name for a in gate.outlets] == ["nyc_airbnb_price_champion"]
    assert [a.name for a in publish.outlets] == ["nyc_airbnb_predictions"]
    assert gate.outlets[0].uri == "x-mlflow-model://nyc_airbnb_price/champion"


def test_scoring_waits_for_the_days_files_deferred_with_the_configured_timeout(dagbag):
    scoring = dagbag.dags["nyc_airbnb_scoring"]
    wait = scoring.get_task("wait_for_files")
    conf = yaml.safe_load((PROJECT / "conf/base/airflow.yml").read_text())["scoring"]
    assert wait.upstream_task_ids == {"start_mlflow_run"}
    assert wait.downstream_task_ids == {"check_batch"}
    assert scoring.get_task("check_batch").upstream_task_ids == {"wait_for_files"}
    assert wait.timeout_seconds == conf["wait_for_files"]["timeout_seconds"]
    assert wait.poke_interval_seconds == conf["wait_for_files"]["poke_interval_seconds"]
    assert wait.path.format(lake_root="s3://b", batch_date="2026-11-02") == \
        "s3://b/incoming/ds=2026-11-02/"
    assert "wait_for_files" not in dagbag.dags["nyc_airbnb_training"].task_ids
