"""on_fresh_stack: a node's work on a new thread, as if called directly."""

import contextvars
import inspect
import signal
import threading
import time

import pytest

from kedro_mlops.runtime.fresh_stack import on_fresh_stack

REQUEST = contextvars.ContextVar("request", default=None)


def _deep(levels: int, work):
    return work() if levels == 0 else _deep(levels - 1, work)


def test_the_work_runs_on_another_thread_at_the_bottom_of_its_stack():
    seen = {}

    def work():
        seen["thread"] = threading.current_thread()
        seen["depth"] = len(inspect.stack(0))
        return 42

    assert _deep(200, lambda: on_fresh_stack(work)) == 42
    assert seen["thread"] is not threading.current_thread()
    assert seen["depth"] < 10, "the caller's 200 frames are not under the work"


def test_its_exception_is_raised_to_the_caller_as_it_is():
    class NodeFailed(Exception):
        pass

    failure = NodeFailed("bad input")

    def work():
        raise failure

    with pytest.raises(NodeFailed) as raised:
        on_fresh_stack(work)
    assert raised.value is failure


def test_the_callers_context_variables_are_seen_by_the_work():
    token = REQUEST.set("dag run 7")
    try:
        assert on_fresh_stack(REQUEST.get) == "dag run 7"
    finally:
        REQUEST.reset(token)


def test_a_signal_handler_still_stops_the_waiting_caller():
    """Airflow's execution_timeout is a SIGALRM handler raising in the main thread."""

    class Timeout(Exception):
        pass

    def on_alarm(signum, frame):
        raise Timeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Timeout):
            on_fresh_stack(lambda: time.sleep(5))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 2
