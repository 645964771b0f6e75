"""Render a Kedro project's pipelines into Airflow DAG files: one task per Kedro node.

    python -m kedro_mlops.render --project kedro_project --pipelines training,scoring --target dags
    python -m kedro_mlops.render --project kedro_project --pipelines training,scoring --target dags --check
    kedro-mlops-render ...                         # the same command line, as a console script
    kedro mlops render --pipelines ... --check     # inside a Kedro project (kedro_mlops.cli.render)

Builds one plan per DAG (``kedro_mlops.plan``: tasks, edges, params, and where each dataset that
crosses tasks lives, since tasks run in separate processes, possibly on separate workers), then
runs kedro-airflow's ``kedro airflow create`` with this package's template, which prints the
plan. Output is formatted with ruff so that regenerating is byte-for-byte stable.

Every problem with the input (project, pipeline names, environment, catalog, node names) raises a
``RenderError``; the command line prints it as one message and exits with status 2. What the
renderer assumes for a project that leaves something out (no airflow.yml or no section of it for
a DAG, a PipelineML without ``registered_model_name``, no mlflow.yml, no ``conf/local`` folder)
is one notice per assumption (``note: ...`` on stderr), and the DAG renders with the defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).parent / "templates" / "airflow_dag.py.j2"
# kedro-airflow's defaults (kedro_airflow.plugin.DEFAULT_RUN_ENV and DEFAULT_PIPELINE)
DEFAULT_ENV = "local"
DEFAULT_PIPELINE = "__default__"
# Airflow's rule for task ids (airflow.sdk.definitions._internal.node.validate_key)
TASK_ID = re.compile(r"^[\w.-]{1,250}$")
# what the template renders when airflow.yml says nothing (templates/airflow_dag.py.j2)
TEMPLATE_DEFAULTS = "schedule None, retries 1, owner airflow, tags [kedro]"
SEE_DOCS = "see README.md, 'Airflow DAGs'"
# Where the catalog is read from at render time: the roots every task sets at run time
# (execution.kedro_session), as paths that are neither the project's nor a real location, so
# that the plan tells datasets under them from those relative to the project.
RENDER_DATA_ROOT = "/kedro-mlops-run-data-root"
RENDER_RUNTIME_PARAMS = {"data_root": RENDER_DATA_ROOT, "lake_root": "/kedro-mlops-lake-root"}
# kedro-mlflow's patterns for mlflow.yml (kedro_mlflow.framework.hooks.mlflow_hook)
MLFLOW_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]


class RenderError(ValueError):
    """A problem with the input of the renderer, explained with its fix (no traceback)."""


class NotAKedroProject(RenderError):
    pass


class UnknownPipeline(RenderError):
    pass


class UnknownEnvironment(RenderError):
    pass


class MemoryDatasetBetweenTasks(RenderError):
    pass


class InvalidTaskId(RenderError):
    pass


class BadTarget(RenderError):
    pass


def dag_id(package_name: str, pipeline_name: str) -> str:
    """The DAG id the template gives the DAG of a pipeline: ``<package>[_<pipeline>]``."""
    return package_name if pipeline_name == DEFAULT_PIPELINE else f"{package_name}_{pipeline_name}"


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


def _bootstrap_without_tracking(project_path: Path):
    """Load the project with kedro-mlflow's hooks off: rendering must not need a tracking server."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    if not project_path.is_dir():
        raise NotAKedroProject(
            f"--project {project_path}: no such folder. Pass the folder of the Kedro project "
            "(the one holding its pyproject.toml)."
        )
    pyproject = project_path / "pyproject.toml"
    try:
        kedro_section = tomllib.loads(pyproject.read_text()).get("tool", {}).get("kedro")
    except (OSError, tomllib.TOMLDecodeError):
        kedro_section = None
    if not kedro_section:
        raise NotAKedroProject(
            f"--project {project_path} is not a Kedro project: it has no pyproject.toml with a "
            "[tool.kedro] section. Pass the folder of the Kedro project (the one holding its "
            "pyproject.toml, created by `kedro new`)."
        )
    try:
        metadata = bootstrap_project(project_path)
    except (RuntimeError, ValueError) as exc:  # bad [tool.kedro] section, Kedro version mismatch
        raise NotAKedroProject(f"--project {project_path}: {exc}") from None
    # Distribution names vary in normalisation between installers.
    settings.DISABLE_HOOKS_FOR_PLUGINS = (
        *settings.DISABLE_HOOKS_FOR_PLUGINS, "kedro-mlflow", "kedro_mlflow"
    )
    return metadata


