"""training: fit preprocessing and regressor, evaluate; packaged with its inference pipeline."""

from .pipeline import create_inference_pipeline, create_pipeline, create_training_pipeline

__all__ = ["create_inference_pipeline", "create_pipeline", "create_training_pipeline"]
