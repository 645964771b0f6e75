"""The dataset a MemoryDataset becomes when it crosses a task boundary (see ``kedro_mlops.plan.dag_plan``).

What a node returns is only known when it returns, so the format is chosen at save time: a
pandas DataFrame is written as Parquet (typed, compact, readable by any tool), anything else as a
pickle. The extension records which; a load takes whichever file is there.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from typing import Any

import fsspec
from kedro.io import AbstractDataset, DatasetError

FORMATS = {".parquet": "parquet", ".pkl": "pickle"}


def _parquet_bytes(data: Any) -> bytes | None:
    """The frame as Parquet, or None when it is not a DataFrame Parquet can hold exactly
    (non-string column names, object columns of mixed types)."""
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        return None
    if not all(isinstance(column, str) for column in data.columns):
        return None  # Parquet would load them back as strings
    buffer = io.BytesIO()
    try:
        data.to_parquet(buffer)
    except Exception:  # noqa: BLE001 - pyarrow's and pandas' errors vary by type
        return None
    return buffer.getvalue()


class RunScopedDataset(AbstractDataset[Any, Any]):
    """``<filepath>.parquet`` for a pandas DataFrame, ``<filepath>.pkl`` for anything else.

    Written whole or not at all: locally to a temporary file renamed into place, on S3 as one
    PUT (an object appears only once its upload completes), so a retried task never reads half
    a file. A save removes the other format's file, left by an earlier try that returned
    another type.
    """

    def __init__(self, filepath: str, metadata: dict | None = None) -> None:
        self._filepath = filepath.rstrip("/")
        self._fs, self._path = fsspec.core.url_to_fs(self._filepath)
        self._local = self._fs.protocol in ("file", ("file", "local"), "local")
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath}

    def _target(self, ext: str) -> str:
        return self._path + ext

    def _write(self, path: str, payload: bytes) -> None:
        if self._local:
            folder = os.path.dirname(path)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(payload)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        else:
            self._fs.pipe_file(path, payload)

    def _save(self, data: Any) -> None:
        payload = _parquet_bytes(data)
        ext = ".parquet"
        if payload is None:
            payload, ext = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL), ".pkl"
        self._write(self._target(ext), payload)
        for other in FORMATS:
            if other != ext and self._fs.exists(self._target(other)):
                self._fs.rm(self._target(other))
        self._fs.invalidate_cache()

    def _saved_as(self) -> str | None:
        self._fs.invalidate_cache()
        return next((ext for ext in FORMATS if self._fs.exists(self._target(ext))), None)

    def _load(self) -> Any:
        ext = self._saved_as()
        if ext is None:
            raise DatasetError(
                f"Nothing saved at {self._filepath}.parquet or .pkl: the task that writes this "
                "dataset has not succeeded in this DAG run.")
        with self._fs.open(self._target(ext), "rb") as file:
            if ext == ".parquet":
                import pandas as pd

                return pd.read_parquet(file)
            # only this DAG run's own task wrote it
            return pickle.load(file)

    def _exists(self) -> bool:
        return self._saved_as() is not None


def fsspec_path(dataset) -> tuple[Any, str]:
    """The filesystem and path behind a file-backed Kedro dataset (kedro-datasets keeps them in
    private attributes; no public accessor exists)."""
    from kedro.io.core import get_filepath_str

    return dataset._fs, get_filepath_str(dataset._filepath, dataset._protocol)
