"""A task's catalog, with the datasets the plan moves placed under the DAG run's data root.

Registered on each task's ``KedroSession`` (``kedro_mlops.runtime.session.kedro_session``): whenever Kedro builds
the catalog, the MemoryDatasets that cross tasks become ``RunScopedDataset``s and the datasets
whose files are relative to the project are re-created, same type, under the run's prefix. The
placements come from ``plan.dataset_placements``, the function the renderer printed the DAG
file's mapping with.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset

from kedro_mlops.plan.dag_plan import (
    _PATH_KEYS,
    PERSISTED,
    REMAPPED,
    DatasetPlacement,
    dataset_placements,
)
from kedro_mlops.runtime.datasets import RunScopedDataset

log = logging.getLogger(__name__)


def _remapped(catalog, placement: DatasetPlacement, data_root: str) -> AbstractDataset:
    config = dict(catalog.config_resolver.resolve_pattern(placement.name))
    key = next(k for k in _PATH_KEYS if k in config)
    config[key] = placement.location(data_root)
    return AbstractDataset.from_config(placement.name, config)


class RunScopedCatalog:
    def __init__(self, pipeline_name: str, project_path: str, data_root: str) -> None:
        self.pipeline_name = pipeline_name
        self.project_path = Path(project_path)
        self.data_root = data_root

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        from kedro.framework.project import pipelines

        pipeline = pipelines[self.pipeline_name]
        for placement in dataset_placements(pipeline, catalog, self.project_path,
                                            self.data_root):
            if placement.placement == PERSISTED:
                dataset = RunScopedDataset(placement.location(self.data_root))
            elif placement.placement == REMAPPED:
                dataset = _remapped(catalog, placement, self.data_root)
            else:
                continue
            catalog[placement.name] = dataset
            log.info("Dataset '%s' (%s) lives under this DAG run's data root: %s",
                     placement.name, placement.why, placement.location(self.data_root))
