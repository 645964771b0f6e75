"""Users' own Kedro projects of two shapes, rendered into one DAGs folder and run by the real
scheduler of the package's Airflow stack (conftest.py).

The starter fixture hands MemoryDatasets between its nodes and writes its intermediate data to
paths relative to the project: two DAG runs at once must each keep theirs under their own data
root in S3, each in its own MLflow run, and leave the project folder as it was. The modular
fixture reuses one modular pipeline under two namespaces, has unnamed nodes and node names with
dots and dashes, no kedro-mlflow (its hooks are off), no airflow.yml, and is rendered for its
`staging` environment: its DAG run must be one MLflow run too, and its tasks and TaskGroups the
Kedro nodes and namespaces.
"""

from __future__ import annotations

import importlib.util
import io
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from kedro_mlops.local.airflow_client import AirflowClient
from kedro_mlops.local.stack.s3 import s3_client
from kedro_mlops.render.dag_files import render

from ..mlflow_queries import runs_of_dag_run
from .conftest import dags_folder

pytestmark = pytest.mark.e2e

STARTER = Path(__file__).parents[2] / "fixtures" / "starter_project"
MODULAR = Path(__file__).parents[2] / "fixtures" / "modular_project"
# what every run of the __default__ DAG leaves under its data root: the remapped files at their
# relative paths, the persisted MemoryDatasets as Parquet (frames) or pickle (anything else)
RUN_FILES = {
    "data/02_intermediate/preprocessed_companies.pkl",
    "data/02_intermediate/preprocessed_shuttles.pkl",
    "data/03_primary/model_input_table.pkl",
    "data/08_reporting/report.pkl",
    "data_science.X_train.parquet",
    "data_science.X_test.parquet",
    "data_science.y_train.pkl",
    "data_science.y_test.pkl",
    "data_science.regressor.pkl",
}


# what a run of the modular project's DAG leaves under its data root
MODULAR_RUN_FILES = {
    "data/02_intermediate/clean_sales.parquet",
    "data/08_reporting/staging/summary.csv",  # conf/staging's path, not conf/base's
    "sales_features.parquet",
    *(f"{region}.{name}" for region in ("north", "south")
      for name in ("region_sales.parquet", "trend.pkl", "metrics.pkl")),
}
CONTROL_TASKS = {"start_mlflow_run", "end_mlflow_run"}


def _files(folder: Path) -> dict[str, bytes]:
    # importing the project's code compiles it: bytecode is not data
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@dataclass
class OwnProjects:
    settings: object
    airflow: AirflowClient
    starter: Path
    starter_before: dict[str, bytes]
    modular: Path
    modular_before: dict[str, bytes]
    modular_dag_file: Path
    modular_notes: list[str]
    modular_nodes: dict[str, str | None]  # Kedro node name -> its namespace
    modular_run_id: str


@pytest.fixture(scope="module")
def own_project_stack(tmp_path_factory, airflow_stack):
    """Both projects rendered into the package stack's DAGs folder, where the dag-processor
    finds them within seconds."""
    settings, client = airflow_stack
    state = tmp_path_factory.mktemp("own-project")
    project = shutil.copytree(STARTER, state / "starter_project")
    # the defaults, except that two runs may run at once (max_active_runs is 1 by default) and
    # no task is retried: the first two runs of a project both find no MLflow experiment and race
    # to create it, which the first task must survive on its first try
    (project / "conf/base/airflow.yml").write_text(
        "default:\n  max_active_runs: 2\n  retries: 0\n")
    dags = dags_folder(settings)
    (dag_file,) = render(project, ["__default__"], dags)
    assert "data_science.X_train: persisted" in dag_file.read_text()
    before = _files(project)
    # the second project, into the same folder, as it is (no airflow.yml: the defaults); its
    # files are taken before rendering, which must not write into it either (no conf/local)
    modular = shutil.copytree(MODULAR, state / "modular_project")
    modular_before = _files(modular)
    notes: list[str] = []
    (modular_dag_file,) = render(modular, ["__default__"], dags, env="staging",
                                 notify=notes.append)
    assert modular_dag_file.name == "demand_staging_dag.py"
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(modular)
    nodes = {node.name: node.namespace for node in pipelines["__default__"].nodes}
    # triggered now, so that its tasks fill the slots the starter's runs leave free (its test
    # waits for it): little added wall time
    client.wait_for_dag("demand", timeout=180)
    client.unpause("demand")
    run = client.trigger("demand", {}, run_id="modular_a")
    return OwnProjects(settings, client, project, before, modular, modular_before,
                       modular_dag_file, notes, nodes, run.run_id)


