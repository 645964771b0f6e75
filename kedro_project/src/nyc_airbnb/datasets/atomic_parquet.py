"""One Parquet file per partition, streamed chunk by chunk and published in one step."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io import AbstractDataset, DatasetError

from nyc_airbnb.chunks import FrameChunks

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
        self._fs, self._path = fsspec.core.url_to_fs(
            filepath, **{**(storage_options or {}), **(credentials or {})}
        )
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        self._local = "file" in protocols
        self._load_args = {"batch_size": 50_000, **(load_args or {})}
        self._save_args = {"compression": "snappy", **(save_args or {})}
        self.metadata = metadata

    def save(self, data: pd.DataFrame | Iterable[pd.DataFrame]) -> None:
        chunks = [data] if isinstance(data, pd.DataFrame) else data
        started = time.perf_counter()
        spool_dir = os.path.dirname(self._path) if self._local else None
        created = _make_dirs(spool_dir) if spool_dir else []
        fd, spool = tempfile.mkstemp(prefix="_tmp-", suffix=".parquet", dir=spool_dir)
        os.close(fd)
        published = False
        try:
            rows = self._write_spool(chunks, spool)
            if self._local:
                os.replace(spool, self._path)  # atomic within one file system
            else:
                self._fs.put_file(spool, self._path)
            published = True
        finally:
            if os.path.exists(spool):
                os.unlink(spool)
            if not published:
                _remove_empty_dirs(created)  # no empty partition folder for a failed save
        seconds = time.perf_counter() - started
        log.info("Wrote %d rows to %s in %.1f s (%.0f rows/s)", rows, self._filepath, seconds,
                 rows / seconds if seconds else float("nan"))

    def _write_spool(self, chunks: Iterable[pd.DataFrame], spool: str) -> int:
        writer: pq.ParquetWriter | None = None
        rows = 0
        try:
            for chunk in chunks:
                table = pa.Table.from_pandas(chunk, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(spool, table.schema, **self._save_args)
                else:
                    table = table.cast(writer.schema)
                writer.write_table(table)
                rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise DatasetError(f"Nothing to write to {self._filepath}: no chunk of rows was given")
        return rows

    def load(self) -> FrameChunks:
        if not self._exists():
            raise DatasetError(f"No Parquet file at {self._filepath}")

        def chunks():
            with self._fs.open(self._path, "rb") as stream:
                for batch in pq.ParquetFile(stream).iter_batches(**self._load_args):
                    yield batch.to_pandas()

        return FrameChunks(chunks, sources=[self._filepath])

    def _exists(self) -> bool:
        self._fs.invalidate_cache()
        return self._fs.isfile(self._path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "save_args": self._save_args}
