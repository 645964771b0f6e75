"""Airflow plugin: the scheduler's forkserver starts with the scheduler, not at its first task.

The LocalExecutor's workers come from a forkserver that imports the warm task runtime
(``[scheduler] mp_start_method = forkserver``, ``mp_forkserver_preload``; see ``warm_runtime``).
Python starts that forkserver when the executor spawns its first worker, and the spawn returns
only once the forkserver has done its imports: the scheduler's whole loop stood still for them
at the first task after every start (7.6 s on a busy 2-core machine, its log silent between
queueing the first task and the worker starting), and every DAG run waited with it.

Airflow calls the lifecycle listener ``on_starting`` as the scheduler creates its job, after it
has set the start method and the preload. Starting the forkserver there (it is a process of its
own; starting it does not wait for its imports) lets it import while the scheduler starts up.
Any other process, a forkserver without this preload, or a scheduler with no LocalExecutor
(a CeleryExecutor's scheduler forks no worker: its forkserver would be 420 MB for nothing) is
left as it is. Registered through the ``airflow.plugins`` entry point (pyproject.toml); this
module imports nothing heavy, since every Airflow process that loads plugins imports it.
"""

from __future__ import annotations

import multiprocessing
import sys

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from kedro_mlops.runtime.warm_runtime import TASK_PRELOAD


def _runs_local_executor() -> bool:
    """A LocalExecutor (Airflow's, or a subclass such as kedro_mlops.runtime.local_executor's)
    is configured: the one executor that starts its workers from that forkserver."""
    from airflow.executors.executor_loader import ExecutorLoader
    from airflow.executors.local_executor import LocalExecutor

    for name in ExecutorLoader.get_executor_names(validate_teams=False):
        executor_cls, _ = ExecutorLoader.import_executor_cls(name)
        if issubclass(executor_cls, LocalExecutor):
            return True
    return False


def start_preloading_forkserver() -> bool:
    """Start this process's forkserver if Airflow set it up to preload the task runtime for a
    LocalExecutor; whether it did (a forkserver already running is left as it is)."""
    if multiprocessing.get_start_method(allow_none=True) != "forkserver":
        return False
    from multiprocessing import forkserver

    # the preload set by multiprocessing.set_forkserver_preload has no public getter
    if TASK_PRELOAD not in getattr(forkserver._forkserver, "_preload_modules", ()):
        return False
    if not _runs_local_executor():
        return False
    forkserver.ensure_running()
    return True


@hookimpl
def on_starting(component) -> None:
    start_preloading_forkserver()


class KedroMlopsPlugin(AirflowPlugin):
    name = "kedro_mlops"
    listeners = [sys.modules[__name__]]  # noqa: RUF012 - AirflowPlugin's own attribute
