"""Warm task runtime: what the tasks of a Kedro DAG import, imported once per executor worker.

Airflow 3 runs each task in a bare ``os.fork()`` of the executor's worker process, so whatever
that process imported, every task gets for free. ``kedro_mlops.runtime.task_preload`` calls
:func:`preload` on import where the workers are forked from, and nowhere else (the
dag-processor's parse stays light):

- LocalExecutor: the scheduler's forkserver, ``[scheduler] mp_start_method = forkserver`` and
  ``[scheduler] mp_forkserver_preload = kedro_mlops.runtime.task_preload`` (airflow.cfg);
- CeleryExecutor: each ``airflow celery worker`` before its pool forks, through Celery's
  ``imports`` setting (``kedro_mlops.runtime.celery_config``).

It imports Kedro, kedro-mlflow, MLflow, pandas, pyarrow, s3fs and scikit-learn, and for each
Kedro project of ``[kedro_mlops] warm_projects`` (airflow.cfg, or
``AIRFLOW__KEDRO_MLOPS__WARM_PROJECTS``; paths separated by ``:``) its settings (Kedro
configured for the project, as ``bootstrap_project`` does), its node code (the pipeline registry)
and the dataset classes its catalog names; botocore's S3 models are read once
(``botocore_loader``). Imports only: no client,
connection, session or thread is made here, since none of them survives a fork (a lock held by
a thread at fork time hangs the child). What belongs to a run (params, run id, data root) is
never built here. Preloaded code is as old as the worker: restart the workers to pick up a
changed project (``make stop && make up``; ``docker compose restart``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import mimetypes
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: the module that preloads on import, named in airflow.cfg and in the Celery config
TASK_PRELOAD = "kedro_mlops.runtime.task_preload"

#: airflow.cfg section and option naming the Kedro projects to warm
CONFIG_SECTION = "kedro_mlops"
CONFIG_OPTION = "warm_projects"

LIBRARIES = (
    "kedro.framework.session",
    "kedro.framework.startup",
    "kedro.config",
    "kedro.io",
    "kedro.runner",
    "kedro_datasets",
    "kedro_mlflow.framework.hooks",
    # every Kedro session loads the hooks of the installed plugins (entry points)
    "kedro_mlflow.framework.hooks.mlflow_hook",
    "kedro_telemetry.plugin",
    "kedro_mlops.runtime.node_timing",
    "kedro_mlflow.mlflow",
    "kedro_mlflow.pipeline",
    "mlflow",
    "mlflow.pyfunc",
    "mlflow.models",
    "mlflow.tracking",
    "mlflow.store.tracking.rest_store",
    "mlflow.store.artifact.http_artifact_repo",
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",  # what pyarrow.parquet imports on its first read
    "fsspec",
    "s3fs",
    "botocore.session",
    "aiobotocore.session",
    "sklearn",
    "sklearn.base",
    "sklearn.utils",
    # scikit-learn reads a pandas frame's feature names through narwhals, which imports its
    # pandas support on first use
    "narwhals._pandas_like.namespace",
    "matplotlib.pyplot",
    # the task side of the deployment, and of Airflow (the task runner parses the DAG file)
    "kedro_mlops.runtime.session",
    "kedro_mlops.runtime.mlflow_run",
    "kedro_mlops.runtime.node_run",
    "kedro_mlops.runtime.fresh_stack",
    "kedro_mlops.runtime.model_alias",
    "kedro_mlops.runtime.model_registry",
    "kedro_mlops.runtime.promotion",
    "airflow.sdk",
    "airflow.sdk.execution_time.task_runner",
    "airflow.dag_processing.dagbag",
    "airflow.dag_processing.bundles.manager",
    "airflow.dag_processing.bundles.local",
    # imported by MLflow or Airflow on their first use inside a task
    "mlflow.tracing.processor.base_mlflow",
    "mlflow.tracing.processor.otel",
    "airflow.sdk.definitions.asset.metadata",
)

#: Optional modules that MLflow and Kedro try to import on every use to see where they run
#: (Databricks, Spark, a notebook, Ibis, a progress bar): MLflow tries dbruntime, IPython and
#: pyspark eleven times per request to its server, 0.9 ms of every call with a task's sys.path.
#: A failed import is not remembered, so each try searches every sys.path entry again.
PROBED_OPTIONAL_MODULES = ("dbruntime", "pyspark", "IPython", "ibis", "tqdm")


def configured_projects(value: str | None = None) -> list[Path]:
    """The project paths of ``[kedro_mlops] warm_projects`` (empty when unset)."""
    if value is None:
        try:
            from airflow.configuration import conf

            value = conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback="")
        except Exception as error:  # noqa: BLE001 - no Airflow config here: nothing to warm
            log.warning("task preload: Airflow config unreadable (%s)", error)
            value = ""
    return [Path(p).expanduser() for p in (value or "").split(os.pathsep) if p.strip()]


def _import(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception as error:  # noqa: BLE001 - a missing optional library only costs speed
        log.info("task preload: %s not imported (%s)", module, error)
        return False


def remember_absent(modules: Iterable[str] = PROBED_OPTIONAL_MODULES) -> list[str]:
    """Make each of ``modules`` that is not installed fail to import at once; which ones.

    A ``None`` in ``sys.modules`` is Python's own "known missing" mark: ``import`` then raises
    ModuleNotFoundError without searching. Only modules absent now are marked, so an installed
    one is untouched; one installed later is seen when the worker restarts, as for all
    preloaded code.
    """
    marked = []
    for name in modules:
        if name in sys.modules:
            continue
        try:
            missing = importlib.util.find_spec(name) is None
        except (ImportError, ValueError):
            missing = False
        if missing:
            sys.modules[name] = None  # type: ignore[assignment]
            marked.append(name)
    return marked


def _dataset_types(config: object) -> Iterator[str]:
    """Every ``type:`` string of a catalog config, nested ones (wrapped datasets) included."""
    if isinstance(config, dict):
        kind = config.get("type")
        if isinstance(kind, str):
            yield kind
        for value in config.values():
            yield from _dataset_types(value)
    elif isinstance(config, list):
        for value in config:
            yield from _dataset_types(value)


def catalog_dataset_types(project_path: Path) -> set[str]:
    """Dataset types named in the project's ``conf/*/catalog*.yml`` files (read as plain YAML:
    nothing is resolved, no environment variable is needed)."""
    import yaml

    types: set[str] = set()
    for path in sorted((project_path / "conf").glob("*/catalog*.y*ml")):
        try:
            types.update(_dataset_types(yaml.safe_load(path.read_text(encoding="utf-8"))))
        except (OSError, yaml.YAMLError) as error:
            log.info("task preload: %s unreadable (%s)", path, error)
    return types


def _parse_config_files(project_path: Path) -> None:
    """Parse the project's config files with OmegaConf once, resolving nothing.

    OmegaConf parses each ``${...}`` with an ANTLR grammar whose lookup tables are built on
    first use, once per process: 0.3 s of a task's start with this project's catalog.
    """
    from omegaconf import OmegaConf

    for path in sorted((project_path / "conf").glob("*/**/*.y*ml")):
        try:
            OmegaConf.load(path)
        except Exception as error:  # noqa: BLE001 - a broken file fails in its own tasks
            log.info("task preload: %s not parsed (%s)", path, error)


def warm_project(project_path: Path) -> list[str]:
    """Import one Kedro project's settings, node code and dataset classes; what was imported."""
    from kedro.framework.startup import _get_project_metadata
    from kedro.io.core import parse_dataset_definition

    from kedro_mlops.runtime.session import bootstrap

    package = _get_project_metadata(project_path).package_name
    # Kedro's settings and registry configured for the package, as every task would do
    # (sys.path gets the project's src, as for an uninstalled project); a task of this project
    # then skips it.
    bootstrap(project_path)
    done = [m for m in (f"{package}.settings", f"{package}.pipeline_registry") if _import(m)]
    registry = sys.modules.get(f"{package}.pipeline_registry")
    if registry is not None:
        # Builds Pipeline objects (plain data) so that find_pipelines() imports every node
        # module; the result is dropped: each task builds its own registry.
        try:
            registry.register_pipelines()
        except Exception as error:  # noqa: BLE001
            log.info("task preload: %s.register_pipelines() failed (%s)", package, error)
    _parse_config_files(project_path)
    for kind in sorted(catalog_dataset_types(project_path)):
        try:
            parse_dataset_definition({"type": kind})
            done.append(kind)
        except Exception as error:  # noqa: BLE001 - a factory pattern, a class Kedro resolves later
            log.info("task preload: dataset type %s not imported (%s)", kind, error)
    return done


