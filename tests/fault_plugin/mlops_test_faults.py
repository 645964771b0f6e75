"""Faults a test arms for one task of one DAG run; fired once, from inside the task process.

A fault is armed by creating ``$MLOPS_TEST_FAULTS_DIR/<dag_id>/<run_id>/<task_id>.<action>``
(see ``tests/e2e/fault_switch.py``). Firing renames it to ``<...>.<action>.fired``: a rename is
atomic, so a fault fires on exactly one try even if two tries raced for it. Actions:

- ``fail_before``: the task fails before its ``execute`` (nothing done yet);
- ``fail_after``: the task fails after its ``execute`` returned (its side effects happened);
- ``hang_in_node``: a Kedro node task stops right before it saves its first output, writes its
  pid to ``<...>.pid`` and waits there to be killed, or until ``<...>.release`` exists (then it
  saves); it exits by itself once orphaned (its supervisor was killed instead) and raises
  after ten minutes. In ``mlops_test_kedro_faults``.
"""

from __future__ import annotations

import os
from pathlib import Path

FAULTS_DIR_ENV = "MLOPS_TEST_FAULTS_DIR"


class InjectedFault(RuntimeError):
    """Raised by an armed fault: never part of the deployment's behaviour."""


def armed_fault(dag_id: str, run_id: str, task_id: str, action: str) -> Path | None:
    root = os.environ.get(FAULTS_DIR_ENV)
    if not root:
        return None
    path = Path(root) / dag_id / run_id / f"{task_id}.{action}"
    try:
        path.rename(path.with_name(path.name + ".fired"))
    except FileNotFoundError:
        return None
    return path


def _task_ids(context) -> tuple[str, str, str]:
    ti = context["ti"]
    return ti.dag_id, ti.run_id, ti.task_id


def before_execute(context) -> None:
    if armed_fault(*_task_ids(context), "fail_before"):
        raise InjectedFault(f"injected fault: {context['ti'].task_id} fails before it runs")


def after_execute(context, result) -> None:
    if armed_fault(*_task_ids(context), "fail_after"):
        raise InjectedFault(
            f"injected fault: {context['ti'].task_id} fails after it ran (returned {result!r})"
        )
