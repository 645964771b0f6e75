"""The local service stack: PostgreSQL (existing or embedded) -> S3 server -> MLflow server.

Python API::

    from kedro_mlops.local.settings import Settings
    from kedro_mlops.local.stack import start_services, stop_services, services_status

    stack = start_services(Settings.from_env())   # idempotent
    stack.mlflow_url, stack.s3_url, stack.env()   # endpoints, env contract for Kedro
    stop_services(stack.settings)                 # reverse order

A component is anything with `name`, `start(progress) -> StartResult`,
`stop(progress) -> bool` and `status() -> ServiceStatus`. `ProcessComponent` wraps a plain
`ServiceSpec` (argv + health check), which is all a long-running service such as Airflow's
api-server / scheduler / dag-processor / triggerer needs: `kedro_mlops.local.stack.airflow` may
define `airflow_components(settings) -> list[Component]`; `start_services(...,
airflow=True)` then starts them after MLflow, and stop/status always include them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..settings import Settings, mask_url
from .order import run_ordered
from .process import (
    EXTERNAL,
    RUNNING,
    STALE,
    STOPPED,
    UNHEALTHY,
    ManagedProcess,
    Progress,
    ServiceError,
    ServiceSpec,
    ServiceStatus,
    StartResult,
    free_port,
    print_progress,
    quiet,
)

__all__ = [
    "EXTERNAL", "RUNNING", "STALE", "STOPPED", "UNHEALTHY",
    "Component", "ManagedProcess", "ProcessComponent", "Progress", "ServiceError",
    "ServiceSpec", "ServiceStatus", "Stack", "StartResult",
    "all_components", "core_components", "free_port", "print_progress", "quiet",
    "services_status", "start_services", "stop_services",
]


class Component(Protocol):
    name: str
    # optional `after`: the names of the services it needs up first (see `order`)

    def start(self, progress: Progress = ...) -> StartResult: ...

    def stop(self, progress: Progress = ...) -> bool: ...

    def status(self) -> ServiceStatus: ...


class ProcessComponent:
    """A component that is just one managed process (optionally with a post-start hook)."""

    def __init__(self, spec: ServiceSpec, settings: Settings,
                 after_start: Callable[[Progress], None] | None = None):
        self.name = spec.name
        self.after = spec.after
        self.settings = settings
        self.process = ManagedProcess(spec, settings.state_dir)
        self.after_start = after_start

    def start(self, progress: Progress = print_progress) -> StartResult:
        result = self.process.start(progress)
        if self.after_start is not None:
            self.after_start(progress)
        return result

    def stop(self, progress: Progress = print_progress) -> bool:
        return self.process.stop(progress)

    def status(self) -> ServiceStatus:
        return self.process.status()


def core_components(settings: Settings) -> list[Component]:
    """PostgreSQL, S3 and MLflow, in start order."""
    from .mlflow_server import MlflowComponent
    from .postgres import PostgresComponent
    from .s3 import S3Component

    return [PostgresComponent(settings), S3Component(settings), MlflowComponent(settings)]


def airflow_components(settings: Settings) -> list[Component] | None:
    """The Airflow services from `kedro_mlops.local.stack.airflow.airflow_components`, if defined."""
    try:
        module = importlib.import_module(f"{__name__}.airflow")
    except ImportError:
        return None
    factory = getattr(module, "airflow_components", None)
    return list(factory(settings)) if callable(factory) else None


def all_components(settings: Settings, *, airflow: bool | None = None) -> list[Component]:
    """Core components, plus Airflow's when `airflow` is True, or None and it was started here."""
    components = core_components(settings)
    if airflow is None:
        from .airflow import was_started

        airflow = was_started(settings)
    if airflow is False:
        return components
    extra = airflow_components(settings)
    if extra is None and airflow:
        raise ServiceError("airflow", "kedro_mlops.local.stack.airflow defines no "
                           "airflow_components(settings)")
    return components + (extra or [])


@dataclass
class Stack:
    """What `start_services` returns: the settings and each service's status."""

    settings: Settings
    services: dict[str, ServiceStatus] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)  # names started by this call
    seconds: float = 0.0

    @property
    def mlflow_url(self) -> str:
        return self.settings.mlflow_tracking_uri

    @property
    def s3_url(self) -> str:
        return self.settings.s3_endpoint_url

    @property
    def postgres_url(self) -> str:
        """The admin URL, password masked (use settings.postgres_url for the real one)."""
        return mask_url(self.settings.postgres_url)

    @property
    def urls(self) -> dict[str, str]:
        return {name: st.url for name, st in self.services.items() if st.url}

    def env(self) -> dict[str, str]:
        return self.settings.env()


def start_services(settings: Settings | None = None, *,
                   components: Sequence[Component] | None = None,
                   airflow: bool = False,
                   progress: Progress = print_progress) -> Stack:
    """Start each service once those it needs are up, independent ones at once (idempotent);
    raise ServiceError on the first failure, once the starts under way have ended."""
    import time

    settings = settings or Settings.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if components is None:
        components = all_components(settings, airflow=airflow or False)
    stack = Stack(settings)
    t0 = time.monotonic()
    results, errors = run_ordered(components, lambda comp: comp.start(progress))
    for comp in components:  # in the listed order, whichever came up first
        if comp.name in results:
            stack.services[comp.name] = results[comp.name].status
            if results[comp.name].started:
                stack.started.append(comp.name)
    if errors:
        raise errors[0]
    stack.seconds = time.monotonic() - t0
    return stack


def stop_services(settings: Settings | None = None, *,
                  components: Sequence[Component] | None = None,
                  progress: Progress = print_progress) -> list[str]:
    """Stop each service once those that need it have stopped; return the names stopped.

    Every component is tried even if one fails; the first error is raised at the end.
    """
    settings = settings or Settings.from_env()
    if components is None:
        components = all_components(settings)
    def stop(comp: Component) -> bool:
        try:
            return comp.stop(progress)
        except ServiceError as err:
            progress(str(err))
            raise

    results, errors = run_ordered(components, stop, reverse=True, keep_going=True)
    if errors:
        raise errors[0]
    return [comp.name for comp in reversed(list(components)) if results.get(comp.name)]


def services_status(settings: Settings | None = None, *,
                    components: Sequence[Component] | None = None) -> list[ServiceStatus]:
    settings = settings or Settings.from_env()
    if components is None:
        components = all_components(settings)
    return [comp.status() for comp in components]
