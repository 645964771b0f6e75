"""Project datasets (datasets may talk to MLflow and storage; nodes may not)."""

from .atomic_parquet import AtomicParquetDataset, ParquetPartsDataset
from .checked_csv import CheckedCSVDataset
from .chunked_csv import BatchNotFoundError, ChunkedCSVDataset
from .csv_layout import CSVLayoutError
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
    "CSVLayoutError",
    "CheckedCSVDataset",
    "ChunkedCSVDataset",
    "MlflowActiveRunDataset",
    "MlflowModelReferenceDataset",
    "MlflowRegisteredModelDataset",
    "ModelNotInRegistryError",
    "ParquetPartsDataset",
    "RegisteredModel",
    "resolve_model_version",
]
