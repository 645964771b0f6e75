"""The renderer as a Kedro plugin command and as a console script.

    kedro mlops render --pipelines __default__ --target ../airflow/dags   # inside the project
    kedro-mlops-render --project path/to/project --pipelines __default__ --target dags

``kedro mlops render`` is registered like kedro-airflow's ``kedro airflow create`` (entry point
``kedro.project_commands``): Kedro finds the project (the current folder or one above it) and
passes its metadata, so it has every option of ``python -m kedro_mlops.render`` but
``--project``, and Kedro's defaults (``__default__``; kedro-airflow's ``airflow_dags/``).
``kedro-mlops-render`` is ``python -m kedro_mlops.render`` under a shorter name. All three are
made from one table of options and run by one function (``kedro_mlops.render.OPTIONS`` and
``run``).

The same group is also a global command (``kedro.global_commands``), so that outside a project
``kedro mlops render`` says what to do in one line, not click's "No such command 'mlops'".
"""

from __future__ import annotations

from pathlib import Path

import click

from kedro_mlops import render as renderer

PROG = "kedro mlops render"
SCRIPT = "kedro-mlops-render"
#: `kedro airflow create`'s defaults, for a command run inside the project
PLUGIN_DEFAULTS = {"pipelines": renderer.DEFAULT_PIPELINE, "target": "airflow_dags",
                   "env": renderer.DEFAULT_ENV}


def main(argv: list[str] | None = None) -> int:
    """``kedro-mlops-render``: the options and defaults of ``python -m kedro_mlops.render``."""
    return renderer.main(argv, prog=SCRIPT)


def _click_options(command):
    for option in reversed(renderer.OPTIONS):
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


@mlops_commands.command(name="render", help=renderer.DESCRIPTION, epilog=renderer.EPILOG)
@_click_options
@click.pass_context
def render_command(ctx: click.Context, project: str | None, check: bool, **options) -> None:
    metadata = ctx.obj  # Kedro's ProjectMetadata; None outside a project
    if project is not None:
        ctx.exit(renderer.user_error(PROG, renderer.NotAKedroProject(
            f"--project {project}: this command renders the Kedro project it runs in. Run it in "
            f"that project's folder without --project, or use `{SCRIPT} --project {project}`."
        )))
    if metadata is None:
        ctx.exit(renderer.user_error(PROG, renderer.NotAKedroProject(
            f"{Path.cwd()} is not in a Kedro project (no pyproject.toml with a [tool.kedro] "
            "section here or in a folder above). Run the command in the project's folder, or "
            f"use `{SCRIPT} --project PATH`."
        )))
    ctx.exit(renderer.run(PROG, metadata.project_path, check_only=check, **options))
