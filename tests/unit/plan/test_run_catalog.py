"""A task's catalog at run time: the datasets the plan moves are re-created under the DAG run's
data root, the others are left as the catalog made them (end to end: tests/e2e/dag_runs/test_own_project.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import yaml
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog

from kedro_mlops.plan.run_catalog import RunScopedCatalog
from kedro_mlops.runtime.datasets import RunScopedDataset

STARTER = Path(__file__).parents[2] / "fixtures" / "starter_project"


def starter_config() -> dict:
    """The starter's catalog config with its relative paths made absolute, as Kedro's context
    does."""
    config = yaml.safe_load((STARTER / "conf/base/catalog.yml").read_text())
    for entry in config.values():
        entry["filepath"] = str(STARTER / entry["filepath"])
    return config


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_moved_datasets_live_under_the_run_data_root(tmp_path):
    bootstrap_project(STARTER)  # Kedro's logging config: after it, to hear what the hook logs
    heard, root = Records(), logging.getLogger()
    level = root.level
    root.addHandler(heard)
    root.setLevel(logging.INFO)
    try:
        catalog = DataCatalog.from_config(starter_config())
        data_root = str(tmp_path / "runs" / "starter" / "run_1")
        RunScopedCatalog("__default__", str(STARTER), data_root,
                         str(tmp_path / "scratch")).after_catalog_created(catalog)
        # each move is one INFO line saying where, not Kedro's "Replacing dataset" WARNING too
        moved = [r for r in heard.records if "model_input_table" in r.getMessage()]
        assert [r.levelname for r in moved] == ["INFO"]
        catalog["model_input_table"] = catalog["model_input_table"]  # Kedro's own: intact
        assert heard.records[-1].getMessage() == "Replacing dataset 'model_input_table'"
    finally:
        root.removeHandler(heard)
        root.setLevel(level)

    remapped = catalog.get("model_input_table")
    assert type(remapped).__name__ == "PickleDataset"  # the catalog's type, moved
    assert str(remapped._filepath) == f"{data_root}/data/03_primary/model_input_table.pkl"
    persisted = catalog.get("data_science.X_train")
    assert isinstance(persisted, RunScopedDataset)
    # raw inputs are read where the catalog says
    assert str(catalog.get("companies")._filepath) == str(STARTER / "data/01_raw/companies.csv")

    frame = pd.DataFrame({"engines": [1, 2]})
    catalog.save("model_input_table", frame)
    catalog.save("data_science.X_train", frame)
    written = sorted(str(p.relative_to(data_root)) for p in Path(data_root).rglob("*")
                     if p.is_file())
    assert written == ["data/03_primary/model_input_table.pkl", "data_science.X_train.parquet"]
    assert not (STARTER / "data" / "03_primary").exists()
    pd.testing.assert_frame_equal(catalog.load("data_science.X_train"), frame)


def test_mlflow_artifact_files_go_to_the_task_scratch_folder_and_load_from_the_run(
        tmp_path, local_mlflow):
    """Two DAG runs at once must not write one local file before each uploads it: the local
    file of an MlflowArtifactDataset goes to the task's own scratch folder, and another task
    (another scratch folder, maybe another machine) reads it back from the DAG run's MLflow run."""
    import mlflow

    bootstrap_project(STARTER)
    config = starter_config()
    config["model_input_table"] = {
        "type": "kedro_mlflow.io.artifacts.MlflowArtifactDataset",
        "artifact_path": "tables",
        "dataset": config["model_input_table"],
    }
    data_root = str(tmp_path / "runs" / "starter" / "run_1")
    frame = pd.DataFrame({"engines": [1, 2]})
    with mlflow.start_run() as run:
        writer = DataCatalog.from_config(config)
        RunScopedCatalog("__default__", str(STARTER), data_root,
                         str(tmp_path / "scratch_1")).after_catalog_created(writer)
        writer.save("model_input_table", frame)
        reader = DataCatalog.from_config(config)
        RunScopedCatalog("__default__", str(STARTER), data_root,
                         str(tmp_path / "scratch_2")).after_catalog_created(reader)
        # the run's own file: another run's copy on this machine would differ
        (tmp_path / "scratch_2" / "data/03_primary/model_input_table.pkl").write_bytes(b"other")
        pd.testing.assert_frame_equal(reader.load("model_input_table"), frame)

    assert (tmp_path / "scratch_1" / "data/03_primary/model_input_table.pkl").is_file()
    assert not (STARTER / "data" / "03_primary").exists()
    logged = local_mlflow.list_artifacts(run.info.run_id, "tables")
    assert [a.path for a in logged] == ["tables/model_input_table.pkl"]
