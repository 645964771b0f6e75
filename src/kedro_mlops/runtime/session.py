"""A Kedro session for one task of a DAG run: which run it is, its params, its catalog.

Every task reaches Kedro through ``kedro_session``: the trigger params become runtime params
(``params``), the run's data root and the lake root are set, the datasets the plan places under
the run's data root are moved there (``kedro_mlops.plan.run_catalog``), and a ``PipelineML`` is
served as its plain training pipeline (``plain_pipelines``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kedro_mlops.config import KedroProject, lake_root, run_data_root
from kedro_mlops.plan.run_catalog import RunScopedCatalog
from kedro_mlops.runtime import plain_pipelines, task_log_noise
from kedro_mlops.runtime.params import (
    RUN_ANNOTATIONS,
    InvalidRunParams,
    check_param_paths,
    kedro_runtime_params,
    unknown_params,
)

task_log_noise.quiet()


@dataclass(frozen=True)
class DagRunCall:
    """What a task knows about the DAG run it belongs to."""

    project: KedroProject
    pipeline_name: str
    dag_id: str
    run_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: params the DAG declares (its trigger form); Airflow checks them against their schema
    declared: frozenset[str] = frozenset()
    #: Kedro runtime params set by the DAG itself (airflow.yml ``runtime_params``, rendered by
    #: Airflow) and pinned by its first task (the model version): not in the trigger form
    runtime_params: Mapping[str, Any] = field(default_factory=dict)
    #: index of this task among the mapped copies of a fanned-out node (-1: not mapped)
    map_index: int = -1

    @property
    def data_root(self) -> str:
        return run_data_root(self.dag_id, self.run_id)


#: project path -> package name, for each project this process has bootstrapped
_bootstrapped: dict[Path, str] = {}


def bootstrap(project_path: str | Path) -> None:
    """``bootstrap_project``, once per process and project.

    Kedro's ``configure_project`` rebuilds its settings each time (dynaconf then walks the call
    stack with ``inspect.stack()``: 0.1-0.2 s of every task). A warm executor worker bootstraps
    its projects before it forks (``warm_runtime``), so a task of one of them finds Kedro
    configured for its package and skips it; settings are the package's code, which a warm
    worker already holds as of its start.
    """
    from kedro.framework import project as kedro_project

    path = Path(project_path).expanduser().resolve()
    if _bootstrapped.get(path) is not None and kedro_project.PACKAGE_NAME == _bootstrapped[path]:
        # what configure_project's first call in a process does besides the settings: apply
        # Kedro's logging config (here, after Airflow set up the task's log), or Kedro's own
        # lines would miss the task log
        kedro_project.LOGGING.configure(kedro_project.LOGGING.data)
        return
    _bootstrapped[path] = bootstrap_project(path).package_name


@contextmanager
def kedro_session(call: DagRunCall, data_root: str | None = None) -> Iterator[KedroSession]:
    """The task's session; its scratch folder (local files of MLflow artifacts) goes with it."""
    bootstrap(call.project.project_path)
    runtime_params = {
        **kedro_runtime_params(call.params),
        **call.runtime_params,
        "data_root": data_root or call.data_root,
        "lake_root": lake_root(),
    }
    with plain_pipelines.serving(call.project.package_name), TemporaryDirectory(
        prefix="kedro-mlops-scratch-"
    ) as scratch, KedroSession.create(
        project_path=call.project.project_path,
        env=call.project.env,
        conf_source=call.project.conf_source,
        runtime_params=runtime_params,
    ) as session:
        # Kedro has no public way to add a hook to one session; this one moves the datasets
        # the plan places under the run's data root (kedro_mlops.plan.run_catalog).
        session._hook_manager.register(RunScopedCatalog(
            call.pipeline_name, call.project.project_path, runtime_params["data_root"], scratch))
        yield session


def load_context(call: DagRunCall):
    """The project's KedroContext for this call.

    kedro-mlflow creates the project's experiment when a context loads; two DAG runs starting
    at once (a backfill next to the scheduled run, two triggers) both try, and the loser gets
    RESOURCE_ALREADY_EXISTS: by then the experiment exists, so loading again finds it. Every
    first load of a DAG run goes through here (the params check, the experiment's name).
    """
    from mlflow.exceptions import MlflowException

    try:
        with kedro_session(call) as session:
            return session.load_context()
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    with kedro_session(call) as session:
        return session.load_context()


def validate_params(call: DagRunCall) -> None:
    """Reject trigger params Kedro does not know, naming each, before any work is done.

    Checked against the project's parameters as configured, without the trigger params (Kedro
    merges runtime params into parameters, so any key would look known there).
    """
    check_param_paths(call.params, call.runtime_params)
    undeclared = [k for k in call.params if k not in call.declared and k not in RUN_ANNOTATIONS]
    if not undeclared:
        return
    bare = DagRunCall(call.project, call.pipeline_name, call.dag_id, call.run_id, params={},
                      runtime_params=call.runtime_params)
    unknown = unknown_params(undeclared, load_context(bare).params)
    if unknown:
        raise InvalidRunParams(
            f"Unknown Kedro parameter(s) in the trigger params: {', '.join(unknown)}. "
            "Each key must be a param of the DAG's trigger form or name a parameter of the "
            "project's parameters*.yml (dotted for nested keys, e.g. 'model.max_depth')."
        )
