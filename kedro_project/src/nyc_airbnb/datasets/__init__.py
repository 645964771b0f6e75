"""Project datasets (datasets may talk to MLflow and storage; nodes may not)."""

from .atomic_parquet import AtomicParquetDataset, ParquetPartsDataset
from .chunked_csv import BatchNotFoundError, ChunkedCSVDataset
from .registered_model_dataset import (
    MlflowActiveRunDataset,
    MlflowModelReferenceDataset,
    MlflowRegisteredModelDataset,
    ModelNotInRegistryError,
    RegisteredModel,
    resolve_model_version,
)

__all__ = [
    "AtomicParquetDataset",
    "BatchNotFoundError",
    "ChunkedCSVDataset",
    "MlflowActiveRunDataset",
    "MlflowModelReferenceDataset",
    "MlflowRegisteredModelDataset",
    "ModelNotInRegistryError",
    "ParquetPartsDataset",
    "RegisteredModel",
    "resolve_model_version",
]
