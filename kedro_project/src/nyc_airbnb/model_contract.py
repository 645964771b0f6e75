"""The interface of the logged MLflow model: signature and input example.

Derived from the listing contract in ``nyc_airbnb.validation`` so the MLflow signature, the pandera
checks and the scoring input never disagree. Passed to ``pipeline_ml_factory(log_model_kwargs=...)``;
kedro-mlflow's hook hands them to ``mlflow.pyfunc.log_model``.
"""

from __future__ import annotations

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from nyc_airbnb.validation import (
    ID_COLUMN,
    LISTING_COLUMNS,
    MODEL_INPUT_COLUMNS,
    PREDICTION_COLUMN,
)

_MLFLOW_TYPES = {"int64": "long", "float64": "double", "str": "string"}


def model_signature() -> ModelSignature:
    """Input: the model columns of a raw listing row (price not needed). Output: id, prediction.

    Every input column is required (it may hold nulls where the listing contract allows it).
    """
    inputs = Schema(
        [ColSpec(_MLFLOW_TYPES[LISTING_COLUMNS[c].dtype], c) for c in MODEL_INPUT_COLUMNS]
    )
    outputs = Schema([ColSpec("long", ID_COLUMN), ColSpec("double", PREDICTION_COLUMN)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def model_input_example() -> pd.DataFrame:
    """Two raw-schema listings (one never reviewed), typed as the signature expects."""
    example = pd.DataFrame(
        {
            "id": [9138664, 31444015],
            "name": ["Private Lg Room 15 min to Manhattan", "TIME SQUARE CHARMING ONE BED, NYC"],
            "neighbourhood_group": ["Queens", "Manhattan"],
            "latitude": [40.74271, 40.76682],
            "longitude": [-73.92493, -73.98878],
            "room_type": ["Private room", "Entire home/apt"],
            "minimum_nights": [2, 3],
            "number_of_reviews": [6, 0],
            "last_review": ["2019-05-26", None],
            "reviews_per_month": [0.13, None],
            "calculated_host_listings_count": [1, 1],
            "availability_365": [5, 188],
        }
    )
    return example.astype({c: LISTING_COLUMNS[c].dtype for c in MODEL_INPUT_COLUMNS})[
        MODEL_INPUT_COLUMNS
    ]
