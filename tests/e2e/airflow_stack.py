"""One Airflow test stack on a DAGs folder: what every module that runs DAGs starts and stops."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from kedro_mlops.local.settings import Settings
from kedro_mlops.local.stack import (
    ProcessComponent,
    core_components,
    services_status,
    start_services,
    stop_services,
)
from kedro_mlops.local.stack.airflow import service_specs
from kedro_mlops.local.stack.postgres import drop_databases, ensure_databases


@contextmanager
def running_airflow_stack(
    settings: Settings, dags: Path, overrides: Mapping[str, str] | None = None, *,
    db_template: str, with_triggerer: bool = True,
) -> Iterator[list]:
    """PostgreSQL databases, S3, MLflow and Airflow's services on ``dags``, with the stack's
    environment set in this process (the tests' MLflow and S3 clients read it); at exit, every
    service stopped, the databases dropped and the environment restored.

    The metadata database is a copy of ``db_template`` (the ``airflow_db_template`` fixture):
    0.2 s, where ``airflow db migrate`` costs a stack 5 CPU-s (8-15 s of its start when loaded).
    ``with_triggerer=False`` for DAGs that never defer (no file sensor runs): one process less
    starting and polling on a shared machine."""
    specs = service_specs(settings, dags_folder=dags, overrides=overrides, migrate=False,
                          with_triggerer=with_triggerer)
    components = core_components(settings) + [ProcessComponent(s, settings) for s in specs]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in settings.env().items():
            mp.setenv(key, value)
        try:
            ensure_databases(settings.postgres_url, [settings.airflow_db], template=db_template)
            start_services(settings, components=components)
            yield components
        finally:
            try:
                stop_services(settings, components=components)
            finally:
                drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])


def scheduler_forkservers(settings: Settings):
    """The stack's scheduler (its service status) and the forkservers among its descendants."""
    (scheduler,) = [st for st in services_status(settings) if st.name == "airflow-scheduler"]

    def cmdline(process: psutil.Process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.Error:  # a child that ended since it was listed
            return ""

    return scheduler, [p for p in psutil.Process(scheduler.pid).children(recursive=True)
                       if "multiprocessing.forkserver" in cmdline(p)]
