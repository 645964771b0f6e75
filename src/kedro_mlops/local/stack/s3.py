"""The stack's S3-compatible HTTP server: localbucket (objects on disk) or moto (in memory).

Either runs as a separate process (never an in-process boto3 patch); the bucket is created
over HTTP with boto3.
"""

from __future__ import annotations

import sys

from ..settings import Settings
from .process import ManagedProcess, Progress, ServiceError, ServiceSpec, http_ok, print_progress

NAME = "s3"


def s3_client(settings: Settings, *, timeout: float = 10.0, retries: int = 3):
    """A boto3 S3 client for the stack's endpoint (path-style addressing)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": retries, "mode": "standard"},
        ),
    )


def s3_argv(settings: Settings) -> list[str]:
    if settings.s3_server == "moto":
        return [sys.executable, "-m", "moto.server",
                "-H", settings.s3_host, "-p", str(settings.s3_port)]
    # localbucket with DeleteObjects/GetBucketLocation added (see localbucket_server.py)
    return [sys.executable, "-m", "kedro_mlops.local.stack.localbucket_server", str(settings.s3_data_dir),
            "--host", settings.s3_host, "--port", str(settings.s3_port)]


def s3_spec(settings: Settings) -> ServiceSpec:
    def health() -> bool:
        # Any HTTP answer from "/" (ListBuckets) means the server is serving.
        return http_ok(settings.s3_endpoint_url + "/", timeout=1.0, accept=lambda s: s < 500)

    def prepare(_log) -> None:
        if settings.s3_server == "localbucket":
            settings.s3_data_dir.mkdir(parents=True, exist_ok=True)

    env = settings.process_env({"MOTO_PORT": str(settings.s3_port)})
    return ServiceSpec(
        name=NAME,
        argv=s3_argv(settings),
        health=health,
        url=settings.s3_endpoint_url,
        env=env,
        cwd=settings.state_dir,
        ports=[(settings.s3_host, settings.s3_port)],
        start_timeout=30.0,
        stop_timeout=5.0,
        prepare=prepare,
    )


def ensure_bucket(settings: Settings, bucket: str | None = None) -> bool:
    """Create the bucket if it does not exist; True if it was created."""
    from botocore.exceptions import ClientError

    bucket = bucket or settings.bucket
    client = s3_client(settings)
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs = {}
    if settings.aws_region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.aws_region}
    try:
        client.create_bucket(Bucket=bucket, **kwargs)
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise
    return True


class S3Component:
    """Runs the S3 server and makes sure the stack's bucket exists."""

    name = NAME
    after = ()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.process = ManagedProcess(s3_spec(settings), settings.state_dir)

    def start(self, progress: Progress = print_progress):
        result = self.process.start(progress)
        try:
            if ensure_bucket(self.settings):
                progress(f"{self.name}: created bucket s3://{self.settings.bucket}")
        except Exception as err:
            raise ServiceError(self.name, f"could not create bucket {self.settings.bucket!r} at "
                               f"{self.settings.s3_endpoint_url}: {err}",
                               self.process.log_path) from err
        result.status.detail = f"{self.settings.s3_server}, bucket s3://{self.settings.bucket}"
        return result

    def stop(self, progress: Progress = print_progress) -> bool:
        return self.process.stop(progress)

    def status(self):
        st = self.process.status()
        st.detail = st.detail or self.settings.s3_server
        return st
