"""A table read or written in chunks of rows, so memory stays bounded as batches grow."""

from __future__ import annotations

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
