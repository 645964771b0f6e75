"""Reading Parquet through fsspec hands arrow bytes it owns, never a Python file object (whose
last reference, dropped by an arrow thread while the interpreter exits, aborts the process)."""

from __future__ import annotations

import pandas as pd
import pytest
from fsspec.implementations.local import LocalFileSystem

from kedro_mlops.local.parquet_read import read_parquet


class RecordingFileSystem(LocalFileSystem):
    """The local filesystem, recording how a reader asked for the file."""

    cachable = False  # a new instance, and record, per test

    def __init__(self):
        super().__init__()
        self.asked: list[str] = []
        self._in_cat = False

    def _open(self, path, mode="rb", **kwargs):
        if not self._in_cat:  # fsspec's own cat_file opens the file: not a handle for arrow
            self.asked.append(f"open {mode}")
        return super()._open(path, mode=mode, **kwargs)

    def cat_file(self, path, start=None, end=None, **kwargs):
        self.asked.append("cat_file")
        self._in_cat = True
        try:
            return super().cat_file(path, start=start, end=end, **kwargs)
        finally:
            self._in_cat = False


@pytest.fixture
def listings(tmp_path):
    frame = pd.DataFrame({"id": [3, 1, 2], "borough": ["Queens", None, "Bronx"],
                          "price": [80.0, 120.5, 99.0]}, index=[7, 8, 9])
    path = tmp_path / "predictions.parquet"
    frame.to_parquet(path)
    return str(path)


@pytest.mark.parametrize("kwargs", [{}, {"columns": ["borough"]},
                                    {"filters": [("id", "==", 2)]}])
def test_it_reads_what_pandas_reads(listings, kwargs):
    fs = RecordingFileSystem()
    pd.testing.assert_frame_equal(read_parquet(fs, listings, **kwargs),
                                  pd.read_parquet(listings, **kwargs))


def test_the_file_is_fetched_whole_once_and_never_opened_for_arrow(listings):
    fs = RecordingFileSystem()
    read_parquet(fs, listings, columns=["id"])
    assert fs.asked == ["cat_file"]


def test_a_missing_file_names_its_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.parquet"):
        read_parquet(RecordingFileSystem(), str(tmp_path / "nowhere.parquet"))
