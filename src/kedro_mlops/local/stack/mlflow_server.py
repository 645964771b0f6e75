"""The MLflow tracking server: PostgreSQL backend store, artifacts proxied to S3.

`mlflow server --backend-store-uri postgresql+psycopg2://.../mlflow
               --artifacts-destination s3://$MLOPS_BUCKET/mlflow-artifacts`
Clients talk HTTP only (mlflow-artifacts:/ URIs): they need no S3 keys. The server itself
reaches S3 with boto3 through MLFLOW_S3_ENDPOINT_URL and the stack's AWS keys.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..settings import Settings, mask_url
from .process import ManagedProcess, Progress, ServiceSpec, http_ok, print_progress

NAME = "mlflow"


def mlflow_argv(settings: Settings) -> list[str]:
    argv = [
        str(Path(sys.executable).with_name("mlflow")), "server",
        # --backend-store-uri is given as MLFLOW_BACKEND_STORE_URI (keeps passwords off `ps`)
        "--serve-artifacts",
        "--artifacts-destination", settings.mlflow_artifacts_destination,
        "--host", settings.mlflow_host,
        "--port", str(settings.mlflow_port),
        "--workers", str(settings.mlflow_workers),
    ]
    if settings.mlflow_allowed_hosts:
        argv += ["--allowed-hosts", settings.mlflow_allowed_hosts]
    return argv


def mlflow_env(settings: Settings) -> dict[str, str]:
    env = settings.process_env({
        "MLFLOW_BACKEND_STORE_URI": settings.mlflow_backend_store_uri,
        # No huey job-runner processes (GenAI jobs): not used here, and costly on 2 cores.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("MLFLOW_TRACKING_URI", None)  # the server is not a client of itself
    return env


def check_backend_store(settings: Settings, log_path: Path | None = None) -> None:
    """Fail fast if the backend database is unreachable.

    `mlflow server` retries the database 10 times with exponential backoff (~100 s, not
    configurable) before it exits, so check it first.
    """
    from .postgres import _connect

    url = settings.database_url(settings.mlflow_db)
    try:
        _connect(url, timeout=5).close()
    except Exception as err:
        message = (f"backend store {mask_url(url)} is unreachable: "
                   f"{str(err).strip().splitlines()[0] if str(err).strip() else err!r}")
        if log_path is not None:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"preflight error: {message}\n")
        raise RuntimeError(message) from err


def mlflow_spec(settings: Settings) -> ServiceSpec:
    def health() -> bool:
        return http_ok(settings.mlflow_tracking_uri + "/health", timeout=2.0)

    def prepare(log_path: Path) -> None:
        check_backend_store(settings, log_path)

    return ServiceSpec(
        name=NAME,
        argv=mlflow_argv(settings),
        health=health,
        url=settings.mlflow_tracking_uri,
        env=mlflow_env(settings),
        cwd=settings.state_dir,
        ports=[(settings.mlflow_host, settings.mlflow_port)],
        start_timeout=120.0,  # the first start runs the database migrations
        stop_timeout=15.0,
        prepare=prepare,
    )


class MlflowComponent:
    name = NAME
    after = ("postgres",)  # its backend store; the bucket is first used by a client

    def __init__(self, settings: Settings):
        self.settings = settings
        self.process = ManagedProcess(mlflow_spec(settings), settings.state_dir)

    def start(self, progress: Progress = print_progress):
        return self.process.start(progress)

    def stop(self, progress: Progress = print_progress) -> bool:
        return self.process.stop(progress)

    def status(self):
        return self.process.status()
