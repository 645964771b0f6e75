"""Helpers for the unit tests of the Kedro project (a module name no other test tree uses)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro_datasets.pickle import PickleDataset
from nyc_airbnb.pipelines.training.pipeline import FITTED_OBJECTS
from nyc_airbnb.settings import CONFIG_LOADER_ARGS

PROJECT_PATH = Path(__file__).resolve().parents[3] / "kedro_project"
RAW_CSV = PROJECT_PATH / "data" / "01_raw" / "nyc_airbnb_2019_sample.csv"
REFERENCE_JSON = PROJECT_PATH / "data" / "01_raw" / "price_reference.json"


def config_loader(runtime_params: dict[str, Any] | None = None) -> OmegaConfigLoader:
    """The project's config loader, configured by settings.py."""
    return OmegaConfigLoader(
        conf_source=str(PROJECT_PATH / "conf"),
        runtime_params=runtime_params or {},
        **CONFIG_LOADER_ARGS,
    )


def make_catalog(memory: dict[str, Any], pickles_dir: Path | None = None):
    """In-memory catalog; the fitted objects as pickles in ``pickles_dir`` (as in the real catalog,
    where kedro-mlflow needs them persisted to package the model)."""
    catalog = DataCatalog()
    for name, value in memory.items():
        catalog[name] = value
    if pickles_dir is not None:
        for name in FITTED_OBJECTS:
            catalog[name] = PickleDataset(filepath=str(pickles_dir / f"{name}.pkl"))
    return catalog


def param_inputs(params: dict[str, Any]) -> dict[str, Any]:
    return {f"params:{k}": v for k, v in params.items()}
