"""scoring: score a batch of listings with the registered model (by alias)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
