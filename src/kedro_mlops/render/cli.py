"""The renderer's command lines: a module, a console script and a Kedro plugin command.

    python -m kedro_mlops.render --project path/to/project --pipelines __default__ --target dags
    kedro-mlops-render --project path/to/project --pipelines __default__ --target dags
    kedro mlops render --pipelines __default__ --target ../airflow/dags   # inside the project

``kedro mlops render`` is registered like kedro-airflow's ``kedro airflow create`` (entry point
``kedro.project_commands``): Kedro finds the project (the current folder or one above it) and
passes its metadata, so it has every option of ``python -m kedro_mlops.render`` but
``--project``, and Kedro's defaults (``__default__``; kedro-airflow's ``airflow_dags/``).
``kedro-mlops-render`` is ``python -m kedro_mlops.render`` under a shorter name. All three are
made from one table of options (``OPTIONS``) and run by one function (``run``).

The same group is also a global command (``kedro.global_commands``), so that outside a project
``kedro mlops render`` says what to do in one line, not click's "No such command 'mlops'".
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from kedro_mlops.read.errors import NotAKedroProject, RenderError
from kedro_mlops.read.project import DEFAULT_ENV, DEFAULT_PIPELINE
from kedro_mlops.render.dag_files import check, render

MODULE_PROG = "python -m kedro_mlops.render"
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
    with _quiet(not verbose):
        return _run(prog, Path(project), pipeline_names(pipelines), Path(target), env,
                    project_relpath, check_only)


@contextlib.contextmanager
def _quiet(on: bool) -> Iterator[None]:
    """Kedro logs its logging setup, its plugins' deprecation warnings and more at INFO and
    WARNING (and routes Python warnings there): noise around the one line that matters. Both
    switches are process-wide, so they are put back for whoever called ``run`` in-process."""
    if not on:
        yield
        return
    before = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(before)


def _run(prog: str, project: Path, names: list[str], target: Path, env: str,
         project_relpath: str | None, check_only: bool) -> int:
    try:
        if check_only:
            problems = check(project, names, target, env, project_relpath)
        else:
            for path in render(project, names, target, env, project_relpath):
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


def _parser(prog: str = MODULE_PROG) -> argparse.ArgumentParser:
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


def module_main(argv: list[str] | None = None, prog: str = MODULE_PROG) -> int:
    args = vars(_parser(prog).parse_args(argv))
    return run(prog, check_only=args.pop("check"), **args)



PROG = "kedro mlops render"
SCRIPT = "kedro-mlops-render"
#: `kedro airflow create`'s defaults, for a command run inside the project
PLUGIN_DEFAULTS = {"pipelines": DEFAULT_PIPELINE, "target": "airflow_dags", "env": DEFAULT_ENV}


def main(argv: list[str] | None = None) -> int:
    """``kedro-mlops-render``: the options and defaults of ``python -m kedro_mlops.render``."""
    return module_main(argv, prog=SCRIPT)


def _click_options(command):
    for option in reversed(OPTIONS):
        if option.dest == "project":  # Kedro passes the project it runs in; said if given
            command = click.option(*option.flags, option.dest, hidden=True)(command)
            continue
        if option.metavar is None:
            decorator = click.option(*option.flags, option.dest, is_flag=True, help=option.help)
        else:
            default = PLUGIN_DEFAULTS.get(option.dest)
            decorator = click.option(*option.flags, option.dest, metavar=option.metavar,
                                     default=default, show_default=default is not None,
                                     help=option.help)
        command = decorator(command)
    return command


@click.group(name="Kedro-MLOps")
def commands() -> None:
    pass


@commands.group(name="mlops")
def mlops_commands() -> None:
    """Deploy the project on Airflow (one task per node), tracked by MLflow."""


@mlops_commands.command(name="render", help=DESCRIPTION, epilog=EPILOG)
@_click_options
@click.pass_context
def render_command(ctx: click.Context, project: str | None, check: bool, **options) -> None:
    metadata = ctx.obj  # Kedro's ProjectMetadata; None outside a project
    if project is not None:
        ctx.exit(user_error(PROG, NotAKedroProject(
            f"--project {project}: this command renders the Kedro project it runs in. Run it in "
            f"that project's folder without --project, or use `{SCRIPT} --project {project}`."
        )))
    if metadata is None:
        ctx.exit(user_error(PROG, NotAKedroProject(
            f"{Path.cwd()} is not in a Kedro project (no pyproject.toml with a [tool.kedro] "
            "section here or in a folder above). Run the command in the project's folder, or "
            f"use `{SCRIPT} --project PATH`."
        )))
    ctx.exit(run(PROG, metadata.project_path, check_only=check, **options))