def _missing_default_env(project_path: Path, env: str) -> Path | None:
    """``conf/local`` when ``env`` is the default ``local`` and its folder is missing (git does not
    keep empty folders, so a cloned starter may lack it); raise for any other missing env."""
    from kedro.framework.project import settings

    conf = project_path / settings.CONF_SOURCE
    if conf.is_dir() and not (conf / env).is_dir():
        if env == DEFAULT_ENV:
            return conf / env
        known = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")
        raise UnknownEnvironment(
            f"--env {env}: the project has no configuration environment '{env}' (no folder "
            f"{conf / env}). Known environments: {', '.join(known) or 'none'}. Pass one of "
            f"them with --env, or create the folder {conf / env}/ (it may be empty)."
        )
    return None


@contextlib.contextmanager
def _conf_with_empty_env(conf_env: Path | None):
    """Kedro (1.7) refuses to load a project whose ``conf/<env>`` folder is missing, even for the
    default ``local``: while rendering, Kedro and kedro-airflow read a temporary copy of ``conf``
    with that folder empty. The project itself is not touched."""
    if conf_env is None:
        yield
        return
    from kedro.framework.project import settings

    before = settings.CONF_SOURCE
    with tempfile.TemporaryDirectory(prefix="kedro-mlops-conf-") as tmp:
        copy = Path(tmp) / conf_env.parent.name
        shutil.copytree(conf_env.parent, copy)
        (copy / conf_env.name).mkdir()
        settings.CONF_SOURCE = str(copy)  # absolute: KedroSession joins it to the project path
        try:
            yield
        finally:
            settings.CONF_SOURCE = before


@dataclass
class _Project:
    package_name: str
    project_path: Path
    catalog: object
    airflow_config: dict  # empty when the project has no airflow.yml
    has_airflow_yml: bool
    has_mlflow_yml: bool
    notices: list[str] = field(default_factory=list)


def _has_config(loader, key: str, patterns: list[str]) -> bool:
    from kedro.config import MissingConfigException

    if key not in loader.config_patterns:
        loader.config_patterns.update({key: patterns})
    try:
        loader[key]
    except MissingConfigException:
        return False
    except Exception:  # noqa: BLE001 - present, but needs resolvers or env vars of the run
        return True
    return True


def _load_project(project_path: Path, env: str, metadata) -> _Project:
    """The catalog and airflow.yml of ``env``, read as kedro-airflow reads them, and whether the
    project has an mlflow.yml, found as kedro-mlflow finds it."""
    from kedro.config import MissingConfigException
    from kedro.framework.session import KedroSession

    try:
        with KedroSession.create(project_path=project_path, env=env,
                                 runtime_params=RENDER_RUNTIME_PARAMS) as session:
            context = session.load_context()
            catalog = context.catalog
            loader = context.config_loader
            if "airflow" not in loader.config_patterns:  # as kedro-airflow does
                loader.config_patterns.update({"airflow": ["airflow*", "airflow/**"]})
            try:
                airflow_config = loader["airflow"]
                has_airflow_yml = True
            except MissingConfigException:  # kedro-airflow then renders with {}
                airflow_config, has_airflow_yml = {}, False
            has_mlflow_yml = _has_config(loader, "mlflow", MLFLOW_PATTERNS)
    except MissingConfigException as exc:
        raise UnknownEnvironment(
            f"--env {env}: the project's configuration cannot be read: {exc}"
        ) from None
    return _Project(metadata.package_name, project_path, catalog, airflow_config or {},
                    has_airflow_yml, has_mlflow_yml)


def _select_pipelines(pipeline_names: list[str]) -> dict:
    from kedro.framework.project import pipelines

    if not pipeline_names:
        raise UnknownPipeline(
            "--pipelines is empty: pass the names of registered pipelines, comma-separated "
            "(__default__ for the default pipeline)."
        )
    registered = sorted(pipelines)
    unknown = [name for name in pipeline_names if name not in registered]
    if unknown:
        raise UnknownPipeline(
            f"--pipelines: no pipeline named {', '.join(map(repr, unknown))} in the project's "
            f"pipeline_registry.py. Registered pipelines: {', '.join(registered) or 'none'}."
        )
    return {name: pipelines[name] for name in pipeline_names}


