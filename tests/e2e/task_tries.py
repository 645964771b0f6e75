"""What a test shows when a task took a try it should not have: the end of that try's log.

The DAGs retry, so a run can succeed over a failed try; a test that asserts the tries names the
failed ones with their logs, or a failure on a CI machine leaves nothing to go on.
"""

from __future__ import annotations

from collections.abc import Iterable

#: lines of each failed try's log shown, from its end
TAIL = 40


def tries_logs(airflow, dag_id: str, run_id: str,
               tries: Iterable[tuple[str, int, int]]) -> str:
    """The end of the log of each ``(task_id, map_index, try_number)``, under a header each
    (a try without a log says so: it failed before its task process wrote one)."""
    parts = []
    for task_id, map_index, try_number in tries:
        lines = airflow.task_log(dag_id, run_id, task_id, try_number,
                                 map_index=map_index).splitlines()[-TAIL:]
        parts.append(f"--- {task_id}[{map_index}] try {try_number}:\n"
                     + ("\n".join(lines) if lines else "(no log)"))
    return "\n".join(parts)


def service_log_lines(path, needle: str, tail: int = 20) -> str:
    """The last lines of a service's log that name ``needle`` (a task id): what the scheduler
    did with a try whose own log is short."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if needle in line]
    return f"--- {path.name}, lines naming {needle}:\n" + "\n".join(lines[-tail:])
