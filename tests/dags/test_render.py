"""Rendering Kedro pipelines into Airflow DAGs, on a tiny project that is not ours."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dag_helpers import CONTROL_TASKS, dag_edges, load_dag, pipeline_edges

from kedro_mlops.read.errors import MemoryDatasetBetweenTasks
from kedro_mlops.render.dag_files import render

TINY = Path(__file__).parents[1] / "fixtures" / "tiny_project"


@pytest.fixture(scope="module")
def tiny_dag_file(tmp_path_factory):
    target = tmp_path_factory.mktemp("dags")
    (path,) = render(TINY, ["training"], target)
    return path


def test_one_task_per_node_named_after_it(tiny_dag_file):
    dag = load_dag(tiny_dag_file)
    node_names = {child for _, child in pipeline_edges(TINY, "training")} | {"prep.make_numbers"}
    assert set(dag.task_ids) - CONTROL_TASKS == node_names
    # no `promotion` section in the tiny project's airflow.yml: no gate task, no force param
    assert CONTROL_TASKS - {"evaluate_and_promote", "wait_for_files"} <= set(dag.task_ids)
    assert "evaluate_and_promote" not in dag.task_ids
    assert "force_promotion" not in dag.params


def test_edges_are_exactly_the_kedro_dependencies(tiny_dag_file):
    dag = load_dag(tiny_dag_file)
    assert dag_edges(dag, exclude=CONTROL_TASKS) == pipeline_edges(TINY, "training")


def test_namespaces_become_task_groups(tiny_dag_file):
    dag = load_dag(tiny_dag_file)
    task = dag.get_task("prep.fit_scale")
    assert task.task_group.group_id == "prep"
    assert dag.get_task("apply_scale").task_group.group_id is None  # the root group


def test_control_tasks_frame_the_nodes(tiny_dag_file):
    dag = load_dag(tiny_dag_file)
    roots = {t.task_id for t in dag.roots}
    leaves = {t.task_id for t in dag.leaves}
    assert roots == {"start_mlflow_run"}
    assert leaves == {"end_mlflow_run"}
    assert dag.get_task("end_mlflow_run").upstream_task_ids == {"log_and_register_model"}
    assert dag.get_task("log_and_register_model").upstream_task_ids == {"summarize"}


def test_dag_settings_come_from_airflow_yml(tiny_dag_file):
    dag = load_dag(tiny_dag_file)
    conf = yaml.safe_load((TINY / "conf/base/airflow.yml").read_text())
    assert dag.owner == conf["default"]["owner"]
    assert dag.default_args["retries"] == conf["default"]["retries"]
    assert dag.tags == set(conf["training"]["tags"])
    assert dag.params["target_max"] == 1.0
    assert dag.params.get_param("target_max").schema["minimum"] == 0.001
    assert dag.doc_md and "training" in dag.doc_md
    assert dag.on_failure_callback is not None


def test_a_promotion_section_puts_the_gate_between_registration_and_the_end(tmp_path):
    project = tmp_path / "tiny_project"
    shutil.copytree(TINY, project)
    conf_path = project / "conf/base/airflow.yml"
    conf = yaml.safe_load(conf_path.read_text())
    conf["training"]["promotion"] = {"holdout_dataset": "numbers", "target": "y",
                                     "metric": "rmse", "min_improvement": 0.05}
    conf_path.write_text(yaml.safe_dump(conf))
    (path,) = render(project, ["training"], tmp_path / "dags")
    dag = load_dag(path)
    assert dag.get_task("end_mlflow_run").upstream_task_ids == {"evaluate_and_promote"}
    gate = dag.get_task("evaluate_and_promote")
    assert gate.upstream_task_ids == {"log_and_register_model"}
    assert gate.promotion == conf["training"]["promotion"] and gate.model_name == "tiny_scale"
    assert dag.params["force_promotion"] is False
    assert "`evaluate_and_promote`" in dag.doc_md and "rmse" in dag.doc_md


def test_parsing_imports_no_kedro_mlflow_or_pandas(tiny_dag_file):
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(tiny_dag_file)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = sorted(k for k in sys.modules if k.split('.')[0] in "
        "('kedro', 'mlflow', 'pandas', 'sklearn', 'kedro_mlflow'))\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _tiny_with_scale_in_memory(tmp_path):
    """The tiny project with `scale` left out of its catalog: a MemoryDataset between tasks."""
    project = tmp_path / "tiny_project"
    shutil.copytree(TINY, project)
    catalog = project / "conf/base/catalog.yml"
    entries = yaml.safe_load(catalog.read_text())
    del entries["scale"]
    catalog.write_text(yaml.safe_dump(entries))
    return project


def test_a_memory_dataset_between_tasks_is_persisted_and_the_dag_file_says_where(tmp_path):
    project = _tiny_with_scale_in_memory(tmp_path)
    notes = []
    (path,) = render(project, ["training"], tmp_path / "dags", notify=notes.append)
    line = "scale: persisted (MemoryDataset between tasks) -> <run data root>/scale.{parquet,pkl}"
    assert f"#   {line}\n" in path.read_text()
    assert any(note.startswith("DAG 'tiny_training': each DAG run keeps these datasets apart "
                               "from other runs") and line in note for note in notes)
    assert set(load_dag(path).task_ids) >= {"prep.fit_scale", "apply_scale"}


def test_memory_datasets_refuse_refuses_them_and_writes_nothing(tmp_path):
    project = _tiny_with_scale_in_memory(tmp_path)
    conf_path = project / "conf/base/airflow.yml"
    conf = yaml.safe_load(conf_path.read_text())
    conf["default"]["memory_datasets"] = "refuse"
    conf_path.write_text(yaml.safe_dump(conf))
    with pytest.raises(MemoryDatasetBetweenTasks, match="scale"):
        render(project, ["training"], tmp_path / "dags")
    assert not (tmp_path / "dags" / "tiny_training_dag.py").exists()
