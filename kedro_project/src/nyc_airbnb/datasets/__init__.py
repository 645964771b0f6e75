"""Project datasets (datasets may talk to MLflow; nodes may not)."""

from .registered_model_dataset import MlflowRegisteredModelDataset, RegisteredModel

__all__ = ["MlflowRegisteredModelDataset", "RegisteredModel"]
