"""data_processing: validate, clean, check (schema + price drift) and split the raw listings."""

from .pipeline import create_pipeline, create_price_reference_pipeline

__all__ = ["create_pipeline", "create_price_reference_pipeline"]
