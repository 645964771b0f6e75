"""Airflow's lifecycle listeners, as a job starts, start the forkserver only where the scheduler
set it up to preload the task runtime (kedro_mlops/runtime/scheduler_plugin.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psutil
import pytest

from kedro_mlops.runtime.warm_runtime import TASK_PRELOAD

# A fresh interpreter per case: the start method and the forkserver are per process. Airflow's
# listener manager loads the plugins (ours through its entry point) and calls on_starting as a
# job does; the script prints the forkserver's pid (or None) and exits.
STARTING_JOB = """
import multiprocessing, sys
from multiprocessing import forkserver

method, preload = sys.argv[1], sys.argv[2:]
multiprocessing.set_start_method(method)
if method == "forkserver":
    multiprocessing.set_forkserver_preload(preload)

from airflow.listeners.listener import get_listener_manager

get_listener_manager().hook.on_starting(component=None)
print("forkserver:", forkserver._forkserver._forkserver_pid, flush=True)
"""


def _forkserver_after_job_start(method: str, preload: list[str],
                                executor: str = "LocalExecutor") -> int | None:
    # the forkserver inherits stdout and outlives the script: read up to the script's line only
    env = {**os.environ, "AIRFLOW__CORE__EXECUTOR": executor}
    with subprocess.Popen([sys.executable, "-c", STARTING_JOB, method, *preload], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as job:
        output = []
        for line in iter(job.stdout.readline, ""):
            output.append(line)
            if line.startswith("forkserver: "):
                break
        assert job.wait(timeout=120) == 0, "".join(output)[-3000:]
    assert output[-1:] and output[-1].startswith("forkserver: "), "".join(output)[-3000:]
    value = output[-1].removeprefix("forkserver: ").strip()
    return None if value == "None" else int(value)


@pytest.mark.parametrize(("method", "preload", "executor"), [
    ("fork", [TASK_PRELOAD], "LocalExecutor"),  # the dag-processor, triggerer, api-server
    ("forkserver", ["json"], "LocalExecutor"),  # a forkserver set up by someone else
    ("forkserver", [TASK_PRELOAD], "CeleryExecutor"),  # a scheduler that forks no worker
])
def test_a_process_without_the_preloading_forkserver_is_left_as_it_is(method, preload,
                                                                       executor):
    assert _forkserver_after_job_start(method, preload, executor) is None


@pytest.mark.parametrize("executor", [
    "kedro_mlops.runtime.local_executor.LocalExecutor",  # airflow.cfg's
    "LocalExecutor",  # Airflow's own, as a user may configure it
])
def test_the_schedulers_forkserver_starts_with_its_job(executor):
    pid = _forkserver_after_job_start("forkserver", [TASK_PRELOAD], executor)
    assert pid is not None
    try:
        # it outlives the job's process while it imports; it is that forkserver, preloading
        cmdline = " ".join(psutil.Process(pid).cmdline())
        assert "multiprocessing.forkserver import main" in cmdline and TASK_PRELOAD in cmdline
    finally:
        try:
            psutil.Process(pid).send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
