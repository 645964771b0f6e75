"""Node of the scoring pipeline. Pure: the model arrives as a loaded object from the catalog."""

from __future__ import annotations

from typing import Any

import pandas as pd

from nyc_airbnb.validation import (
    ID_COLUMN,
    MODEL_INPUT_COLUMNS,
    PREDICTION_COLUMN,
    PRICE_COLUMN,
    validate_model_input,
)


def score_listings(
    listings: pd.DataFrame, registered_model: Any, schema_params: dict[str, Any]
) -> pd.DataFrame:
    """Predict the price of each listing of the batch.

    The batch is validated (and its dtypes coerced) with the same contract as the model's own
    inference pipeline, so a bad batch fails here, before the model runs and before any output is
    saved. ``registered_model`` is a ``nyc_airbnb.datasets.RegisteredModel`` (anything with
    ``predict``, ``name``, ``alias``, ``version``, ``run_id``).

    Returns:
        id, predicted_price, price (when the batch has it), model_name, model_version,
        model_alias, model_run_id.
    """
    validated = validate_model_input(listings, schema_params, dataset="scoring_listings")
    predictions = pd.DataFrame(registered_model.predict(validated[MODEL_INPUT_COLUMNS]))
    if (
        len(predictions) != len(validated)
        or not (predictions[ID_COLUMN].to_numpy() == validated[ID_COLUMN].to_numpy()).all()
    ):
        raise ValueError("The model returned predictions that do not match the batch rows")

    scored = pd.DataFrame(
        {
            ID_COLUMN: validated[ID_COLUMN].to_numpy(),
            PREDICTION_COLUMN: predictions[PREDICTION_COLUMN].to_numpy(dtype="float64"),
        }
    )
    if PRICE_COLUMN in validated:
        scored[PRICE_COLUMN] = validated[PRICE_COLUMN].to_numpy()
    scored["model_name"] = registered_model.name
    scored["model_version"] = str(registered_model.version)
    scored["model_alias"] = registered_model.alias
    scored["model_run_id"] = registered_model.run_id
    return scored
