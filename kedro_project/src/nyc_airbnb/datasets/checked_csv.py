"""A CSV file read whole (the raw training file), its layout checked before pandas parses it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from kedro.io.core import get_protocol_and_path
from kedro_datasets.pandas import CSVDataset

from nyc_airbnb.datasets.csv_layout import check_layout, parser_error


class CheckedCSVDataset(CSVDataset):
    """``pandas.CSVDataset`` that fails with a ``CSVLayoutError`` (a ``DataValidationError``
    naming the file, the problem and the fix) when the file is not comma-separated, was cut
    mid-row or cannot be parsed, instead of pandas' raw ``ParserError`` or silent nulls.

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
        except pd.errors.ParserError as err:
            raise parser_error(err, self._url, self._name) from None
