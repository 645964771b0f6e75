"""Where a DAG run keeps its data (kedro_mlops.config): one prefix per DAG and run."""

from __future__ import annotations

import pytest

from kedro_mlops.config import KedroProject, lake_root, run_data_root


@pytest.fixture(autouse=True)
def _no_roots(monkeypatch):
    for name in ("MLOPS_RUNS_ROOT", "MLOPS_LAKE_ROOT", "MLOPS_BUCKET", "KEDRO_PROJECT_PATH"):
        monkeypatch.delenv(name, raising=False)


def test_the_run_root_is_per_dag_and_run_under_the_bucket(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET", "mlops")
    assert run_data_root("nyc_airbnb_training", "manual__2026-11-27T10:00:00+00:00") == \
        "s3://mlops/runs/nyc_airbnb_training/manual__2026-11-27T10_00_00_00_00"


def test_characters_s3_and_fsspec_handle_badly_become_underscores(monkeypatch):
    monkeypatch.setenv("MLOPS_RUNS_ROOT", "/tmp/runs/")
    assert run_data_root("a dag/x", "scheduled__2026-01-01T00:00:00+00:00") == \
        "/tmp/runs/a_dag_x/scheduled__2026-01-01T00_00_00_00_00"
    # what Airflow's run ids and DAG ids already use is kept
    assert run_data_root("d.x-y", "backfill__k=v") == "/tmp/runs/d.x-y/backfill__k=v"


def test_two_runs_of_one_dag_never_share_a_root(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET", "mlops")
    assert run_data_root("d", "manual__1") != run_data_root("d", "manual__2")


def test_the_runs_root_wins_over_the_bucket(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET", "mlops")
    monkeypatch.setenv("MLOPS_RUNS_ROOT", "s3://other/prefix")
    assert run_data_root("d", "r") == "s3://other/prefix/d/r"


def test_without_a_root_or_bucket_the_message_says_what_to_set():
    with pytest.raises(RuntimeError, match="Set MLOPS_BUCKET"):
        run_data_root("d", "r")
    with pytest.raises(RuntimeError, match="set MLOPS_BUCKET"):
        lake_root()


def test_the_lake_root(monkeypatch):
    monkeypatch.setenv("MLOPS_BUCKET", "mlops")
    assert lake_root() == "s3://mlops"
    monkeypatch.setenv("MLOPS_LAKE_ROOT", "/data/lake/")
    assert lake_root() == "/data/lake"


def test_a_project_is_found_next_to_its_dag_file_or_where_the_environment_says(
        tmp_path, monkeypatch):
    (tmp_path / "dags").mkdir()
    (tmp_path / "proj").mkdir()
    dag_file = str(tmp_path / "dags" / "x_dag.py")
    project = KedroProject.next_to(dag_file, "../proj", package_name="x")
    assert project.project_path == str((tmp_path / "proj").resolve())
    monkeypatch.setenv("KEDRO_PROJECT_PATH", str(tmp_path / "elsewhere"))
    assert KedroProject.next_to(dag_file, "../proj", package_name="x").project_path == \
        str((tmp_path / "elsewhere").resolve())
