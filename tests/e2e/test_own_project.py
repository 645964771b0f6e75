"""A user's own Kedro project, shaped like a starter, rendered and run by the real scheduler.

The starter fixture hands MemoryDatasets between its nodes and writes its intermediate data to
paths relative to the project: two DAG runs at once must each keep theirs under their own data
root in S3, each in its own MLflow run, and leave the project folder as it was.
"""

from __future__ import annotations

import io
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from kedro_mlops.airflow_client import AirflowClient
from kedro_mlops.render import render
from kedro_mlops.stack.s3 import s3_client

from .airflow_stack import running_airflow_stack
from .conftest import make_test_settings
from .mlflow_queries import runs_of_dag_run

pytestmark = pytest.mark.e2e

STARTER = Path(__file__).parents[1] / "fixtures" / "starter_project"
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


def _files(folder: Path) -> dict[str, bytes]:
    # importing the project's code compiles it: bytecode is not data
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def own_project_stack(tmp_path_factory, system_postgres):
    state = tmp_path_factory.mktemp("own-project")
    project = shutil.copytree(STARTER, state / "starter_project")
    # the defaults, except that two runs may run at once (max_active_runs is 1 by default) and
    # no task is retried: the first two runs of a project both find no MLflow experiment and race
    # to create it, which the first task must survive on its first try
    (project / "conf/base/airflow.yml").write_text(
        "default:\n  max_active_runs: 2\n  retries: 0\n")
    dags = state / "dags"
    (dag_file,) = render(project, ["__default__"], dags)
    assert "data_science.X_train: persisted" in dag_file.read_text()
    before = _files(project)
    settings = make_test_settings(state, postgres_url=system_postgres)
    with (running_airflow_stack(settings, dags),
          AirflowClient.for_local_stack(state, port=settings.airflow_port) as client):
        yield settings, client, project, before


def _read(settings, key: str) -> bytes:
    return s3_client(settings).get_object(Bucket=settings.bucket, Key=key)["Body"].read()


def test_two_concurrent_runs_keep_their_data_apart_and_off_the_project(own_project_stack):
    settings, airflow, project, before = own_project_stack
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
