"""The task supervisor sees its task process exit once the process has closed its sockets."""

from __future__ import annotations

import os
import selectors
import time

import psutil
import pytest
from airflow.sdk.execution_time.supervisor import PsutilTracker, WatchedSubprocess

from kedro_mlops.runtime import supervisor_exit


class Supervised(WatchedSubprocess):
    """A supervisor's state, without the sockets and the API client of a real one."""

    def __init__(self, pid: int) -> None:
        self.selector = selectors.DefaultSelector()
        self._process = PsutilTracker(psutil.Process(pid))
        self._exit_code = None
        self._process_exit_monotonic = None


def _exiting_child(after: float, code: int) -> int:
    pid = os.fork()
    if pid == 0:
        time.sleep(after)
        os._exit(code)
    return pid


@pytest.fixture
def installed(monkeypatch):
    # put Airflow's own method back after the test
    monkeypatch.setattr(WatchedSubprocess, "_service_subprocess",
                        WatchedSubprocess._service_subprocess)
    supervisor_exit.install()


def test_with_no_socket_left_the_supervisor_waits_on_the_process_not_the_interval(installed):
    supervised = Supervised(_exiting_child(after=0.3, code=0))
    started = time.monotonic()
    # the loop's call once the last EOF is read: Airflow's own code slept the 5 s out
    assert supervised._service_subprocess(max_wait_time=5) == 0
    assert time.monotonic() - started < 2.5
    assert supervised._exit_code == 0 and supervised._process_exit_monotonic is not None


def test_a_process_still_running_is_waited_for_at_most_the_interval(installed):
    pid = _exiting_child(after=3, code=0)
    supervised = Supervised(pid)
    try:
        assert supervised._service_subprocess(max_wait_time=0.2) is None  # alive: as before
        assert supervised._exit_code is None
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
