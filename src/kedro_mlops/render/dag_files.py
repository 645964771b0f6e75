"""Render a Kedro project's pipelines into Airflow DAG files: one task per Kedro node.

The data flow: read the project (``kedro_mlops.read.project``), build one plan per DAG
(``kedro_mlops.plan.dag_plan``: tasks, edges, params, and where each dataset that crosses tasks
lives, since tasks run in separate processes, possibly on separate workers), then run
kedro-airflow's ``kedro airflow create`` with this package's template, which prints the plan.
Output is formatted with ruff so that regenerating is byte-for-byte stable. The command lines
(``python -m kedro_mlops.render``, ``kedro-mlops-render``, ``kedro mlops render``) are in
``kedro_mlops.render.cli``.

Every problem with the input (project, pipeline names, environment, catalog, node names) raises a
``RenderError``; the command line prints it as one message and exits with status 2. What the
renderer assumes for a project that leaves something out (no airflow.yml or no section of it for
a DAG, a PipelineML without ``registered_model_name``, no mlflow.yml, no ``conf/local`` folder)
is one notice per assumption (``note: ...`` on stderr), and the DAG renders with the defaults.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kedro_mlops.plan.dag_plan import build_plan, dag_id
from kedro_mlops.read.errors import BadTarget
from kedro_mlops.read.project import (
    DEFAULT_ENV,
    DEFAULT_PIPELINE,
    RENDER_DATA_ROOT,
    Project,
    kedro_mlflow_hooks_off,
    opened,
    select_pipelines,
)

TEMPLATE = Path(__file__).parent / "templates" / "airflow_dag.py.j2"
# what the template renders when airflow.yml says nothing (templates/airflow_dag.py.j2)
TEMPLATE_DEFAULTS = "schedule None, retries 1, owner airflow, tags [kedro]"
SEE_DOCS = "see README.md, 'Airflow DAGs'"


def _print_notice(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def dag_file_name(package_name: str, pipeline_name: str, env: str = DEFAULT_ENV) -> str:
    """The file name kedro-airflow gives the DAG of a pipeline (kedro_airflow.plugin.create):
    ``<package>[_<env>][_<pipeline>]_dag.py``, no env part for ``local``, no pipeline part for
    ``__default__``."""
    name = package_name
    if env != DEFAULT_ENV:
        name += f"_{env}"
    if pipeline_name != DEFAULT_PIPELINE:
        name += f"_{pipeline_name}"
    return name + "_dag.py"


def _plans(project: Project, selected: dict) -> dict:
    return {name: build_plan(project.package_name, name, pipeline, project.catalog,
                             project.project_path, project.airflow_config, RENDER_DATA_ROOT)
            for name, pipeline in selected.items()}


def _placement_notice(plan) -> str:
    lines = "".join(f"\n    {line}" for line in plan.mapping_lines())
    return (f"DAG '{plan.dag_id}': each DAG run keeps these datasets apart from other runs, "
            "under its data root or a task's scratch folder (memory_datasets: refuse / "
            f"relative_paths: refuse in airflow.yml turn off persisted / remapped; {SEE_DOCS}):"
            f"{lines}")


def _assumptions(project: Project, selected: dict, env: str) -> tuple[list[str], dict]:
    """What the renderer assumes for what the project leaves out: the notices, one per
    assumption, and the template variables it adds per pipeline (kedro-airflow ``--params``)."""
    notices, extra = [], {}
    where = f"conf/base or conf/{env}"
    for name, pipeline in selected.items():
        dag = dag_id(project.package_name, name)
        section = {**(project.airflow_config.get("default") or {}),
                   **(project.airflow_config.get(name) or {})}
        if not project.has_airflow_yml:
            notices.append(f"no airflow.yml in {where}: DAG '{dag}' renders with defaults "
                           f"({TEMPLATE_DEFAULTS}); {SEE_DOCS}")
        elif not section:
            notices.append(f"airflow.yml has no 'default' or '{name}' section: DAG '{dag}' "
                           f"renders with defaults ({TEMPLATE_DEFAULTS}); {SEE_DOCS}")
        # a kedro-mlflow PipelineML: the template registers its model under this name
        if hasattr(pipeline, "inference") and not section.get("registered_model_name"):
            extra[name] = {"registered_model_name": dag}
            notices.append(f"pipeline '{name}' is a kedro-mlflow PipelineML without "
                           f"registered_model_name in airflow.yml: its model is registered as "
                           f"'{dag}' (the DAG id); set registered_model_name in the '{name}' "
                           "section of airflow.yml to choose the name")
    hooks_off, installed_name = kedro_mlflow_hooks_off(project.package_name)
    if hooks_off:
        notices.append(f"settings.py turns kedro-mlflow's hooks off (DISABLE_HOOKS_FOR_PLUGINS): "
                       f"the tasks log into the MLflow experiment '{project.package_name}' (the "
                       "package name) on the tracking server of $MLFLOW_TRACKING_URI, one run "
                       "per DAG run, without the parameters kedro-mlflow would log")
    elif hooks_off is None:
        notices.append(f"settings.py lists kedro-mlflow in DISABLE_HOOKS_FOR_PLUGINS, but not "
                       f"as '{installed_name}', the name Kedro knows the installed plugin by: "
                       f"its hooks stay on; add '{installed_name}' to the tuple to turn them off")
    if not project.has_mlflow_yml and not hooks_off:
        notices.append(f"no mlflow.yml in {where}: the tasks use kedro-mlflow's defaults, the "
                       f"MLflow experiment '{project.package_name}' (the package name) on the "
                       "tracking server of $MLFLOW_TRACKING_URI (unset: an mlruns/ folder in "
                       "the project, which MLflow refuses unless MLFLOW_ALLOW_FILE_STORE=true)")
    ignored = sorted(name for name, entry in project.catalog.config_resolver.config.items()
                     if isinstance(entry, dict) and "version" in entry)
    if ignored:
        notices.append(f"catalog entries {', '.join(repr(n) for n in ignored)} set 'version', "
                       "which Kedro removes from every dataset's configuration (a reserved word) "
                       "before the dataset sees it; to pass a version (e.g. the runtime param "
                       "model_version a scoring DAG pins), give the dataset's argument another "
                       "name, as nyc_airbnb's MlflowRegisteredModelDataset does (model_version)")
    return notices, extra


def _render_into(folder: Path, metadata, selected: list[str], env: str, relpath: str,
                 variables: dict[str, dict]) -> list[Path]:
    """Run kedro-airflow into the empty ``folder``; the files it wrote, in pipeline order.
    ``variables``: the template variables of each pipeline (its plan among them)."""
    from kedro_airflow.plugin import create

    for name in selected:
        # kedro-airflow's `kedro airflow create`, run in this process so the hooks stay off; its
        # messages name the temporary folder, so they are not shown. Its --params takes a
        # mapping as is from click's default_map: the plan reaches the template as an object.
        with contextlib.redirect_stdout(io.StringIO()):
            create.main(
                ["--pipelines", name, "--env", env,
                 "--jinja-file", str(TEMPLATE), "--target-dir", str(folder)],
                obj=metadata, standalone_mode=False,
                default_map={"params": {"project_relpath": relpath, **variables[name]}},
            )
    written = sorted(folder.glob("*.py"))
    expected = [folder / dag_file_name(metadata.package_name, name, env) for name in selected]
    if sorted(expected) != written:  # kedro-airflow changed its naming: a bug here, not input
        raise RuntimeError(f"kedro-airflow wrote {written}, expected {expected}")
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    # --isolated: the same output wherever the files are and whatever ruff config is around them
    subprocess.run([ruff, "format", "--quiet", "--isolated", "--line-length", "100",
                    *map(str, expected)], check=True)
    return expected


@dataclass
class _Rendered:
    files: list[Path]
    notices: list[str]
    missing_conf_env: Path | None  # conf/local, when the project lacks it


@contextlib.contextmanager
def _rendered(project_path: Path, pipeline_names: list[str], target: Path, env: str,
              project_relpath: str | None):
    """Validate the input, render into a temporary folder and yield the files and notices."""
    project_path = project_path.resolve()
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise BadTarget(f"--target {target} is a file: pass the folder for the DAG files.")
    names = list(dict.fromkeys(pipeline_names))
    with opened(project_path, env) as (project, missing_conf_env):
        selected = select_pipelines(names)
        plans = _plans(project, selected)
        notices, extra = _assumptions(project, selected, env)
        notices += [_placement_notice(plan) for plan in plans.values() if plan.moved]
        variables = {name: {**extra.get(name, {}), "plan": plans[name]} for name in names}
        relpath = project_relpath or os.path.relpath(project_path, target)
        with tempfile.TemporaryDirectory(prefix="kedro-mlops-render-") as tmp:
            files = _render_into(Path(tmp), project.metadata, names, env, relpath, variables)
            yield _Rendered(files, notices, missing_conf_env)


def load_plans(project_path: Path, pipeline_names: list[str], env: str = DEFAULT_ENV) -> dict:
    """The plan (``kedro_mlops.plan.dag_plan.DagPlan``) of each pipeline's DAG, as rendering
    builds it, without rendering. Raises a ``RenderError`` for bad input."""
    with opened(project_path, env) as (project, _):
        return _plans(project, select_pipelines(list(dict.fromkeys(pipeline_names))))


def _conf_env_notice(conf_env: Path, created: bool) -> str:
    name = f"{conf_env.parent.name}/{conf_env.name}"
    why = "Kedro cannot load the project without it, nor run the DAG's tasks"
    if created:
        return (f"no {name} folder: created {name}/.gitkeep ({why}; git keeps no empty folder: "
                "commit the file)")
    return (f"no {name} folder: rendered as if it were empty ({why}); rendering without --check "
            f"creates {name}/.gitkeep")


def render(
    project_path: Path,
    pipeline_names: list[str],
    target: Path,
    env: str = DEFAULT_ENV,
    project_relpath: str | None = None,
    notify: Callable[[str], None] = _print_notice,
) -> list[Path]:
    """Write one DAG file per pipeline into ``target``; the files, in the order of the pipelines.

    The DAG files find the project at ``project_relpath`` from their own folder (default: the
    real relative path from ``target`` to ``project_path``). Raises a ``RenderError`` subclass for
    bad input, before writing anything. Each assumption made for what the project leaves out is
    passed to ``notify`` (default: a ``note: ...`` line on stderr). A missing ``conf/local`` is
    created, with a ``.gitkeep``: Kedro cannot load the project without it, nor run its tasks.
    """
    target = Path(target).resolve()
    with _rendered(Path(project_path), pipeline_names, target, env, project_relpath) as fresh:
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for path in fresh.files:
            shutil.copyfile(path, target / path.name)
            written.append(target / path.name)
        notices = fresh.notices
        if fresh.missing_conf_env:
            conf_env = fresh.missing_conf_env
            conf_env.mkdir()
            (conf_env / ".gitkeep").touch()
            notices = [_conf_env_notice(conf_env, created=True), *notices]
    for notice in notices:
        notify(notice)
    return written


def check(
    project_path: Path,
    pipeline_names: list[str],
    target: Path,
    env: str = DEFAULT_ENV,
    project_relpath: str | None = None,
    notify: Callable[[str], None] = _print_notice,
) -> list[tuple[Path, str]]:
    """What ``render`` would change in ``target``, without touching it or the project:
    ``(path, "stale")`` for a file that differs, ``(path, "missing")`` for one that does not
    exist; empty when up to date. Notices as for ``render``."""
    target = Path(target).resolve()
    with _rendered(Path(project_path), pipeline_names, target, env, project_relpath) as fresh:
        problems = []
        for path in fresh.files:
            current = target / path.name
            if not current.is_file():
                problems.append((current, "missing"))
            elif current.read_bytes() != path.read_bytes():
                problems.append((current, "stale"))
        notices = fresh.notices
        if fresh.missing_conf_env:
            conf_env = fresh.missing_conf_env
            notices = [_conf_env_notice(conf_env, created=False), *notices]
    for notice in notices:
        notify(notice)
    return problems