def preload(projects: Iterable[Path] | None = None) -> dict[str, float | int]:
    """Import the libraries and the warm projects; returns timings for the worker's log."""
    from kedro_mlops.runtime.operators import TASK_LOGGING

    # Kedro configures logging when first imported: plain lines, as inside a task.
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", TASK_LOGGING)
    started = time.perf_counter()
    libraries = sum(_import(m) for m in LIBRARIES)
    remember_absent()
    try:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        # Asset URIs are normalised by provider handlers, discovered on first use: once here
        # instead of in every task's parse of its DAG file.
        ProvidersManagerTaskRuntime().initialize_providers_asset_uri_resources()
    except Exception as error:  # noqa: BLE001
        log.info("task preload: provider asset handlers not loaded (%s)", error)
    try:
        from mlflow.utils.requirements_utils import _init_packages_to_modules_map

        # Loading a model checks its requirements against the installed distributions, which
        # MLflow maps to modules on first use (0.2-0.4 s of the gate's and a scoring task's
        # start); MLflow has no public way to build the map ahead.
        _init_packages_to_modules_map()
    except Exception as error:  # noqa: BLE001
        log.info("task preload: MLflow's package map not built (%s)", error)
    try:
        from kedro_mlops.runtime import supervisor_exit

        # this process supervises the tasks it forks: it should see each one exit at once
        supervisor_exit.install()
    except Exception as error:  # noqa: BLE001
        log.warning("task preload: supervisor exit wait not installed (%s)", error)
    try:
        from kedro_mlops.runtime import botocore_loader

        # every S3 client of a task reads botocore's models from one loader, filled here
        botocore_loader.install()
    except Exception as error:  # noqa: BLE001 - no botocore: no S3 client to speed up
        log.info("task preload: botocore loader not shared (%s)", error)
    warmed = 0
    for path in configured_projects() if projects is None else projects:
        try:
            warmed += len(warm_project(Path(path)))
        except Exception as error:  # noqa: BLE001 - a broken project fails in its own tasks
            log.warning("task preload: project %s not warmed (%s)", path, error)
    # Kedro's settings loader (dynaconf) calls inspect.stack(), which maps every loaded
    # module to its file on first use in a process: 0.34 s per task with this much imported.
    # The map is built here, once, and every forked task inherits it.
    inspect.stack()
    # Kedro's config loader guesses a MIME type: the first guess reads the system's MIME table
    # (0.22 s).
    mimetypes.init()
    seconds = time.perf_counter() - started
    threads = threading.active_count()
    if threads > 1:
        log.warning("task preload: %d threads alive after preloading: forks may inherit a held "
                    "lock (%s)", threads, [t.name for t in threading.enumerate()])
    return {"seconds": seconds, "libraries": libraries, "project_items": warmed,
            "threads": threads}


def preload_and_report() -> dict[str, float | int]:
    """:func:`preload`, with one line on stderr for the worker's log."""
    report = preload()
    print(
        f"kedro_mlops.runtime.task_preload: pid {os.getpid()} imported {report['libraries']} libraries "
        f"and {report['project_items']} project modules/datasets in {report['seconds']:.1f}s "
        f"({report['threads']} thread(s))",
        file=sys.stderr, flush=True,
    )
    return report
