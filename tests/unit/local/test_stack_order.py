"""The stack starts each service once those it needs are up, independent ones at once, and
stops them the other way round (kedro_mlops.local.stack.order), on the real stack's graph."""

from __future__ import annotations

import time

import pytest

from kedro_mlops.local.settings import Settings
from kedro_mlops.local.stack import (
    ProcessComponent,
    core_components,
    start_services,
    stop_services,
)
from kedro_mlops.local.stack.airflow import celery_worker_spec, service_specs
from kedro_mlops.local.stack.order import needs


def test_the_stack_graph_follows_the_compose_files_depends_on(tmp_path):
    settings = Settings.from_env({}, state_dir=tmp_path)
    airflow = [ProcessComponent(s, settings) for s in service_specs(settings)]
    worker = ProcessComponent(celery_worker_spec("w1", {}, tmp_path, lambda: True), settings)
    graph = needs(core_components(settings) + airflow + [worker])
    assert graph == {
        "postgres": set(), "s3": set(), "mlflow": {"postgres"},
        "airflow-api-server": {"postgres"},  # its prepare migrates the database
        # and each job stops before what its work uses: the tasks, the failure callbacks, the
        # file sensors
        "airflow-scheduler": {"airflow-api-server", "mlflow", "s3"},
        "airflow-dag-processor": {"airflow-api-server", "mlflow"},
        "airflow-triggerer": {"airflow-api-server", "s3"},
        "airflow-celery-w1": {"airflow-api-server", "mlflow", "s3"},
    }


class Recorder:
    """A service whose start and stop take ``seconds``; records when each began and ended."""

    def __init__(self, name: str, after=None, seconds: float = 0.3, fail: bool = False):
        self.name, self.after, self.seconds, self.fail = name, after, seconds, fail
        self.log: list[tuple[str, str, str, float]] = []  # shared between the services

    def _act(self, verb: str):
        self.log.append((verb, "begin", self.name, time.monotonic()))
        time.sleep(self.seconds)
        self.log.append((verb, "end", self.name, time.monotonic()))
        if self.fail and verb == "start":
            from kedro_mlops.local.stack import ServiceError

            raise ServiceError(self.name, "exited with code 1 while starting")
        return True

    def start(self, progress=None):
        from kedro_mlops.local.stack import STOPPED, ServiceStatus, StartResult

        self._act("start")
        return StartResult(ServiceStatus(self.name, STOPPED), started=True)

    def stop(self, progress=None):
        return self._act("stop")


def _stack(*services: Recorder) -> list[Recorder]:
    log: list = []
    for service in services:
        service.log = log
    return list(services)


def _when(log, verb: str, edge: str, name: str) -> float:
    (t,) = [t for v, e, n, t in log if (v, e, n) == (verb, edge, name)]
    return t


def test_independent_services_start_together_and_stop_in_reverse(tmp_path):
    services = _stack(Recorder("db", after=()), Recorder("s3", after=()),
                      Recorder("api", after=("db",)), Recorder("scheduler", after=("api",)),
                      Recorder("processor", after=("api",)))
    log = services[0].log
    settings = Settings.from_env({}, state_dir=tmp_path)
    t0 = time.monotonic()
    stack = start_services(settings, components=services, progress=lambda m: None)
    took = time.monotonic() - t0
    assert list(stack.services) == ["db", "s3", "api", "scheduler", "processor"]  # as listed
    assert took < 3 * 0.3 + 0.25  # three waves of 0.3 s, not five
    assert _when(log, "start", "begin", "s3") < _when(log, "start", "end", "db")
    assert _when(log, "start", "begin", "api") >= _when(log, "start", "end", "db")
    for job in ("scheduler", "processor"):
        assert _when(log, "start", "begin", job) >= _when(log, "start", "end", "api")

    log.clear()
    stopped = stop_services(settings, components=services, progress=lambda m: None)
    assert stopped == ["processor", "scheduler", "api", "s3", "db"]
    # nothing stops while a service that needs it still runs
    assert _when(log, "stop", "begin", "api") >= max(
        _when(log, "stop", "end", job) for job in ("scheduler", "processor"))
    assert _when(log, "stop", "begin", "db") >= _when(log, "stop", "end", "api")


def test_a_service_without_after_waits_for_every_one_listed_before_it(tmp_path):
    services = _stack(Recorder("a", after=()), Recorder("b", after=()), Recorder("c"))
    start_services(Settings.from_env({}, state_dir=tmp_path), components=services,
                   progress=lambda m: None)
    log = services[0].log
    assert _when(log, "start", "begin", "c") >= max(_when(log, "start", "end", n) for n in "ab")


def test_a_failed_start_stops_what_needs_it_from_starting_and_is_raised(tmp_path):
    from kedro_mlops.local.stack import ServiceError

    services = _stack(Recorder("db", after=(), fail=True), Recorder("s3", after=()),
                      Recorder("api", after=("db",)))
    with pytest.raises(ServiceError, match="db: exited with code 1 while starting"):
        start_services(Settings.from_env({}, state_dir=tmp_path), components=services,
                       progress=lambda m: None)
    started = {n for v, e, n, _ in services[0].log if (v, e) == ("start", "begin")}
    assert started == {"db", "s3"}  # s3 was under way and is waited for; api never starts


def test_every_service_is_stopped_even_when_one_fails_to_stop(tmp_path):
    from kedro_mlops.local.stack import ServiceError

    class Stuck(Recorder):
        def stop(self, progress=None):
            super().stop(progress)
            raise ServiceError(self.name, "still running after 20 s")

    services = _stack(Recorder("db", after=()), Stuck("api", after=("db",)),
                      Recorder("scheduler", after=("api",)))
    lines: list[str] = []
    with pytest.raises(ServiceError, match="api: still running"):
        stop_services(Settings.from_env({}, state_dir=tmp_path), components=services,
                      progress=lines.append)
    stopped = [n for v, e, n, _ in services[0].log if (v, e) == ("stop", "end")]
    assert stopped == ["scheduler", "api", "db"]
    assert any("api: still running" in line for line in lines)
