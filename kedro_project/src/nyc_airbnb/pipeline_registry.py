"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from nyc_airbnb.pipelines import data_processing, scoring, training


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    - data_processing: raw CSV -> validated, cleaned, drift-checked train/test splits
    - training: kedro-mlflow PipelineML; logs the inference pipeline as the MLflow model
    - scoring: score a batch CSV with the registered model (by alias)
    - price_reference: rebuild the committed reference of the price drift check
    - __default__: data_processing + training (one MLflow run, one logged model)
    """
    data_processing_pipeline = data_processing.create_pipeline()
    return {
        "data_processing": data_processing_pipeline,
        "training": training.create_pipeline(),
        "scoring": scoring.create_pipeline(),
        "price_reference": data_processing.create_price_reference_pipeline(),
        # a PipelineML over both (`data_processing + training` would demote it to a Pipeline)
        "__default__": training.create_pipeline(upstream=data_processing_pipeline),
    }
