"""A table read or written in chunks of rows, so memory stays bounded as batches grow."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

import pandas as pd


class FrameChunks(Iterable[pd.DataFrame]):
    """A re-iterable sequence of DataFrame chunks: each ``iter()`` starts again from the source.

    Datasets return one on load (nothing is read until it is iterated) and accept one on save;
    nodes map over it lazily. It is deliberately not a generator: Kedro treats a node that returns
    a generator as a stream of separate saves, while a ``FrameChunks`` reaches the dataset whole.

    Args:
        open_chunks: called on every iteration; returns an iterator of DataFrames.
        sources: where the rows come from (file URLs), for reports and error messages.
    """

    def __init__(
        self, open_chunks: Callable[[], Iterator[pd.DataFrame]], sources: Iterable[str] = ()
    ) -> None:
        self._open = open_chunks
        self.sources = list(sources)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return iter(self._open())

    def map(self, function: Callable[[pd.DataFrame], pd.DataFrame]) -> FrameChunks:
        """Apply ``function`` to each chunk, lazily."""
        return FrameChunks(lambda: (function(chunk) for chunk in self), self.sources)

    @classmethod
    def of(cls, frame: pd.DataFrame, chunk_rows: int) -> FrameChunks:
        """An in-memory frame cut into chunks (tests, benchmarks)."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        return cls(
            lambda: (frame.iloc[i : i + chunk_rows] for i in range(0, len(frame), chunk_rows))
        )

    def to_frame(self) -> pd.DataFrame:
        """All chunks in one DataFrame (only for data known to be small)."""
        chunks = list(self)
        return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame()


class RowProgress:
    """Logs one line per chunk of a long task (rows done, elapsed, rate), so a task log shows
    the work moving; ``done()`` logs the total."""

    def __init__(self, logger, what: str) -> None:
        self._log = logger
        self._what = what
        self._started = time.perf_counter()
        self.rows = 0
        self.chunks = 0

    def add(self, rows: int) -> None:
        self.rows += rows
        self.chunks += 1
        self._line(f"chunk {self.chunks}")

    def done(self) -> None:
        self._line(f"done, {self.chunks} chunk(s)")

    def _line(self, where: str) -> None:
        elapsed = time.perf_counter() - self._started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        self._log.info("%s: %s rows, %s, %.1f s elapsed, %s rows/s", self._what,
                       f"{self.rows:,}", where, elapsed, f"{rate:,.0f}")
