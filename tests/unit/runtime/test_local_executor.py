"""The LocalExecutor whose heartbeat pauses an idle scheduler loop
(kedro_mlops/runtime/local_executor.py): it pauses only once no workload has been queued or in
flight for IDLE_AFTER_SECONDS, and never while a workload runs."""

from __future__ import annotations

import ctypes
import multiprocessing
import queue
from types import SimpleNamespace

import pytest

from kedro_mlops.runtime import local_executor
from kedro_mlops.runtime.local_executor import IDLE_AFTER_SECONDS, LocalExecutor, idle_pause


@pytest.mark.parametrize(("busy", "idle_for", "pause", "expected"), [
    (True, 60.0, 0.9, 0.0),  # a workload queued or in flight: never
    (False, IDLE_AFTER_SECONDS - 0.1, 0.9, 0.0),  # between two chained tasks
    (False, IDLE_AFTER_SECONDS, 0.9, 0.9),
    (False, 60.0, 0.0, 0.0),  # turned off
])
def test_the_pause_starts_once_the_executor_has_been_empty_for_a_while(busy, idle_for, pause,
                                                                       expected):
    assert idle_pause(busy, 100.0, 100.0 + idle_for, pause) == expected


class Clock:
    """time.monotonic and time.sleep of the module under test: ``now`` moves by hand."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def executor(monkeypatch):
    """An executor whose queues are in-process (no worker spawned): what it hands to workers
    stays in ``activity_queue``, and the test plays the workers through ``result_queue``."""
    clock = Clock()
    monkeypatch.setattr(local_executor, "time", clock)
    monkeypatch.setenv("AIRFLOW__KEDRO_MLOPS__IDLE_SCHEDULER_PAUSE", "0.9")
    ex = LocalExecutor(parallelism=2)
    ex.activity_queue, ex.result_queue = queue.SimpleQueue(), queue.SimpleQueue()
    ex._unread_messages = multiprocessing.Value(ctypes.c_uint)
    monkeypatch.setattr(ex, "_check_workers", lambda: None)
    return ex, clock


def _beat(ex, clock, at: float) -> bool:
    """A scheduler loop's heartbeat at ``at`` s after the executor was made; whether it paused."""
    clock.now, before = 1000.0 + at, len(clock.sleeps)
    ex.heartbeat()
    return len(clock.sleeps) > before


def test_an_idle_executor_pauses_each_loop_after_a_while(executor):
    ex, clock = executor
    assert not _beat(ex, clock, 1.0)
    assert _beat(ex, clock, IDLE_AFTER_SECONDS + 1) and _beat(ex, clock, IDLE_AFTER_SECONDS + 2)
    assert set(clock.sleeps) == {0.9}


def test_a_running_workload_keeps_the_loop_fast_until_its_final_state(executor):
    ex, clock = executor
    key = ("dag", "task", "run", 1)
    ex.queued_tasks[key] = SimpleNamespace(key=key, ti=SimpleNamespace(priority_weight=1))
    assert not _beat(ex, clock, 10.0)  # handed to the workers (long after the executor started)
    assert ex.activity_queue.get_nowait().key == key
    assert not _beat(ex, clock, 60.0)  # still in flight: Airflow's LocalExecutor.running is empty
    ex.result_queue.put((key, "running", None))  # a worker started it
    assert not _beat(ex, clock, 61.0)
    ex.result_queue.put((key, "success", None))  # and finished it
    assert not _beat(ex, clock, 62.0)  # the next node is queued in the next loop
    assert ex.event_buffer[key][0] == "success"  # reported to the scheduler as before
    assert not _beat(ex, clock, 62.0 + IDLE_AFTER_SECONDS - 1)
    assert _beat(ex, clock, 62.0 + IDLE_AFTER_SECONDS + 1)


def test_a_pause_of_zero_turns_it_off(executor, monkeypatch):
    monkeypatch.setenv("AIRFLOW__KEDRO_MLOPS__IDLE_SCHEDULER_PAUSE", "0")
    _, clock = executor
    ex = LocalExecutor(parallelism=1)
    ex.result_queue = queue.SimpleQueue()
    monkeypatch.setattr(ex, "_check_workers", lambda: None)
    assert not _beat(ex, clock, 600.0)
