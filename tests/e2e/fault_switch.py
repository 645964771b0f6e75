"""Arming the test stacks' faults from a test (the stack side is ``tests/fault_plugin``).

The plugin folder goes on the PYTHONPATH of the stack's Airflow processes: Airflow loads its
cluster policy (``airflow_local_settings``) and Kedro its hooks (entry point ``kedro.hooks``)
from there, so the deployment's code carries no test switch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PLUGIN_DIR = Path(__file__).parents[1] / "fault_plugin"


def stack_env(faults_dir: Path) -> dict[str, str]:
    """What the Airflow processes of a test stack need in their environment to honour faults."""
    path = [str(PLUGIN_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path), "MLOPS_TEST_FAULTS_DIR": str(faults_dir)}


def arm(faults_dir: Path, dag_id: str, run_id: str, task_id: str, action: str) -> Path:
    """Make ``task_id`` of that DAG run do ``action`` (fail_before, fail_after, hang_in_node)
    on the first try that reaches it."""
    path = Path(faults_dir) / dag_id / run_id / f"{task_id}.{action}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def fired(armed: Path) -> bool:
    return armed.with_name(armed.name + ".fired").exists() and not armed.exists()


def hung_pid(armed: Path, timeout: float = 600) -> int:
    """The pid of the task process that hangs on this ``hang_in_node`` fault, once it does."""
    pid_file = armed.with_name(armed.name + ".pid")
    deadline = time.monotonic() + timeout
    while not pid_file.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no task hung on {armed} within {timeout:.0f}s")
        time.sleep(0.5)
    return int(pid_file.read_text())


def release(armed: Path) -> None:
    """Let the task that hangs on this ``hang_in_node`` fault go on and save its output."""
    armed.with_name(armed.name + ".release").touch()