def _read(settings, key: str) -> bytes:
    return s3_client(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read()


def test_two_concurrent_runs_keep_their_data_apart_and_off_the_project(own_project_stack):
    stack = own_project_stack
    settings, airflow, project, before = (stack.settings, stack.airflow, stack.starter,
                                          stack.starter_before)
    airflow.wait_for_dag("starter", timeout=180)
    airflow.unpause("starter")
    # the two runs split the data differently: each must read back its own split
    runs = {0.25: airflow.trigger("starter", {}, run_id="own_project_a"),
            0.5: airflow.trigger("starter", {"data_science.test_size": 0.5},
                                 run_id="own_project_b")}
    finished = {size: airflow.wait_for_run("starter", run.run_id, timeout=900)
                for size, run in runs.items()}
    assert {run.state for run in finished.values()} == {"success"}
    # both were running at the same time
    spans = sorted((datetime.fromisoformat(run.start_date), datetime.fromisoformat(run.end_date))
                   for run in finished.values())
    assert spans[1][0] < spans[0][1], spans

    prefixes = set()
    for test_size, run in runs.items():
        (mlflow_run,) = runs_of_dag_run("starter", run.run_id, "starter")
        assert mlflow_run.info.status == "FINISHED"
        data_root = mlflow_run.data.tags["data_root"]
        assert data_root.startswith(f"s3://{settings.bucket}/runs/starter/")
        prefix = data_root.removeprefix(f"s3://{settings.bucket}/")
        prefixes.add(prefix)
        listed = s3_client(settings).list_objects_v2(Bucket=settings.bucket, Prefix=prefix + "/")
        keys = {o["Key"].removeprefix(prefix + "/") for o in listed.get("Contents", [])}
        assert keys == RUN_FILES
        table = pd.read_pickle(io.BytesIO(_read(settings, f"{prefix}/data/03_primary/"
                                                          "model_input_table.pkl")))
        x_test = pd.read_parquet(io.BytesIO(_read(settings, f"{prefix}/data_science.X_test"
                                                            ".parquet")))
        y_test = pd.read_pickle(io.BytesIO(_read(settings, f"{prefix}/data_science.y_test.pkl")))
        assert len(x_test) == len(y_test) == int(len(table) * test_size)
        assert isinstance(y_test, pd.Series)
        assert mlflow_run.data.params["data_science.test_size"] == str(test_size)
    assert len(prefixes) == 2

    # nothing was written into the project folder: no data/0x_ folders, no changed file
    assert _files(project) == before
    assert sorted(p.name for p in (project / "data").iterdir()) == ["01_raw"]


def _load_dag(path: Path):
    spec = importlib.util.spec_from_file_location(f"dag_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_a_project_of_another_shape_is_one_dag_of_its_nodes_and_one_mlflow_run(
        own_project_stack):
    stack = own_project_stack
    settings, airflow, project = stack.settings, stack.airflow, stack.modular
    nodes = stack.modular_nodes
    # what rendering assumed, each said once: Airflow's defaults, MLflow without kedro-mlflow
    defaults = ("no airflow.yml in conf/base or conf/staging: DAG 'demand' renders with "
                "defaults (schedule None, retries 1, owner airflow, tags [kedro]); see "
                "README.md, 'Airflow DAGs'")
    assert [n for n in stack.modular_notes if n.startswith("no airflow.yml")] == [defaults]
    assert any(n.startswith("settings.py turns kedro-mlflow's hooks off") and "'demand'" in n
               for n in stack.modular_notes), stack.modular_notes
    assert not any("mlflow.yml" in n for n in stack.modular_notes), stack.modular_notes

    # the Kedro nodes, named and unnamed, with and without a namespace
    assert {"add-calendar.v2", "north.fit-trend", "north.score.in-sample", "south.fit-trend",
            "south.score.in-sample"} < set(nodes)
    unnamed = {n for n in nodes if re.fullmatch(r"((north|south)\.)?[a-z_]+__[0-9a-f]{8}", n)}
    assert {re.sub(r"__[0-9a-f]{8}$", "", n) for n in unnamed} == {
        "clean_sales", "north.select_region", "south.select_region", "summarise"}
    assert len(nodes) == 9
    # one task per node, its id the node's name; a TaskGroup per namespace and nothing else
    dag = _load_dag(stack.modular_dag_file)
    assert dag.schedule is None and dag.max_active_runs == 1
    groups = {task.task_id: task.task_group.group_id for task in dag.tasks}
    assert groups == {**{name: namespace for name, namespace in nodes.items()},
                      **dict.fromkeys(CONTROL_TASKS)}
    assert {namespace for namespace in nodes.values()} == {None, "north", "south"}

    # the run the fixture triggered
    finished = airflow.wait_for_run("demand", stack.modular_run_id, timeout=900)
    assert finished.state == "success"
    tries = {ti.task_id: (ti.state, ti.try_number)
             for ti in airflow.task_instances("demand", finished.run_id)}
    assert tries == dict.fromkeys({*nodes, *CONTROL_TASKS}, ("success", 1))

    # one MLflow run, in the experiment named after the package (kedro-mlflow's default, which
    # the deployment keeps when the project turns kedro-mlflow off), every node task in it
    (mlflow_run,) = runs_of_dag_run("demand", finished.run_id, "demand")
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.tags["kedro.env"] == "staging"
    assert {f"task.{name}.seconds" for name in nodes} <= set(mlflow_run.data.metrics)
    assert mlflow_run.data.params == {}  # kedro-mlflow's hooks were off in the tasks

    data_root = mlflow_run.data.tags["data_root"]
    assert data_root == f"s3://{settings.bucket}/runs/demand/modular_a"
    prefix = data_root.removeprefix(f"s3://{settings.bucket}/")
    listed = s3_client(settings).list_objects_v2(Bucket=settings.bucket, Prefix=prefix + "/")
    assert {o["Key"].removeprefix(prefix + "/") for o in listed.get("Contents", [])} \
        == MODULAR_RUN_FILES
    clean = pd.read_parquet(io.BytesIO(_read(settings, f"{prefix}/data/02_intermediate/"
                                                       "clean_sales.parquet")))
    summary = pd.read_csv(io.BytesIO(_read(settings, f"{prefix}/data/08_reporting/staging/"
                                                     "summary.csv"))).set_index("region")
    # each namespace with its own params, staging's for south (base says degree 1)
    assert summary["degree"].to_dict() == {"north": 1, "south": 2}
    assert summary["days"].sum() == len(clean) == 298  # 301 raw rows, 3 dropped by cleaning

    # neither rendering nor the run wrote into the project folder
    assert _files(project) == stack.modular_before
    assert sorted(p.name for p in (project / "data").iterdir()) == ["01_raw"]
    assert sorted(p.name for p in (project / "conf").iterdir()) == ["base", "staging"]
