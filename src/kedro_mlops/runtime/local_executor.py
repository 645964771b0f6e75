"""The LocalExecutor, with a scheduler loop that slows down while no task runs.

One task per Kedro node puts the scheduler between every two nodes: ``[scheduler]
scheduler_idle_sleep_time = 0.1`` (airflow.cfg) lets the next node start within about 0.1 s of
its upstream (a training DAG run: 21 s, against 30 s at Airflow's default of 1 s). But each loop
costs the scheduler about 20 ms of CPU and PostgreSQL a round of queries, whether or not anything
runs: idle, such a scheduler kept 19 % of a core busy and PostgreSQL 7 % more (2.4 % and 1.5 % at
1 s), on a deployment that is idle most of the day and on a test machine that runs several.

The scheduler calls its executor's ``heartbeat`` once per loop. This executor's heartbeat pauses
for ``[kedro_mlops] idle_scheduler_pause`` seconds (default 0.9: about one loop a second, as
Airflow's default) once it has had no task queued or running for ``IDLE_AFTER_SECONDS``. A DAG run
is fast once it has started: while a run's tasks follow each other, the executor always has one
queued or running and the loop keeps its 0.1 s. What waits up to one pause is the first task of a
run triggered on an idle scheduler, and a task whose deferral ended while nothing else ran.
"""

from __future__ import annotations

import time

from airflow.configuration import conf
from airflow.executors import local_executor

from kedro_mlops.runtime.warm_runtime import CONFIG_SECTION

#: how long the executor must have been empty before the loop slows down: far longer than the
#: gap between two chained tasks (one loop), so a running DAG never pauses between its nodes
IDLE_AFTER_SECONDS = 5.0
PAUSE_OPTION = "idle_scheduler_pause"
DEFAULT_PAUSE_SECONDS = 0.9


def idle_pause(busy: bool, idle_since: float, now: float, pause: float) -> float:
    """Seconds to pause after this heartbeat: ``pause`` once the executor has been empty for
    ``IDLE_AFTER_SECONDS`` since ``idle_since`` (its last busy heartbeat), else 0."""
    if busy or pause <= 0 or now - idle_since < IDLE_AFTER_SECONDS:
        return 0.0
    return pause


class LocalExecutor(local_executor.LocalExecutor):
    """Airflow's LocalExecutor (workers, forkserver, task runs unchanged), whose heartbeat
    pauses the scheduler's loop while it has had nothing to do.

    Airflow 3.3's LocalExecutor leaves ``self.running`` empty, so the workloads in flight are
    counted here: from their hand-over to the workers until their final state comes back.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pause = conf.getfloat(CONFIG_SECTION, PAUSE_OPTION, fallback=DEFAULT_PAUSE_SECONDS)
        self._last_busy = time.monotonic()
        self._in_flight: set = set()

    def _process_workloads(self, workload_list) -> None:
        self._in_flight.update(workload.key for workload in workload_list)
        super()._process_workloads(workload_list)

    def change_state(self, key, state, info=None, remove_running=True) -> None:
        # a worker reports "running" as it starts a workload, then its final state
        if state != "running":
            self._in_flight.discard(key)
        super().change_state(key, state, info, remove_running)

    def _busy(self) -> bool:
        return bool(self._in_flight or self.running or self.queued_tasks
                    or self.queued_callbacks or self.queued_connection_tests)

    def heartbeat(self) -> None:
        # busy before (a workload whose final state this heartbeat reads) or after (one it hands
        # to the workers)
        busy = self._busy()
        super().heartbeat()
        busy = self._busy() or busy
        now = time.monotonic()
        if busy:
            self._last_busy = now
        pause = idle_pause(busy, self._last_busy, now, self._pause)
        if pause:
            time.sleep(pause)
