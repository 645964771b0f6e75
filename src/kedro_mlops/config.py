"""The one typed config that DAG files and tasks share: where the Kedro project lives
(``KedroProject``, written into every DAG file) and where a DAG run's data lives (``run_data_root``,
``lake_root``, from the environment). Cheap to import from a DAG file: no Kedro, no MLflow."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_PATH_ENV = "KEDRO_PROJECT_PATH"
RUNS_ROOT_ENV = "MLOPS_RUNS_ROOT"
LAKE_ROOT_ENV = "MLOPS_LAKE_ROOT"


@dataclass(frozen=True)
class KedroProject:
    """A Kedro project as a DAG sees it.

    ``project_path`` is resolved relative to the DAG file that declares it, so a task never
    depends on the worker's working directory; ``KEDRO_PROJECT_PATH`` overrides it where the
    project is installed elsewhere (a Docker image, a shared volume).
    """

    package_name: str
    project_path: str
    env: str = "local"
    conf_source: str | None = None

    @classmethod
    def next_to(cls, dag_file: str, relative_path: str, **kwargs) -> KedroProject:
        override = os.environ.get(PROJECT_PATH_ENV)
        path = Path(override) if override else (Path(dag_file).resolve().parent / relative_path)
        return cls(project_path=str(path.resolve()), **kwargs)


_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]+")


def run_data_root(dag_id: str, run_id: str) -> str:
    """The prefix under which one DAG run keeps the data its tasks hand to each other.

    Scoped by DAG and run so that two concurrent runs never read each other's data. Characters
    that S3 keys and fsspec URLs handle badly (``:``, ``+`` in Airflow run ids) become ``_``.
    """
    root = os.environ.get(RUNS_ROOT_ENV)
    if not root:
        bucket = os.environ.get("MLOPS_BUCKET")
        if not bucket:
            raise RuntimeError(
                f"Neither {RUNS_ROOT_ENV} nor MLOPS_BUCKET is set: the tasks of a DAG run have "
                "nowhere to hand data to each other. Set MLOPS_BUCKET (e.g. 'mlops')."
            )
        root = f"s3://{bucket}/runs"
    return f"{root.rstrip('/')}/{_UNSAFE_KEY_CHARS.sub('_', dag_id)}/{_UNSAFE_KEY_CHARS.sub('_', run_id)}"


def lake_root() -> str:
    """Where dated inputs and outputs live (``incoming/ds=...``, ``predictions/ds=...``):
    ``$MLOPS_LAKE_ROOT``, else ``s3://$MLOPS_BUCKET``."""
    root = os.environ.get(LAKE_ROOT_ENV)
    if root:
        return root.rstrip("/")
    bucket = os.environ.get("MLOPS_BUCKET")
    if not bucket:
        raise RuntimeError(f"Neither {LAKE_ROOT_ENV} nor MLOPS_BUCKET is set: set MLOPS_BUCKET.")
    return f"s3://{bucket}"
