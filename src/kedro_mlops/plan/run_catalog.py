"""A task's catalog, with the datasets the plan moves placed under the DAG run's data root.

Registered on each task's ``KedroSession`` (``kedro_mlops.runtime.session.kedro_session``): whenever Kedro builds
the catalog, the MemoryDatasets that cross tasks become ``RunScopedDataset``s, the datasets
whose files are relative to the project are re-created, same type, under the run's prefix, and
the local files of MLflow artifacts under the task's scratch folder. The
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
    SCRATCH,
    DatasetPlacement,
    dataset_placements,
)
from kedro_mlops.runtime.datasets import RunScopedDataset

log = logging.getLogger(__name__)


def _at(config: dict, location: str) -> dict:
    """The dataset config with its file (``filepath``/``path``) at ``location``."""
    key = next(k for k in _PATH_KEYS if k in config)
    return {**config, key: location}


def _remapped(catalog, placement: DatasetPlacement, data_root: str) -> AbstractDataset:
    config = dict(catalog.config_resolver.resolve_pattern(placement.name))
    return AbstractDataset.from_config(placement.name,
                                       _at(config, placement.location(data_root)))


def _scratch(catalog, placement: DatasetPlacement, scratch_root: str) -> AbstractDataset:
    """The MLflow artifact with its local file in the task's scratch folder, bound to the DAG
    run's MLflow run (active while a node task runs): a task that loads it downloads the file
    this run logged, not whatever another run left on this machine."""
    import mlflow

    config = dict(catalog.config_resolver.resolve_pattern(placement.name))
    local = placement.location(scratch_root)
    Path(local).parent.mkdir(parents=True, exist_ok=True)  # kedro-mlflow copies into it
    config["dataset"] = _at(dict(config["dataset"]), local)
    run = mlflow.active_run()
    if not config.get("run_id") and run is not None:
        config["run_id"] = run.info.run_id
    return AbstractDataset.from_config(placement.name, config)


class _NotReplacing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Replacing dataset '%s'"


def _replace_quietly(catalog, name: str, dataset: AbstractDataset) -> None:
    """``catalog[name] = dataset`` without Kedro's "Replacing dataset" WARNING: the move is
    the plan's, and the INFO line that follows says where the dataset went (a WARNING in every
    task's log, for nothing wrong, taught users to skip the warnings)."""
    catalog_log = logging.getLogger("kedro.io.data_catalog")
    quiet = _NotReplacing()
    catalog_log.addFilter(quiet)
    try:
        catalog[name] = dataset
    finally:
        catalog_log.removeFilter(quiet)


class RunScopedCatalog:
    def __init__(self, pipeline_name: str, project_path: str, data_root: str,
                 scratch_root: str) -> None:
        self.pipeline_name = pipeline_name
        self.project_path = Path(project_path)
        self.data_root = data_root
        self.scratch_root = scratch_root

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        from kedro.framework.project import pipelines

        pipeline = pipelines[self.pipeline_name]
        for placement in dataset_placements(pipeline, catalog, self.project_path,
                                            self.data_root):
            root, where = self.data_root, "lives under this DAG run's data root"
            if placement.placement == PERSISTED:
                dataset = RunScopedDataset(placement.location(root))
            elif placement.placement == REMAPPED:
                dataset = _remapped(catalog, placement, root)
            elif placement.placement == SCRATCH:
                root, where = self.scratch_root, "is written to this task's scratch folder"
                dataset = _scratch(catalog, placement, root)
            else:
                continue
            _replace_quietly(catalog, placement.name, dataset)
            log.info("Dataset '%s' (%s) %s: %s", placement.name, placement.why, where,
                     placement.location(root))
