"""One Parquet file per partition, streamed chunk by chunk and published in one step."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from nyc_airbnb.chunks import FrameChunks
from nyc_airbnb.datasets.filesystem import open_filesystem

log = logging.getLogger(__name__)


def _make_dirs(path: str) -> list[str]:
    """``os.makedirs(path, exist_ok=True)``; returns the folders it created, deepest first."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        os.makedirs(folder, exist_ok=True)
    return missing


def _remove_empty_dirs(folders: list[str]) -> None:
    for folder in folders:  # deepest first
        try:
            os.rmdir(folder)
        except OSError:  # not empty (another writer) or already gone
            return


class AtomicParquetDataset(AbstractDataset[Iterable[pd.DataFrame], FrameChunks]):
    """A Parquet file that readers see whole or not at all, however large.

    ``save`` takes a DataFrame or any iterable of DataFrames (e.g. ``FrameChunks``). Chunks are
    appended as row groups to a local spool file, so memory holds one chunk at a time; the file is
    then published with a single rename (local) or a single S3 PUT / multipart upload (S3 makes the
    object visible only once complete). Saving again to the same path replaces the file, so a
    re-run of a partition never duplicates rows. ``load`` returns the row groups as chunks.

    Example (catalog.yml)::

        scored_batch:
          type: nyc_airbnb.datasets.AtomicParquetDataset
          filepath: s3://mlops/predictions/ds=${runtime_params:batch_date}/predictions.parquet
    """

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = filepath
        self._fs, self._path, self._local = open_filesystem(filepath, storage_options, credentials)
        self._load_args = {"batch_size": 50_000, **(load_args or {})}
        self._save_args = {"compression": "snappy", **(save_args or {})}
        self.metadata = metadata

    def save(self, data: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        write_atomically(data, self._fs, self._path, self._local, self._filepath,
                         self._save_args)

    def load(self) -> FrameChunks:
        if not self._exists():
            raise DatasetError(f"No Parquet file at {self._filepath}")
        return _row_groups(self._fs, [self._path], [self._filepath], self._load_args)

    def _exists(self) -> bool:
        self._fs.invalidate_cache()
        return self._fs.isfile(self._path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "save_args": self._save_args}


class ParquetPartsDataset(AbstractDataset[Iterable[pd.DataFrame], FrameChunks]):
    """A table written in parts by parallel tasks and read back whole.

    ``save`` writes this task's part, ``<path>/part-<part>.parquet`` (atomically, as
    ``AtomicParquetDataset``); ``load`` returns the row groups of parts ``0 .. parts - 1``, in
    order, and fails naming any part that is missing (a task that did not write), never reading
    a part beyond them. A fanned-out Kedro node saves one part per Airflow task (``part`` and
    ``parts`` from runtime params); the next node loads them all.

    Example (catalog.yml)::

        scored_parts:
          type: nyc_airbnb.datasets.ParquetPartsDataset
          path: ${runtime_params:data_root}/07_model_output/scored_parts
          part: ${runtime_params:batch_part, 0}
          parts: ${runtime_params:batch_parts, 1}
    """

    def __init__(
        self,
        path: str,
        part: int = 0,
        parts: int = 1,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not 0 <= int(part) < int(parts):
            raise DatasetError(f"part must be in [0, parts), got part={part}, parts={parts}")
        self._url = path.rstrip("/")
        self._part, self._n_parts = int(part), int(parts)
        self._fs, self._root, self._local = open_filesystem(self._url, storage_options,
                                                            credentials)
        self._load_args = {"batch_size": 50_000, **(load_args or {})}
        self._save_args = {"compression": "snappy", **(save_args or {})}
        self.metadata = metadata

    def _part_path(self, part: int) -> str:
        return f"{self._root}/part-{part:05d}.parquet"

    def save(self, data: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        write_atomically(data, self._fs, self._part_path(self._part), self._local,
                         f"{self._url}/part-{self._part:05d}.parquet", self._save_args)

    def _missing(self) -> list[int]:
        self._fs.invalidate_cache()
        return [i for i in range(self._n_parts) if not self._fs.isfile(self._part_path(i))]

    def load(self) -> FrameChunks:
        missing = self._missing()
        if missing:
            raise DatasetError(
                f"Parts {missing} of {self._n_parts} are missing under {self._url}: the task "
                "that writes each part must succeed first"
            )
        paths = [self._part_path(i) for i in range(self._n_parts)]
        return _row_groups(self._fs, paths, [self._fs.unstrip_protocol(p) for p in paths],
                           self._load_args)

    def _exists(self) -> bool:
        return not self._missing()

    def _describe(self) -> dict[str, Any]:
        return {"path": self._url, "part": f"{self._part}/{self._n_parts}"}


def _row_groups(fs, paths: list[str], urls: list[str], load_args: dict) -> FrameChunks:
    def chunks():
        for path in paths:
            with fs.open(path, "rb") as stream:
                for batch in pq.ParquetFile(stream).iter_batches(**load_args):
                    yield batch.to_pandas()

    return FrameChunks(chunks, sources=urls)


def write_atomically(
    data: pd.DataFrame | Iterable[pd.DataFrame],
    fs,
    path: str,
    local: bool,
    url: str,
    save_args: dict[str, Any],
) -> None:
    """Stream chunks to a local spool Parquet file, then publish it at ``path`` in one step."""
    chunks = [data] if isinstance(data, pd.DataFrame) else data
    started = time.perf_counter()
    spool_dir = os.path.dirname(path) if local else None
    created = _make_dirs(spool_dir) if spool_dir else []
    fd, spool = tempfile.mkstemp(prefix="_tmp-", suffix=".parquet", dir=spool_dir)
    os.close(fd)
    published = False
    try:
        rows = _write_spool(chunks, spool, url, save_args)
        if local:
            os.replace(spool, path)  # atomic within one file system
        else:
            fs.put_file(spool, path)
        published = True
    finally:
        if os.path.exists(spool):
            os.unlink(spool)
        if not published:
            _remove_empty_dirs(created)  # no empty partition folder for a failed save
    seconds = time.perf_counter() - started
    log.info("Wrote %d rows to %s in %.1f s (%.0f rows/s)", rows, url, seconds,
             rows / seconds if seconds else float("nan"))


def _write_spool(chunks: Iterable[pd.DataFrame], spool: str, url: str, save_args: dict) -> int:
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(spool, table.schema, **save_args)
            else:
                table = table.cast(writer.schema)
            writer.write_table(table)
            rows += len(chunk)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise DatasetError(f"Nothing to write to {url}: no chunk of rows was given")
    return rows
