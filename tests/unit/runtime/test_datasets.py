"""The dataset a MemoryDataset between tasks becomes: Parquet for a DataFrame, pickle otherwise,
written whole or not at all (on S3 this is checked end to end, tests/e2e/dag_runs/test_own_project.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from kedro_mlops.runtime.datasets import RunScopedDataset


def test_a_dataframe_is_parquet_and_loads_back_equal(tmp_path):
    frame = pd.DataFrame({"engines": [1, 2, 3], "name": ["a", "b", None]}, index=[10, 11, 12])
    dataset = RunScopedDataset(str(tmp_path / "run" / "data_science.X_train"))
    assert not dataset.exists()
    dataset.save(frame)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["data_science.X_train.parquet"]
    assert (tmp_path / "run" / "data_science.X_train.parquet").read_bytes()[:4] == b"PAR1"
    pd.testing.assert_frame_equal(dataset.load(), frame)
    assert dataset.exists()


@pytest.mark.parametrize("value", [
    pd.Series([1.0, 2.0], name="price"),
    np.array([1.5, -2.0]),
    {"mae": 1.0},
    # a frame Parquet cannot hold as is (integer column names): pickled rather than altered
    pd.DataFrame({0: [1], 1: [2]}),
])
def test_anything_else_is_pickled_and_loads_back_equal(tmp_path, value):
    dataset = RunScopedDataset(str(tmp_path / "y_train"))
    dataset.save(value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y_train.pkl"]
    loaded = dataset.load()
    assert type(loaded) is type(value)
    assert repr(loaded) == repr(value)


def test_a_save_of_another_type_replaces_the_earlier_file(tmp_path):
    dataset = RunScopedDataset(str(tmp_path / "x"))
    dataset.save(pd.DataFrame({"a": [1]}))
    dataset.save([1, 2])  # a retried task whose node now returns a list
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pkl"]
    assert dataset.load() == [1, 2]


def test_a_failed_save_leaves_no_file_and_keeps_the_earlier_one(tmp_path):
    dataset = RunScopedDataset(str(tmp_path / "regressor"))
    dataset.save({"coef": 1})
    with pytest.raises(DatasetError):
        dataset.save(lambda x: x)  # cannot be pickled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regressor.pkl"]  # no temporary file
    assert dataset.load() == {"coef": 1}


def test_loading_what_no_task_saved_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=r"Nothing saved at .*/missing\.parquet or \.pkl"):
        RunScopedDataset(str(tmp_path / "missing")).load()
