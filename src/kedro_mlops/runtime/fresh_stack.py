"""Run a node task's work on a thread of its own, at the bottom of a fresh interpreter stack.

CPython (3.11 on, until gh-142183's fix) keeps its frames in 16 KiB chunks per thread and
frees a chunk as soon as the call that needed it returns: code that loops at a call depth
across a chunk boundary maps and unmaps a chunk on every call (mmap/munmap and page faults).
A task process is forked deep inside its executor worker's call stack (a Celery prefork worker's
is some 70 frames deep), so its Kedro session runs at a depth no ``kedro run`` ever has, and
there some of Kedro's, OmegaConf's and pandas' loops hit such a boundary: a task on a Celery
worker that loaded the project's config three times mapped and unmapped a chunk 10,000 times
(a load took 0.13-0.25 s; 0.06-0.09 s on the LocalExecutor). On two Celery workers, with the
node tasks on fresh stacks, a training DAG's tasks made 0.70 million page faults instead of
0.91 million, and the DAG run took 26.9 s instead of 31.2 s (medians of 5 runs each,
alternating on one stack).

A new thread starts with an empty stack, as ``kedro run`` does, whatever forked the task. The
calling thread only waits: Airflow's signal handlers (SIGTERM, the SIGALRM of
``execution_timeout``) still run in it, and the task process ends with ``os._exit`` whatever
the thread is doing. Code run here cannot install a signal handler (``signal.signal`` works in
the main thread only): a node that does fails saying so (docs/own-project.md), and the task
that logs the model stays on the main thread, since MLflow times its requirements inference
with SIGALRM and would quietly fall back to default requirements.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def on_fresh_stack(work: Callable[[], T]) -> T:
    """``work()`` on a new thread (with this thread's context variables); its result, or its
    exception raised here."""
    context = contextvars.copy_context()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = context.run(work)
        except BaseException as error:  # noqa: BLE001 - handed to the caller as it is
            outcome["error"] = error

    # daemon: a task whose main thread was stopped (timeout, SIGTERM) exits without waiting
    thread = threading.Thread(target=run, name="kedro-node", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
