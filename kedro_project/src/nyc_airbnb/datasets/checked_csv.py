"""A CSV file read whole (the raw training file), its layout checked before pandas parses it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io import DatasetError
from kedro.io.core import get_protocol_and_path
from kedro_datasets.pandas import CSVDataset

from nyc_airbnb.datasets.csv_layout import (
    CSVLayoutError,
    check_layout,
    parser_error,
    undecodable_error,
)
from nyc_airbnb.validation import ValidationFailure


class CheckedCSVDataset(CSVDataset):
    """``pandas.CSVDataset`` that fails with a ``CSVLayoutError`` (a ``DataValidationError``
    naming the file, the problem and the fix) when the file is empty (0 bytes), not text in the
    configured encoding, not comma-separated, was cut mid-row or cannot be parsed, instead of
    pandas' raw ``ParserError``, ``EmptyDataError``, ``UnicodeDecodeError`` or silent nulls.

    Example (catalog.yml)::

        raw_listings:
          type: nyc_airbnb.datasets.CheckedCSVDataset
          filepath: data/01_raw/nyc_airbnb_2019_sample.csv
          name: raw_listings   # the dataset named in error messages
    """

    def __init__(self, *, filepath: str, name: str = "csv", **kwargs: Any) -> None:
        super().__init__(filepath=filepath, **kwargs)
        self._name = name
        self._url = str(filepath)

    def load(self) -> pd.DataFrame:
        _, path = get_protocol_and_path(str(self._get_load_path()))
        check_layout(self._fs, path, self._url, self._name, self._load_args)
        try:
            return super().load()
        except DatasetError as err:
            # pandas' error, wrapped by the parent's load in a DatasetError
            raise self._reworded(err.__cause__, path) or err from None

    def _reworded(self, cause: BaseException | None, path: str) -> CSVLayoutError | None:
        if isinstance(cause, pd.errors.ParserError):
            return parser_error(cause, self._url, self._name)
        if isinstance(cause, pd.errors.EmptyDataError):
            # a training file has one delivery: an empty one is a failed export, not "no rows
            # today" as an extra file of a scoring batch may be
            return CSVLayoutError(self._name, [ValidationFailure(None, (
                f"file {self._url} is empty (0 bytes): no header and no rows; deliver the "
                "complete file again"
            ))])
        if isinstance(cause, UnicodeDecodeError):
            return undecodable_error(self._fs, path, self._url, self._name, self._load_args, cause)
        return None