def _plans(project: _Project, selected: dict) -> dict:
    from kedro_mlops.plan import build_plan

    return {name: build_plan(project.package_name, name, pipeline, project.catalog,
                             project.project_path, project.airflow_config, RENDER_DATA_ROOT)
            for name, pipeline in selected.items()}


def _placement_notice(plan) -> str:
    lines = "".join(f"\n    {line}" for line in plan.mapping_lines())
    return (f"DAG '{plan.dag_id}': each DAG run keeps these datasets under its own data root "
            "(memory_datasets: refuse / relative_paths: refuse in airflow.yml turn this off; "
            f"{SEE_DOCS}):{lines}")


def _assumptions(project: _Project, selected: dict, env: str) -> tuple[list[str], dict]:
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
    hooks_off, installed_name = _kedro_mlflow_hooks_off(project.package_name)
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
    return notices, extra


def _kedro_mlflow_hooks_off(package_name: str) -> tuple[bool | None, str]:
    """Whether the project's settings.py turns kedro-mlflow's hooks off (True; also when it is
    not installed), and the distribution name Kedro matches ``DISABLE_HOOKS_FOR_PLUGINS`` with.
    None: the settings name kedro-mlflow under another spelling only (Kedro compares names as
    installed, ``kedro_mlflow`` in some wheels, ``kedro-mlflow`` in others), so the hooks stay on.
    """
    try:
        installed = importlib.metadata.distribution("kedro-mlflow").metadata["Name"]
    except importlib.metadata.PackageNotFoundError:
        return True, ""
    try:
        disabled = getattr(importlib.import_module(f"{package_name}.settings"),
                           "DISABLE_HOOKS_FOR_PLUGINS", ())
    except ImportError:
        return False, installed
    if installed in disabled:
        return True, installed
    spellings = {installed.replace("_", "-"), installed.replace("-", "_")}
    return (None if spellings & set(disabled) else False), installed


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
    metadata = _bootstrap_without_tracking(project_path)
    missing_conf_env = _missing_default_env(project_path, env)
    with _conf_with_empty_env(missing_conf_env):
        project = _load_project(project_path, env, metadata)
        selected = _select_pipelines(names)
        plans = _plans(project, selected)
        notices, extra = _assumptions(project, selected, env)
        notices += [_placement_notice(plan) for plan in plans.values() if plan.moved]
        variables = {name: {**extra.get(name, {}), "plan": plans[name]} for name in names}
        relpath = project_relpath or os.path.relpath(project_path, target)
        with tempfile.TemporaryDirectory(prefix="kedro-mlops-render-") as tmp:
            files = _render_into(Path(tmp), metadata, names, env, relpath, variables)
            yield _Rendered(files, notices, missing_conf_env)


def load_plans(project_path: Path, pipeline_names: list[str], env: str = DEFAULT_ENV) -> dict:
    """The plan (``kedro_mlops.plan.DagPlan``) of each pipeline's DAG, as rendering builds it,
    without rendering. Raises a ``RenderError`` for bad input."""
    project_path = Path(project_path).resolve()
    metadata = _bootstrap_without_tracking(project_path)
    with _conf_with_empty_env(_missing_default_env(project_path, env)):
        project = _load_project(project_path, env, metadata)
        return _plans(project, _select_pipelines(list(dict.fromkeys(pipeline_names))))


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


# --- the command line: `python -m kedro_mlops.render`, `kedro-mlops-render`, `kedro mlops render` --
# One table of options and one run function; the argparse parser below and the click command of
# the Kedro plugin (kedro_mlops.cli.render) are both made from them.

