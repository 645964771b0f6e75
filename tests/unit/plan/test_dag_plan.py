"""The plan built between reading a Kedro project and rendering its DAGs, for each project of the
repo, and airflow.yml mistakes caught there (one message naming the key and the allowed values)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dag_helpers import pipeline_edges

from kedro_mlops.plan.dag_plan import (
    PERSISTED,
    REMAPPED,
    STAYS,
    InvalidAirflowConfig,
    RelativePathBetweenTasks,
)
from kedro_mlops.read.errors import MemoryDatasetBetweenTasks
from kedro_mlops.render.dag_files import load_plans

REPO = Path(__file__).parents[3]
TINY = REPO / "tests" / "fixtures" / "tiny_project"
STARTER = REPO / "tests" / "fixtures" / "starter_project"
MODULAR = REPO / "tests" / "fixtures" / "modular_project"
NYC = REPO / "kedro_project"


def node_edges(plan) -> set[tuple[str, str]]:
    return {(up.name, down.name) for up, down in plan.edges if not (up.control or down.control)}


def placements(plan) -> dict[str, tuple[str, str | None]]:
    return {d.name: (d.placement, d.relative_path) for d in plan.datasets}


def edit_airflow_yml(project: Path, section: str, **values) -> None:
    path = project / "conf/base/airflow.yml"
    conf = yaml.safe_load(path.read_text()) if path.exists() else {}
    conf.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(conf))


@pytest.fixture
def starter(tmp_path) -> Path:
    return shutil.copytree(STARTER, tmp_path / "starter_project")


@pytest.fixture
def tiny(tmp_path) -> Path:
    return shutil.copytree(TINY, tmp_path / "tiny_project")


def test_tiny_project_plan():
    (plan,) = load_plans(TINY, ["training"]).values()
    assert plan.dag_id == "tiny_training" and plan.is_ml and not plan.gate
    assert plan.groups == ["prep"]
    assert [(t.task_id, t.group) for t in plan.tasks] == [
        ("apply_scale", None), ("fit_scale", "prep"), ("make_numbers", "prep"),
        ("summarize", None)]
    assert node_edges(plan) == pipeline_edges(TINY, "training")
    assert plan.tail == ["log_model", "end"]
    assert set(plan.control_tasks.values()) == {"start_mlflow_run", "end_mlflow_run",
                                                "log_and_register_model"}
    assert list(plan.params) == ["target_max", "run_note"]
    assert plan.params["target_max"]["minimum"] == 0.001
    # every dataset it hands over is already under ${runtime_params:data_root}; the metrics
    # dataset is kedro-mlflow's
    assert placements(plan) == {
        "numbers": (STAYS, None), "scale": (STAYS, None), "scaled": (STAYS, None),
        "summary": (STAYS, None)}
    assert {d.name: d.kind for d in plan.datasets} == {
        "numbers": "under_root", "scale": "under_root", "scaled": "under_root",
        "summary": "external"}
    assert plan.moved == []


def test_starter_project_plan_persists_memory_datasets_and_remaps_relative_paths():
    (plan,) = load_plans(STARTER, ["__default__"]).values()
    assert plan.dag_id == "starter" and not plan.is_ml and plan.tail == []
    assert plan.groups == ["data_science"]
    assert node_edges(plan) == pipeline_edges(STARTER, "__default__")
    tasks = {t.node_name: t for t in plan.tasks}
    # a dotted, dashed node name in a namespace: the group is the namespace, the rest the id
    assert tasks["data_science.train-model.v1"].task_id == "train-model.v1"
    assert tasks["data_science.train-model.v1"].group == "data_science"
    assert all(t.mapped is None for t in plan.tasks)
    assert placements(plan) == {
        "companies": (STAYS, None),
        "shuttles": (STAYS, None),
        "preprocessed_companies": (REMAPPED, "data/02_intermediate/preprocessed_companies.pkl"),
        "preprocessed_shuttles": (REMAPPED, "data/02_intermediate/preprocessed_shuttles.pkl"),
        "model_input_table": (REMAPPED, "data/03_primary/model_input_table.pkl"),
        "report": (REMAPPED, "data/08_reporting/report.pkl"),
        "data_science.X_train": (PERSISTED, "data_science.X_train"),
        "data_science.X_test": (PERSISTED, "data_science.X_test"),
        "data_science.y_train": (PERSISTED, "data_science.y_train"),
        "data_science.y_test": (PERSISTED, "data_science.y_test"),
        "data_science.regressor": (PERSISTED, "data_science.regressor"),
        # written by the last task and read by none: nothing to hand over
        "data_science.metrics": (STAYS, None),
    }
    remapped = next(d for d in plan.datasets if d.name == "report")
    assert remapped.location("s3://b/runs/starter/r1") == \
        "s3://b/runs/starter/r1/data/08_reporting/report.pkl"


def test_modular_project_plan_groups_each_namespace_and_persists_what_passes_in_memory():
    """__default__ of a project without kedro-mlflow or conf/local, read in conf/staging: one
    modular pipeline reused per region (namespaces north/south), unnamed and dotted nodes."""
    (plan,) = load_plans(MODULAR, ["__default__"], env="staging").values()
    assert plan.dag_id == "demand" and not plan.is_ml and plan.tail == [] and not plan.params
    assert plan.groups == ["north", "south"]
    assert node_edges(plan) == pipeline_edges(MODULAR, "__default__")
    tasks = {t.node_name: (t.task_id, t.group) for t in plan.tasks}
    assert tasks["north.fit-trend"] == ("fit-trend", "north")
    assert tasks["south.score.in-sample"] == ("score.in-sample", "south")
    assert tasks["add-calendar.v2"] == ("add-calendar.v2", None)
    # Kedro names an unnamed node <function>__<hash>: kept as it is, outside any group
    (unnamed,) = [name for name in tasks if name.startswith("clean_sales__")]
    assert tasks[unnamed] == (unnamed, None)
    memory = {f"{region}.{name}" for region in ("north", "south")
              for name in ("region_sales", "trend", "metrics")} | {"sales_features"}
    assert placements(plan) == {
        "sales": (STAYS, None),
        "clean_sales": (REMAPPED, "data/02_intermediate/clean_sales.parquet"),
        # conf/staging's catalog moves the summary into a folder of its own
        "summary": (REMAPPED, "data/08_reporting/staging/summary.csv"),
        **{name: (PERSISTED, name) for name in memory},
    }


def test_nyc_airbnb_plans_move_only_mlflow_artifact_files_and_keep_the_gate_and_the_fan_out():
    plans = load_plans(NYC, ["training", "scoring"])
    training, scoring = plans["training"], plans["scoring"]
    # every dataset is under data_root / lake_root already, but for the plots' and reports'
    # local files, which each task writes in its own scratch folder before uploading them
    assert {(d.name, d.placement, d.relative_path) for d in scoring.moved} == {
        ("drift_report_plot", "scratch", "data/08_reporting/drift_report.png"),
        ("drift_report_html", "scratch", "data/08_reporting/drift_report.html")}
    assert {d.name for d in training.moved} == {
        "feature_importance_plot", "feature_profile", "predicted_vs_actual_plot",
        "residuals_plot"}
    assert {d.kind for d in training.moved} == {"mlflow_artifact"}
    assert training.gate and training.tail == ["log_model", "promote", "end"]
    assert training.params["force_promotion"]["default"] is False
    assert set(training.groups) == {"data_processing", "training"}
    assert node_edges(training) == pipeline_edges(NYC, "training")
    # the first node waits for the day's files: start -> wait_for_files -> check_batch
    assert scoring.control_tasks["wait"] == "wait_for_files"
    first = [(up.name, down.name) for up, down in scoring.edges if up.control]
    assert first == [("start", "wait"), ("wait", "check_batch")]
    (mapped,) = [t for t in scoring.tasks if t.mapped]
    assert (mapped.node_name, mapped.mapped.index_param, mapped.mapped.count_param) == \
        ("score_batch", "batch_part", "batch_parts")
    assert {t.node_name: t.outlets for t in scoring.tasks}["publish_predictions"] == \
        ("nyc_airbnb_predictions",)
    # the predictions are written under lake_root, set by every task: external, not remapped
    kinds = {d.name: d.kind for d in scoring.datasets}
    assert kinds["scored_batch"] == "external" and kinds["scoring_batch"] == "raw"


# --- opt-outs -----------------------------------------------------------------------------------

def test_memory_datasets_refuse_is_todays_refusal(starter):
    edit_airflow_yml(starter, "data_science", memory_datasets="refuse")
    with pytest.raises(MemoryDatasetBetweenTasks) as error:
        load_plans(starter, ["data_science"])
    assert ("pipeline 'data_science': data_science.X_test, data_science.X_train, "
            "data_science.regressor, data_science.y_test, data_science.y_train") in str(error.value)
    assert "memory_datasets: refuse" in str(error.value)


def test_relative_paths_refuse_names_each_dataset_and_the_fix(starter):
    edit_airflow_yml(starter, "default", relative_paths="refuse")
    with pytest.raises(RelativePathBetweenTasks) as error:
        load_plans(starter, ["data_processing"])
    message = str(error.value)
    # each dataset the pipeline writes; not its raw inputs, which stay where the catalog says
    assert ("`relative_paths: refuse`: model_input_table, preprocessed_companies, "
            "preprocessed_shuttles. Root each filepath") in message
    assert "filepath: ${runtime_params:data_root, data}/..." in message


# --- airflow.yml mistakes -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        pytest.param("default", {"retires": 3},
                     "airflow.yml, section 'default': unknown key 'retires' (did you mean "
                     "'retries'?). Allowed keys: catchup, description, fan_out,",
                     id="unknown-key"),
        pytest.param("data_science", {"memory_datasets": "keep"},
                     "airflow.yml, section 'data_science': memory_datasets: 'keep' is not one of "
                     "persist, refuse.", id="bad-policy"),
        pytest.param("data_science", {"fan_out": {"train_model": {"index_param": "i",
                                                                  "count_param": "n"}}},
                     "airflow.yml, section 'data_science': fan_out: no node 'train_model' in the "
                     "pipeline. Allowed: data_science.evaluate_model, ", id="fan-out-node"),
        pytest.param("data_science", {"params": {"test_size": {"type": "number"}}},
                     "params.test_size has no 'default'", id="param-without-default"),
        pytest.param("data_science", {"wait_for_files": {"path": "{lake_root}/in"}},
                     "airflow.yml, section 'data_science': wait_for_files: timeout_seconds "
                     "missing.", id="wait-without-timeout"),
        pytest.param("data_science", {"wait_for_files": {"path": "x", "timeout_seconds": 60,
                                                         "poke_every": 5}},
                     "wait_for_files: unknown key(s) poke_every. Allowed: path, "
                     "poke_interval_seconds, timeout_seconds.", id="wait-unknown-key"),
        pytest.param("data_science", {"wait_for_files": {"path": "x", "timeout_seconds": "1h"}},
                     "wait_for_files.timeout_seconds must be a number of seconds > 0, not '1h'",
                     id="wait-timeout-not-a-number"),
    ],
)
def test_airflow_yml_mistakes_are_named_at_render_time(starter, section, values, message):
    edit_airflow_yml(starter, section, **values)
    with pytest.raises(InvalidAirflowConfig) as error:
        load_plans(starter, ["data_science"])
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("promotion", "message"),
    [
        pytest.param({"holdout_dataset": "scaled", "target": "y", "metric": "f1"},
                     "promotion.metric: the gate computes no metric 'f1'. Allowed values: mae, "
                     "rmse, r2.", id="metric"),
        pytest.param({"holdout_dataset": "scaled_rows", "target": "y"},
                     "promotion.holdout_dataset: no node of the pipeline writes 'scaled_rows' "
                     "(did you mean 'scaled'?). Allowed values: numbers, scale, scaled, summary.",
                     id="holdout"),
        pytest.param({"holdout_dataset": "scaled", "target": "y", "margin": 0.1},
                     "Unknown key(s) in the promotion config: margin", id="unknown-key"),
    ],
)
def test_promotion_mistakes_are_named_at_render_time(tiny, promotion, message):
    edit_airflow_yml(tiny, "training", promotion=promotion)
    with pytest.raises(InvalidAirflowConfig) as error:
        load_plans(tiny, ["training"])
    assert "airflow.yml, section 'training': " in str(error.value)
    assert message in str(error.value)
