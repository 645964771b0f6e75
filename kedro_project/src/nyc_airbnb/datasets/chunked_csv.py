"""Read every CSV file under a prefix (local or s3://) as chunks of rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from nyc_airbnb.chunks import FrameChunks
from nyc_airbnb.datasets.csv_layout import check_layout, parser_error, undecodable_error
from nyc_airbnb.datasets.filesystem import open_filesystem

DATASET = "scoring_batch"


class BatchNotFoundError(DatasetError):
    """No input file under the prefix yet. Retryable: an upstream job may still deliver it."""


def _is_data_file(path: str, root: str, suffix: str) -> bool:
    relative = PurePosixPath(path).relative_to(PurePosixPath(root))
    # `_tmp-...`, `_SUCCESS`, `.hidden`, `_temporary/0/part-0.csv`: staging and marker files and
    # folders of writers, never data
    return relative.name.endswith(suffix) and not any(
        part.startswith(("_", ".")) for part in relative.parts
    )


class ChunkedCSVDataset(AbstractDataset[None, FrameChunks]):
    """All ``*.csv`` files under ``path`` (a folder or prefix), read lazily in chunks.

    Every column is read as text: the data contract coerces and checks types afterwards, the same
    way for every chunk (pandas would otherwise guess a column's type chunk by chunk). A file that
    is not valid UTF-8, not comma-separated, cut mid-row or otherwise not parseable fails with a
    ``DataValidationError`` naming it (its layout is checked before it is parsed: see
    ``nyc_airbnb.datasets.csv_layout``); a prefix without files fails with ``BatchNotFoundError``.

    Example (catalog.yml)::

        scoring_batch:
          type: nyc_airbnb.datasets.ChunkedCSVDataset
          path: s3://mlops/incoming/ds=${runtime_params:batch_date}
          chunk_rows: 50000
          part: 0    # with parts: n, this dataset is the files i, i + n, i + 2n...
          parts: 1
    """

    def __init__(
        self,
        path: str,
        chunk_rows: int = 50_000,
        suffix: str = ".csv",
        part: int = 0,
        parts: int = 1,
        load_args: dict[str, Any] | None = None,
        storage_options: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise DatasetError(f"chunk_rows must be at least 1, got {chunk_rows}")
        if not 0 <= int(part) < int(parts):
            raise DatasetError(f"part must be in [0, parts), got part={part}, parts={parts}")
        self._path = path.rstrip("/")
        self._part, self._parts = int(part), int(parts)
        self._chunk_rows = chunk_rows
        self._suffix = suffix
        self._load_args = {"dtype": "string", "encoding": "utf-8", **(load_args or {})}
        self._fs, self._root, _ = open_filesystem(self._path, storage_options, credentials)
        self.metadata = metadata

    def _files(self) -> list[str]:
        self._fs.invalidate_cache()
        if not self._fs.exists(self._root):
            return []
        if self._fs.isfile(self._root):
            return [self._root]
        return sorted(
            p for p in self._fs.find(self._root) if _is_data_file(p, self._root, self._suffix)
        )

    def _url(self, path: str) -> str:
        return self._fs.unstrip_protocol(path)

    def load(self) -> FrameChunks:
        files = self._files()
        if not files:
            raise BatchNotFoundError(
                f"No '*{self._suffix}' file under {self._path}: nothing to score for this date "
                "yet. Upstream jobs (or `python -m nyc_airbnb.batches`) write batches there."
            )
        # part i of n: every n-th file from the i-th, so n tasks can share a batch (fan-out);
        # a part may get no file when the batch has fewer files than parts
        mine = files[self._part :: self._parts]
        urls = [self._url(f) for f in mine]
        return FrameChunks(lambda: self._read(mine), sources=urls)

    def _read(self, files: list[str]) -> Iterator[pd.DataFrame]:
        for path in files:
            url = self._url(path)
            check_layout(self._fs, path, url, DATASET, self._load_args)
            with self._fs.open(path, "rb") as stream:
                try:
                    reader = pd.read_csv(stream, chunksize=self._chunk_rows, **self._load_args)
                    with reader:
                        rows = 0
                        for chunk in reader:
                            chunk.attrs["source"] = url
                            chunk.attrs["first_row"] = rows
                            rows += len(chunk)
                            yield chunk
                except pd.errors.ParserError as err:
                    raise parser_error(err, url, DATASET) from None
                except pd.errors.EmptyDataError:
                    # a 0-byte file: no header, no rows; the batch check counts it as empty
                    continue
                except UnicodeDecodeError as err:
                    raise undecodable_error(
                        self._fs, path, url, DATASET, self._load_args, err) from None

    def save(self, data: None) -> None:
        raise DatasetError("ChunkedCSVDataset is read-only: batches are written by upstream jobs")

    def _exists(self) -> bool:
        return bool(self._files())

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "chunk_rows": self._chunk_rows, "suffix": self._suffix,
                "part": f"{self._part}/{self._parts}"}