PROG = "python -m kedro_mlops.render"
DESCRIPTION = (
    "Render the pipelines of a Kedro project into Airflow DAG files, one task per Kedro node, "
    "with kedro-airflow and this package's template; the DAG settings come from the project's "
    "conf/<env>/airflow.yml (without it: schedule None, retries 1, owner airflow, tags [kedro]; "
    "each such assumption is a 'note:' line on stderr). File names are kedro-airflow's: "
    "<package>[_<env>][_<pipeline>]_dag.py (no env part for 'local', no pipeline part for "
    "'__default__')."
)
EPILOG = ("Exit status: 0 success (with --check: up to date), 1 --check found stale or missing "
          "files, 2 bad input (the message names it and the fix).")


@dataclass(frozen=True)
class Option:
    """One option of the command line; ``metavar`` None: a flag without a value."""

    dest: str
    flags: tuple[str, ...]
    help: str
    metavar: str | None = None


OPTIONS = (
    Option("project", ("--project",),
           "folder of the Kedro project, the one holding its pyproject.toml", "PATH"),
    Option("pipelines", ("-p", "--pipelines"),
           "comma-separated names of registered pipelines to render, one DAG file each; "
           "__default__ is the default pipeline", "NAMES"),
    Option("target", ("--target",),
           "folder the DAG files are written to, created if needed; with --check, the folder "
           "compared", "DIR"),
    Option("env", ("-e", "--env"),
           "Kedro configuration environment whose catalog and airflow.yml are used, and that the "
           "DAG runs with; its folder conf/<env> must exist, but a missing conf/local is "
           "created", "ENV"),
    Option("project_relpath", ("--project-relpath",),
           "path of the project as the DAG files find it, relative to their own folder (default: "
           "the relative path from --target to the project)", "PATH"),
    Option("verbose", ("--verbose",),
           "show the logs and warnings of Kedro and its plugins (hidden by default: only errors "
           "are shown)"),
    Option("check", ("--check",),
           "write nothing: render into a temporary folder and compare with --target; list the "
           "stale or missing files and exit 1, exit 0 when --target is up to date"),
)
#: the defaults of `python -m kedro_mlops.render` and `kedro-mlops-render`: this repo's project
DEFAULTS = {"project": "kedro_project", "pipelines": "training,scoring", "target": "dags",
            "env": DEFAULT_ENV}


def pipeline_names(value: str) -> list[str]:
    """The names of a comma-separated ``--pipelines`` value."""
    return [name.strip() for name in value.split(",") if name.strip()]


def user_error(prog: str, error: Exception) -> int:
    """Print a bad input as one message naming it and the fix; the exit status (2)."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2


def run(prog: str, project: Path, pipelines: str, target: Path, env: str = DEFAULT_ENV,
        project_relpath: str | None = None, verbose: bool = False,
        check_only: bool = False) -> int:
    """Render (or with ``check_only``, check) as the command lines do; the exit status."""
    if not verbose:
        # Kedro logs its logging setup, its plugins' deprecation warnings and more at INFO and
        # WARNING (and routes Python warnings there): noise around the one line that matters.
        logging.disable(logging.WARNING)
        warnings.simplefilter("ignore")
    names = pipeline_names(pipelines)
    target = Path(target)
    try:
        if check_only:
            problems = check(Path(project), names, target, env, project_relpath)
        else:
            for path in render(Path(project), names, target, env, project_relpath):
                print(f"rendered {path}")
            return 0
    except RenderError as exc:
        return user_error(prog, exc)
    if not problems:
        print(f"{target} is up to date")
        return 0
    for path, problem in problems:
        print(f"{problem}: {target / path.name}")
    print(f"{target} is out of date: run the same command without --check and commit the "
          "result", file=sys.stderr)
    return 1


def _parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG)
    for option in OPTIONS:
        if option.metavar is None:
            parser.add_argument(*option.flags, dest=option.dest, action="store_true",
                                help=option.help)
            continue
        default = DEFAULTS.get(option.dest)
        help_text = option.help if default is None else f"{option.help} (default: %(default)s)"
        parser.add_argument(*option.flags, dest=option.dest, metavar=option.metavar,
                            default=default, help=help_text)
    return parser


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = vars(_parser(prog).parse_args(argv))
    return run(prog, check_only=args.pop("check"), **args)


if __name__ == "__main__":
    # `python -m` runs this file as __main__, a second copy of the module: kedro_mlops.plan
    # raises the RenderError classes of kedro_mlops.render, which only that copy's main catches.
    from kedro_mlops.render import main as package_main

    sys.exit(package_main())
