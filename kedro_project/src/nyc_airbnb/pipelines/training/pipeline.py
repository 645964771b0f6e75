"""training pipeline: a kedro-mlflow PipelineML (training + the inference pipeline it logs)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from kedro.pipeline import Pipeline, node, pipeline
from kedro_mlflow.pipeline import pipeline_ml_factory

import nyc_airbnb
from nyc_airbnb.model_contract import model_input_example, model_signature
from nyc_airbnb.validation import validate_model_input

from .nodes import (
    build_features,
    compute_feature_importance,
    evaluate_predictions,
    fit_borough_encoder,
    fit_name_vectorizer,
    fit_numeric_imputer,
    fit_review_date_reference,
    fit_room_type_encoder,
    plot_feature_importance,
    plot_predicted_vs_actual,
    plot_residuals,
    predict_prices,
    profile_training_features,
    train_price_model,
    training_data_metrics,
)

# the datasets the inference pipeline needs from training, each persisted on its own
FITTED_PREPROCESSING = [
    "review_date_reference",
    "numeric_imputer",
    "room_type_encoder",
    "borough_encoder",
    "name_vectorizer",
]
FITTED_OBJECTS = [*FITTED_PREPROCESSING, "price_model"]
INFERENCE_INPUT = "inference_listings"
INFERENCE_OUTPUT = "price_predictions"


def _features_node(listings: str, features: str, name: str):
    return node(
        build_features,
        inputs=[listings, *FITTED_PREPROCESSING, "params:features"],
        outputs=features,
        name=name,
    )


def create_inference_pipeline() -> Pipeline:
    """Raw-schema listing rows -> validated rows -> features -> (id, predicted_price)."""
    return pipeline(
        [
            node(
                validate_model_input,
                inputs=[INFERENCE_INPUT, "params:listing_schema"],
                outputs="validated_inference_listings",
                name="validate_model_input",
            ),
            _features_node("validated_inference_listings", "inference_features", "build_features"),
            node(
                predict_prices,
                inputs=["inference_features", "price_model", "validated_inference_listings"],
                outputs=INFERENCE_OUTPUT,
                name="predict_prices",
            ),
        ]
    )


def create_training_pipeline() -> Pipeline:
    fit = pipeline(
        [
            node(
                fit_review_date_reference,
                inputs="train_listings",
                outputs="review_date_reference",
                name="fit_review_date_reference",
            ),
            node(
                fit_numeric_imputer,
                inputs=["train_listings", "review_date_reference", "params:features"],
                outputs="numeric_imputer",
                name="fit_numeric_imputer",
            ),
            node(
                fit_room_type_encoder,
                inputs=["train_listings", "params:features"],
                outputs="room_type_encoder",
                name="fit_room_type_encoder",
            ),
            node(
                fit_borough_encoder,
                inputs="train_listings",
                outputs="borough_encoder",
                name="fit_borough_encoder",
            ),
            node(
                fit_name_vectorizer,
                inputs=["train_listings", "params:features"],
                outputs="name_vectorizer",
                name="fit_name_vectorizer",
            ),
            _features_node("train_listings", "train_features", "build_train_features"),
            node(
                profile_training_features,
                inputs=["train_listings", "params:feature_profile"],
                outputs="feature_profile",
                name="profile_training_features",
            ),
            node(
                train_price_model,
                inputs=["train_features", "train_listings", "params:model"],
                outputs="price_model",
                name="train_price_model",
            ),
        ]
    )
    evaluate = pipeline(
        [
            _features_node("test_listings", "test_features", "build_test_features"),
            node(
                predict_prices,
                inputs=["test_features", "price_model", "test_listings"],
                outputs="test_predictions",
                name="predict_test_prices",
            ),
            node(
                training_data_metrics,
                inputs=["data_quality_report", "train_listings", "test_listings"],
                outputs="training_data_metrics",
                name="training_data_metrics",
            ),
            node(
                evaluate_predictions,
                inputs=["test_predictions", "test_listings"],
                outputs="test_metrics",
                name="evaluate_predictions",
            ),
            node(
                plot_predicted_vs_actual,
                inputs=["test_predictions", "test_listings"],
                outputs="predicted_vs_actual_plot",
                name="plot_predicted_vs_actual",
            ),
            node(
                plot_residuals,
                inputs=["test_predictions", "test_listings"],
                outputs="residuals_plot",
                name="plot_residuals",
            ),
            node(
                compute_feature_importance,
                inputs=["price_model", "test_features", "test_listings", "params:evaluation"],
                outputs="feature_importance",
                name="compute_feature_importance",
            ),
            node(
                plot_feature_importance,
                inputs="feature_importance",
                outputs="feature_importance_plot",
                name="plot_feature_importance",
            ),
        ]
    )
    return fit + evaluate


def create_pipeline(
    upstream: Pipeline | None = None, namespace: str | None = None, **kwargs
) -> Pipeline:
    """The training pipeline as a PipelineML: at the end of a `kedro run --pipeline training`,
    kedro-mlflow's hook logs the inference pipeline, with the fitted objects as artifacts, as an
    MLflow pyfunc model named "model" in the active run (no registration: done by the deployment).

    Args:
        upstream: nodes to run before training in the same PipelineML (e.g. data_processing for
            `__default__`). Adding a plain Pipeline to a PipelineML with `+` demotes it to a plain
            Pipeline (kedro-mlflow), so nothing would be logged: compose here instead.
        namespace: prefix for the training node names (not for datasets or params).
    """
    training = create_training_pipeline()
    if namespace:
        training = pipeline(training, namespace=namespace, prefix_datasets_with_namespace=False)
    if upstream is not None:
        training = upstream + training
    return pipeline_ml_factory(
        training=training,
        inference=create_inference_pipeline(),
        input_name=INFERENCE_INPUT,
        log_model_kwargs={
            "name": "model",
            "signature": model_signature(),
            "input_example": model_input_example(),
            # ship the project code with the model so it loads where nyc_airbnb is not installed
            "code_paths": [str(Path(nyc_airbnb.__file__).parent)],
            # mlflow infers the other requirements; kedro itself is only a transitive one
            "extra_pip_requirements": [f"kedro=={version('kedro')}"],
        },
    )
