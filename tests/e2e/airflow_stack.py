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
from kedro_mlops.local.stack.postgres import drop_databases


def copy_database(admin_url: str, template: str, name: str) -> None:
    """``CREATE DATABASE name TEMPLATE template``: a copy of a migrated Airflow metadata
    database in 0.2 s, where ``airflow db migrate`` costs a stack 5 CPU-s (8-15 s of its start
    on a loaded machine). Nothing may be connected to ``template`` meanwhile."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
    finally:
        conn.close()


@contextmanager
def running_airflow_stack(
    settings: Settings, dags: Path, overrides: Mapping[str, str] | None = None, *,
    db_template: str, with_triggerer: bool = True,
) -> Iterator[list]:
    """PostgreSQL databases, S3, MLflow and Airflow's services on ``dags``, with the stack's
    environment set in this process (the tests' MLflow and S3 clients read it); at exit, every
    service stopped, the databases dropped and the environment restored.

    The metadata database is a copy of ``db_template`` (the ``airflow_db_template`` fixture).
    ``with_triggerer=False`` for DAGs that never defer (no file sensor runs): one process less
    starting and polling on a shared machine."""
    specs = service_specs(settings, dags_folder=dags, overrides=overrides, migrate=False,
                          with_triggerer=with_triggerer)
    components = core_components(settings) + [ProcessComponent(s, settings) for s in specs]
    with pytest.MonkeyPatch.context() as mp:
        for key, value in settings.env().items():
            mp.setenv(key, value)
        try:
            copy_database(settings.postgres_url, db_template, settings.airflow_db)
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
