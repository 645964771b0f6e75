"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline, pipeline

from nyc_airbnb.pipelines import data_processing, scoring, training


def _namespaced(nodes: Pipeline, namespace: str) -> Pipeline:
    # Namespaces name the nodes ("data_processing.clean_listings"), which become Airflow
    # TaskGroups; datasets and params keep their catalog names.
    return pipeline(nodes, namespace=namespace, prefix_datasets_with_namespace=False)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    - data_processing: raw CSV -> validated, cleaned, drift-checked train/test splits
    - training: kedro-mlflow PipelineML over data_processing and model training (one MLflow
      run, one logged model: the inference pipeline with its fitted objects)
    - scoring: score a batch CSV with the registered model (by alias)
    - price_reference: rebuild the committed reference of the price drift check
    - __default__: training
    """
    data_processing_pipeline = _namespaced(data_processing.create_pipeline(), "data_processing")
    # `data_processing + training` would demote the PipelineML to a Pipeline: compose inside.
    training_pipeline = training.create_pipeline(
        upstream=data_processing_pipeline, namespace="training"
    )
    return {
        "data_processing": data_processing_pipeline,
        "training": training_pipeline,
        "scoring": scoring.create_pipeline(),
        "price_reference": data_processing.create_price_reference_pipeline(),
        "__default__": training_pipeline,
    }
