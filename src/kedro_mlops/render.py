"""Render a Kedro project's pipelines into Airflow DAG files: one task per Kedro node.

    python -m kedro_mlops.render --project kedro_project --pipelines training,scoring --target dags

Runs kedro-airflow's ``kedro airflow create`` with this package's template, after checking that
no dataset handed from one node to another is a ``MemoryDataset`` (tasks run in separate
processes, possibly on separate workers, so such data would be lost between tasks). Output is
formatted with ruff so that regenerating is byte-for-byte stable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).parent / "templates" / "airflow_dag.py.j2"


class MemoryDatasetBetweenTasks(ValueError):
    pass


def _bootstrap_without_tracking(project_path: Path):
    """Load the project with kedro-mlflow's hooks off: rendering must not need a tracking server."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    metadata = bootstrap_project(project_path)
    # Distribution names vary in normalisation between installers.
    settings.DISABLE_HOOKS_FOR_PLUGINS = (
        *settings.DISABLE_HOOKS_FOR_PLUGINS, "kedro-mlflow", "kedro_mlflow"
    )
    return metadata


def handed_over_memory_datasets(project_path: Path, pipeline_names: list[str], env: str):
    """Datasets that one node writes and another reads but that the catalog keeps in memory."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.io import MemoryDataset

    with KedroSession.create(project_path=project_path, env=env) as session:
        catalog = session.load_context().catalog
    found = {}
    for name in pipeline_names:
        pipeline = pipelines[name]
        produced = {out for node in pipeline.nodes for out in node.outputs}
        consumed = {inp for node in pipeline.nodes for inp in node.inputs}
        handed_over = sorted(
            ds for ds in produced & consumed
            if ds not in catalog or isinstance(catalog.get(ds), MemoryDataset)
        )
        if handed_over:
            found[name] = handed_over
    return found


def render(
    project_path: Path,
    pipeline_names: list[str],
    target: Path,
    env: str = "local",
    project_relpath: str | None = None,
) -> list[Path]:
    """Write one DAG file per pipeline into ``target``.

    The DAG files find the project at ``project_relpath`` from their own folder (default: the
    real relative path from ``target`` to ``project_path``).
    """
    from kedro_airflow.plugin import create

    project_path = project_path.resolve()
    target = target.resolve()
    metadata = _bootstrap_without_tracking(project_path)
    bad = handed_over_memory_datasets(project_path, pipeline_names, env)
    if bad:
        lines = "\n".join(f"  pipeline '{p}': {', '.join(ds)}" for p, ds in bad.items())
        raise MemoryDatasetBetweenTasks(
            "These datasets pass from one Airflow task to another but are MemoryDatasets "
            f"(declare them in the catalog under ${{runtime_params:data_root}}):\n{lines}"
        )
    target.mkdir(parents=True, exist_ok=True)
    relpath = project_relpath or os.path.relpath(project_path, target)
    # kedro-airflow's `kedro airflow create`, run in this process so the hooks stay off.
    create.main(
        ["--pipelines", ",".join(pipeline_names), "--env", env,
         "--jinja-file", str(TEMPLATE), "--target-dir", str(target),
         "--params", f"project_relpath={relpath}"],
        obj=metadata, standalone_mode=False,
    )
    # kedro-airflow's file naming: <package>[_<env>]_<pipeline>_dag.py
    suffix = "" if env == "local" else f"_{env}"
    written = [target / f"{metadata.package_name}{suffix}_{name}_dag.py" for name in pipeline_names]
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    subprocess.run([ruff, "format", "--quiet", "--line-length", "100", *map(str, written)],
                   check=True)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("kedro_project"))
    parser.add_argument("--pipelines", default="training,scoring")
    parser.add_argument("--target", type=Path, default=Path("dags"))
    parser.add_argument("--env", default="local")
    args = parser.parse_args(argv)
    for path in render(args.project, args.pipelines.split(","), args.target, args.env):
        print(f"rendered {path}")


if __name__ == "__main__":
    main()
