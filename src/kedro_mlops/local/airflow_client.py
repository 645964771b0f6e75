"""Airflow 3 REST API (``/api/v2``) through the official ``apache-airflow-client``, with the
few helpers our tests, demo and benchmark need on top: log in, wait for a DAG/run/backfill,
render a task log, explain a failed run.

Auth: ``POST /auth/token`` (SimpleAuthManager or FAB) with the user/password returns a JWT, sent
as ``Authorization: Bearer``; it is renewed once on 401 (expired) or 403 "Invalid JWT token".
``/api/v2/monitor/health`` and ``/api/v2/version`` need no token.

    client = AirflowClient.for_local_stack(state_dir, port=8080)
    run = client.run_dag("nyc-airbnb", conf={"x": 1}, timeout=900)   # wait, unpause, trigger, poll
    for ti in client.task_instances(run.dag_id, run.run_id):
        print(ti.task_id, ti.state, ti.try_number, ti.hostname)

A failed run raises :class:`DagRunFailed`, whose message names the DAG, the run, the failed
tasks and the tail of their logs. Also usable from a shell::

    python -m kedro_mlops.local.airflow_client --state-dir .state --port 8080 run <dag_id> --conf '{}'
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import urllib3
from airflow_client.client import (
    ApiClient,
    BackfillApi,
    BackfillPostBody,
    Configuration,
    DAGApi,
    DAGParsingApi,
    DAGPatchBody,
    DagRunApi,
    ImportErrorApi,
    MonitorApi,
    TaskInstanceApi,
    TriggerDAGRunPostBody,
    VersionApi,
)
from airflow_client.client.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from pydantic import BaseModel

TERMINAL_RUN_STATES = frozenset({"success", "failed"})
FAILED_TI_STATES = frozenset({"failed", "upstream_failed"})
DEFAULT_TAIL = 40

Progress = Callable[[str], None]
T = TypeVar("T")


def _stderr(msg: str) -> None:
    print(f"[airflow] {msg}", file=sys.stderr, flush=True)


class AirflowError(RuntimeError):
    """An Airflow API call failed or Airflow did not reach the expected state."""


class AirflowTimeout(AirflowError):
    """A wait ran out of time."""


class DagRunFailed(AirflowError):
    """The DAG run reached ``failed``; the message names the failed tasks with their log tails."""

    def __init__(self, message: str, run: DagRun, task_instances: list[TaskInstance]):
        super().__init__(message)
        self.run = run
        self.task_instances = task_instances


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    run_id: str
    state: str
    logical_date: str | None
    start_date: str | None
    end_date: str | None
    conf: dict[str, Any]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> DagRun:
        return cls(
            dag_id=d["dag_id"],
            run_id=d["dag_run_id"],
            state=d["state"],
            logical_date=d.get("logical_date"),
            start_date=d.get("start_date"),
            end_date=d.get("end_date"),
            conf=d.get("conf") or {},
            raw=dict(d),
        )


@dataclass(frozen=True)
class TaskInstance:
    task_id: str
    state: str | None
    try_number: int
    max_tries: int
    hostname: str | None
    map_index: int
    start_date: str | None
    end_date: str | None
    duration: float | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, d: Mapping[str, Any]) -> TaskInstance:
        return cls(
            task_id=d["task_id"],
            state=d.get("state"),
            try_number=d.get("try_number") or 0,
            max_tries=d.get("max_tries") or 0,
            hostname=d.get("hostname") or None,
            map_index=d.get("map_index", -1),
            start_date=d.get("start_date"),
            end_date=d.get("end_date"),
            duration=d.get("duration"),
            raw=dict(d),
        )


class AirflowClient:
    """REST API v2 client. ``base_url`` is the api-server root, e.g. ``http://127.0.0.1:8080``."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        progress: Progress | None = _stderr,
    ):
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = float(timeout)  # the generated methods take a StrictFloat
        self._progress = progress or (lambda _msg: None)
        #: no progress to print: a wait lists the task instances only once the run has ended
        self._quiet = progress is None
        self._config = Configuration(host=self.base_url)
        self._api = ApiClient(self._config)
        self._dags = DAGApi(self._api)
        self._runs = DagRunApi(self._api)
        self._tis = TaskInstanceApi(self._api)

    @classmethod
    def for_local_stack(
        cls, state_dir: str | os.PathLike[str], port: int = 8080, **kwargs: Any
    ) -> AirflowClient:
        """Client for the stack's api-server, with the admin password from the state dir."""
        from kedro_mlops.local.stack.airflow import admin_credentials, api_url

        user, password = admin_credentials(state_dir)
        return cls(api_url(port), user, password, **kwargs)

    def close(self) -> None:
        self._api.rest_client.pool_manager.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------- plumbing
    def login(self) -> str:
        """``POST /auth/token`` -> JWT (201 on success, 401 on bad password). The endpoint belongs
        to the auth manager, not to ``/api/v2``, so the generated client has no method for it."""
        resp = self._call(self._raw, "POST", "/auth/token", ok=(200, 201), auth=False,
                          json={"username": self._username, "password": self._password},
                          token=False, what=f"login as {self._username!r} at {self.base_url}")
        self._config.access_token = resp.json()["access_token"]
        return self._config.access_token

    def _call(
        self, fn: Callable[..., T], *args: Any, token: bool = True, what: str = "", **kwargs: Any
    ) -> T:
        """``fn(*args, **kwargs)``, logged in first unless ``token=False``; AirflowError for an
        HTTP error or no answer."""
        try:
            if token and self._config.access_token is None:
                self.login()
            try:
                return fn(*args, _request_timeout=self._timeout, **kwargs)
            except (UnauthorizedException, ForbiddenException) as exc:
                # 401 "Token Expired", or 403 "Invalid JWT token" after the api-server got a new
                # JWT secret: log in again, once.
                if not token or (exc.status == 403 and "Invalid JWT" not in (exc.body or "")):
                    raise
                self.login()
                return fn(*args, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            what = what or f"{fn.__name__}{args}"
            raise AirflowError(f"{what} -> HTTP {exc.status}: {(exc.body or '')[:500]}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise AirflowError(f"{what or fn.__name__}: {exc!r}") from exc

    def _raw(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        _request_timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        """A call the generated methods do not make, sent by the generated client's transport
        (its pool, host and bearer); raises its ApiException unless the status is in ``ok``."""
        headers = {"Accept": "application/json", **(headers or {})}
        if json is not None:
            headers["Content-Type"] = "application/json"
        method, url, headers, body, _ = self._api.param_serialize(
            method, path, query_params=list((params or {}).items()), header_params=headers,
            body=json, auth_settings=["HTTPBearer"] if auth else [],
        )
        resp = self._api.call_api(method, url, headers, body, _request_timeout=_request_timeout)
        resp.read()
        if resp.status not in ok:
            ApiException.from_response(http_resp=resp, body=resp.data.decode(errors="replace"),
                                       data=None)
        return resp.response

    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> urllib3.BaseHTTPResponse:
        """Authenticated call of ``/api/v2`` + ``path`` (``params``, ``json``, ``headers``), for
        statuses and endpoints the typed methods do not cover; raises AirflowError unless the
        status is in ``ok``."""
        url = path if path.startswith("/auth") else f"/api/v2{path}"
        return self._call(self._raw, method, url, ok=ok, what=f"{method} {self.base_url}{url}",
                          **kwargs)

    # ---------------------------------------------------------------------------- health
    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no auth): metadatabase/scheduler/triggerer/dag_processor."""
        return _plain(self._call(MonitorApi(self._api).get_health, token=False))

    def wait_healthy(
        self,
        timeout: float = 120.0,
        components: tuple[str, ...] = ("metadatabase", "scheduler", "dag_processor"),
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.health()
                if all((last.get(c) or {}).get("status") == "healthy" for c in components):
                    return last
            except AirflowError as exc:
                last = str(exc)
            time.sleep(1)
        raise AirflowTimeout(
            f"Airflow at {self.base_url} not healthy ({', '.join(components)}) "
            f"after {timeout:.0f}s; last health: {last}"
        )

    def version(self) -> str:
        return self._call(VersionApi(self._api).get_version, token=False).version

    # ---------------------------------------------------------------------------- DAGs
    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG as registered by the dag-processor, or None if not (yet) parsed."""
        try:
            dag = self._call(self._dags.get_dag, dag_id)
        except AirflowError as exc:
            if isinstance(exc.__cause__, NotFoundException):
                return None
            raise
        return _plain(dag)

    def import_errors(self) -> list[dict[str, Any]]:
        """Current DAG-file import errors: [{filename, bundle_name, stack_trace, timestamp}]."""
        errors = self._call(ImportErrorApi(self._api).get_import_errors, limit=100)
        return [_plain(e) for e in errors.import_errors]

    def wait_for_dag(
        self,
        dag_id: str,
        timeout: float = 120.0,
        poll: float = 1.0,
        *,
        fail_on_import_errors: bool = True,
    ) -> dict:
        """Wait until the dag-processor registered ``dag_id`` (a new file shows up within
        ``[dag_processor] refresh_interval`` (5 s) + parse time).

        With ``fail_on_import_errors``, fail early (after ~5 polls) while the DAG is missing and
        *any* DAG file has an import error (the API cannot tell which file defines a dag_id);
        the error message contains their tracebacks."""
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        while True:
            dag = self.get_dag(dag_id)
            if dag is not None and not dag.get("is_stale"):
                self._progress(f"DAG {dag_id} registered after {time.monotonic() - t0:.1f}s")
                return dag
            errors = self.import_errors() if fail_on_import_errors else []
            if fail_on_import_errors and errors and time.monotonic() - t0 > 5 * poll:
                # Give the processor a moment: an old error may be replaced by the next parse.
                raise AirflowError(
                    f"DAG {dag_id!r} is not registered and there are DAG import errors:\n"
                    + "\n".join(f"--- {e.get('filename')}:\n{e.get('stack_trace')}" for e in errors)
                )
            if time.monotonic() >= deadline:
                raise AirflowTimeout(
                    f"DAG {dag_id!r} not registered by the dag-processor after {timeout:.0f}s "
                    f"(known DAGs: {self.list_dag_ids()})"
                )
            time.sleep(poll)

    def list_dag_ids(self) -> list[str]:
        dags = self._call(self._dags.get_dags, limit=100)
        return [d.dag_id for d in dags.dags]

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        return _plain(self._call(self._dags.patch_dag, dag_id, DAGPatchBody(is_paused=paused),
                                 update_mask=["is_paused"]))

    def unpause(self, dag_id: str) -> dict[str, Any]:
        return self.set_paused(dag_id, False)

    def reparse(self, dag_id: str) -> None:
        """Ask the dag-processor to re-parse the DAG's file now (after regenerating it)."""
        dag = self.get_dag(dag_id)
        if dag is None:
            raise AirflowError(f"cannot reparse unknown DAG {dag_id!r}")
        self._call(DAGParsingApi(self._api).reparse_dag_file, dag["file_token"])

    # ---------------------------------------------------------------------------- runs
    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: datetime | str | None = None,
        note: str | None = None,
    ) -> DagRun:
        """``POST /dags/{dag_id}/dagRuns``. ``logical_date`` is required by the API but may be
        null (Airflow 3): several runs of the same DAG may then be triggered at the same time.
        A naive datetime is taken as UTC. ``run_id`` defaults to ``manual__<time>``."""
        if isinstance(logical_date, datetime) and logical_date.tzinfo is None:
            logical_date = logical_date.replace(tzinfo=UTC)
        # logical_date passed even when None: the body then carries the null the API requires
        body = TriggerDAGRunPostBody(logical_date=logical_date, conf=dict(conf or {}),
                                     dag_run_id=run_id or None, note=note or None)
        run = DagRun.from_api(_plain(self._call(self._runs.trigger_dag_run, dag_id, body)))
        self._progress(f"triggered {dag_id} run {run.run_id} (state {run.state})")
        return run

    def backfill(
        self,
        dag_id: str,
        from_date: datetime | str,
        to_date: datetime | str,
        *,
        conf: Mapping[str, Any] | None = None,
        reprocess_behavior: str = "none",
        max_active_runs: int = 1,
    ) -> dict[str, Any]:
        """``POST /backfills``: the scheduler creates one run per schedule interval whose
        logical date falls in ``[from_date, to_date]`` (``reprocess_behavior``: none, failed or
        completed for dates that already have a run)."""
        def aware(value: datetime | str) -> datetime:
            value = value if isinstance(value, datetime) else datetime.fromisoformat(value)
            return value if value.tzinfo else value.replace(tzinfo=UTC)

        body = BackfillPostBody(dag_id=dag_id, from_date=aware(from_date), to_date=aware(to_date),
                                dag_run_conf=dict(conf or {}),
                                reprocess_behavior=reprocess_behavior,
                                max_active_runs=max_active_runs)
        backfill = _plain(self._call(BackfillApi(self._api).create_backfill, body))
        self._progress(f"backfill {backfill['id']} of {dag_id}: {body.from_date.isoformat()} .. "
                       f"{body.to_date.isoformat()}")
        return backfill

    def wait_for_backfill(
        self, backfill: Mapping[str, Any], *, timeout: float = 1800.0, poll: float = 3.0
    ) -> list[DagRun]:
        """Wait until the backfill is complete; its runs (one per logical date in its range).

        A backfill that reprocesses dates re-runs their existing runs (same run ids), so the
        backfill's ``completed_at``, not the appearance of new runs, tells when it is done.
        Raises :class:`DagRunFailed` for the first failed run.
        """
        dag_id, deadline = backfill["dag_id"], time.monotonic() + timeout
        while True:
            state = self._call(BackfillApi(self._api).get_backfill, backfill["id"])
            if state.completed_at:
                break
            if time.monotonic() >= deadline:
                raise AirflowTimeout(f"backfill {backfill['id']} of {dag_id} not complete after "
                                     f"{timeout:.0f}s")
            time.sleep(poll)
        low, high = _instant(backfill["from_date"]), _instant(backfill["to_date"])
        runs = [r for r in self.runs(dag_id, run_type="backfill")
                if r.logical_date and low <= _instant(r.logical_date) <= high]
        for run in runs:
            if run.state != "success":
                raise DagRunFailed(self.failure_report(run), run,
                                   self.task_instances(dag_id, run.run_id))
        self._progress(f"backfill {backfill['id']} of {dag_id} complete: {len(runs)} run(s)")
        return runs

    def runs(self, dag_id: str, *, run_type: str | None = None) -> list[DagRun]:
        runs = self._call(self._runs.get_dag_runs, dag_id, limit=100, order_by=["run_after"],
                          run_type=[run_type] if run_type else None)
        return [DagRun.from_api(_plain(r)) for r in runs.dag_runs]

    def get_run(self, dag_id: str, run_id: str) -> DagRun:
        return DagRun.from_api(_plain(self._call(self._runs.get_dag_run, dag_id, run_id)))

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstance]:
        """Current try of every task instance of the run (state, try_number, hostname...)."""
        tis = self._call(self._tis.get_task_instances, dag_id, run_id, limit=100)
        return [TaskInstance.from_api(_plain(t)) for t in tis.task_instances]

    def task_tries(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> list[TaskInstance]:
        """Every attempt of one task instance (finished tries come from the TI history)."""
        if map_index < 0:
            history = self._call(self._tis.get_task_instance_tries, dag_id, run_id, task_id)
        else:
            history = self._call(self._tis.get_mapped_task_instance_tries, dag_id, run_id,
                                 task_id, map_index)
        return [TaskInstance.from_api(_plain(t)) for t in history.task_instances]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, *, map_index: int = -1
    ) -> str:
        """Full log of one try as text (Airflow 3 returns structured records; they are
        rendered ``timestamp level event key=value``).

        Read as plain JSON: the generated ``TaskInstancesLogResponse`` keeps only ``event`` and
        ``timestamp`` of each record (its anyOf ``content`` drops ``level``, ``logger`` and the
        structured exception, ``error_detail``, which the failure report needs)."""
        def log(*args: Any, **kwargs: Any) -> urllib3.BaseHTTPResponse:
            resp = self._tis.get_log_without_preload_content(*args, **kwargs)
            if resp.status != 200:  # raise as the preloading methods do, for _call's re-login
                ApiException.from_response(http_resp=resp, body=resp.data.decode(errors="replace"),
                                           data=None)
            return resp

        resp = self._call(log, dag_id, run_id, task_id, try_number, full_content=True,
                          map_index=map_index, accept="application/json")
        return _render_log(resp.json().get("content", []))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 900.0,
        poll: float = 2.0,
        raise_on_failure: bool = True,
        tail: int = DEFAULT_TAIL,
    ) -> DagRun:
        """Poll until the run is ``success``/``failed``; print task state changes as they happen.

        On ``failed`` raise :class:`DagRunFailed` (with failed tasks and log tails); on timeout
        raise :class:`AirflowTimeout` with the task states.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout
        seen: dict[str, tuple[str | None, int]] = {}  # by task id, [map index] when mapped
        run_state = None
        while True:
            run = self.get_run(dag_id, run_id)
            if run.state != run_state:
                run_state = run.state
                self._progress(
                    f"{dag_id}/{run_id}: run {run.state} (+{time.monotonic() - t0:.0f}s)"
                )
            timed_out = time.monotonic() >= deadline
            ended = run.state in TERMINAL_RUN_STATES or timed_out
            # each listing costs the api-server tens of ms, next to the tasks it is watching
            tis = self.task_instances(dag_id, run_id) if ended or not self._quiet else []
            for ti in tis:
                key = (ti.state, ti.try_number)
                name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
                if seen.get(name) != key:
                    seen[name] = key
                    self._progress(
                        f"  {name}: {ti.state} (try {ti.try_number}/{ti.max_tries + 1}) "
                        f"(+{time.monotonic() - t0:.0f}s)"
                    )
            if run.state in TERMINAL_RUN_STATES:
                if run.state == "failed" and raise_on_failure:
                    raise DagRunFailed(self.failure_report(run, tis, tail=tail), run, tis)
                return run
            if timed_out:
                states = ", ".join(f"{t.task_id}={t.state}(try {t.try_number})" for t in tis)
                raise AirflowTimeout(
                    f"DAG {dag_id!r} run {run_id!r} still {run.state!r} after {timeout:.0f}s; "
                    f"tasks: {states or 'none created'}"
                )
            time.sleep(poll)

    def failure_report(
        self, run: DagRun, tis: list[TaskInstance] | None = None, *, tail: int = DEFAULT_TAIL
    ) -> str:
        tis = tis if tis is not None else self.task_instances(run.dag_id, run.run_id)
        lines = [f"DAG {run.dag_id!r} run {run.run_id!r} {run.state}."]
        lines.append(
            "tasks: " + ", ".join(f"{t.task_id}={t.state}(try {t.try_number})" for t in tis)
        )
        for ti in tis:
            if ti.state not in FAILED_TI_STATES:
                continue
            lines.append(
                f"--- task {ti.task_id!r} {ti.state} on {ti.hostname}, try {ti.try_number}"
            )
            if ti.state == "upstream_failed" or ti.try_number < 1:
                continue
            try:
                log = self.task_log(
                    run.dag_id, run.run_id, ti.task_id, ti.try_number, map_index=ti.map_index
                )
                lines.extend(f"    {line}" for line in log.splitlines()[-tail:])
            except AirflowError as exc:
                lines.append(f"    (log unavailable: {exc})")
        return "\n".join(lines)

    def run_dag(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: datetime | str | None = None,
        timeout: float = 900.0,
        register_timeout: float = 120.0,
        poll: float = 2.0,
    ) -> DagRun:
        """Wait for the DAG to be registered, unpause it, trigger it and wait for success."""
        self.wait_for_dag(dag_id, timeout=register_timeout)
        self.unpause(dag_id)
        run = self.trigger(dag_id, conf, run_id=run_id, logical_date=logical_date)
        return self.wait_for_run(dag_id, run.run_id, timeout=timeout, poll=poll)


def _plain(model: BaseModel) -> dict[str, Any]:
    """A response model as the JSON the api-server sent (ISO strings, enum values), for ``raw``."""
    return model.model_dump(mode="json", by_alias=True)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


# Context keys Airflow repeats on every task-log record; dropped when rendering.
_LOG_NOISE = frozenset(
    {
        "timestamp",
        "level",
        "event",
        "logger",
        "chan",
        "sources",
        "dag_id",
        "task_id",
        "run_id",
        "try_number",
        "map_index",
        "ti_id",
        "filename",
        "lineno",
        "error_detail",
    }
)


def _render_log(content: list[Any]) -> str:
    out = []
    for rec in content:
        if not isinstance(rec, dict):
            out.append(str(rec))
            continue
        if "sources" in rec:  # "::group::Log message source details" header
            out.append(f"(log file: {', '.join(map(str, rec['sources']))})")
            continue
        line = " ".join(
            str(x)
            for x in (rec.get("timestamp"), (rec.get("level") or "").upper(), rec.get("event"))
            if x
        )
        extra = {k: v for k, v in rec.items() if k not in _LOG_NOISE}
        if extra:
            line += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        out.append(line)
        for err in rec.get("error_detail") or []:
            out.extend(_render_error(err))
    return "\n".join(out)


def _render_error(err: Mapping[str, Any]) -> list[str]:
    """Structured exception (error_detail) -> traceback-like lines."""
    lines = ["Traceback (most recent call last):"]
    for fr in err.get("frames", []):
        lines.append(f'  File "{fr.get("filename")}", line {fr.get("lineno")}, in {fr.get("name")}')
    lines.append(f"{err.get('exc_type')}: {err.get('exc_value')}")
    for sub in err.get("exceptions") or []:
        lines.extend(_render_error(sub))
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m kedro_mlops.local.airflow_client")
    p.add_argument("--state-dir", default=".state")
    p.add_argument("--port", type=int, default=8080)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="wait for, unpause, trigger and wait for a DAG")
    r.add_argument("dag_id")
    r.add_argument("--conf", default="{}")
    r.add_argument("--timeout", type=float, default=900)
    t = sub.add_parser("tasks", help="list the task instances of a run")
    t.add_argument("dag_id")
    t.add_argument("run_id")
    lg = sub.add_parser("log", help="print the log of one task try")
    lg.add_argument("dag_id")
    lg.add_argument("run_id")
    lg.add_argument("task_id")
    lg.add_argument("try_number", type=int)
    args = p.parse_args(argv)

    with AirflowClient.for_local_stack(args.state_dir, args.port) as client:
        if args.cmd == "run":
            try:
                run = client.run_dag(args.dag_id, json.loads(args.conf), timeout=args.timeout)
            except AirflowError as exc:
                print(exc, file=sys.stderr)
                return 1
            print(run.run_id, run.state)
        elif args.cmd == "tasks":
            for ti in client.task_instances(args.dag_id, args.run_id):
                print(ti.task_id, ti.state, ti.try_number, ti.hostname, sep="\t")
        else:
            print(client.task_log(args.dag_id, args.run_id, args.task_id, args.try_number))
    return 0


if __name__ == "__main__":
    sys.exit(main())
