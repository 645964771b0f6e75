"""One source of truth for every endpoint and credential the local stack gives its services.

`Settings.from_env()` reads the environment and falls back to local-stack defaults.
`Settings.env()` is the environment contract of docs/architecture.md: what child processes
(MLflow server, Airflow, Kedro runs) receive. The secret values never appear in `repr()`.

The AWS keys defaulted here are dev values for the local S3 server (moto/localbucket do not
check them); they are not credentials for anything real.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[3]

# Local-stack dev credentials: accepted by any key by the local S3 servers. Not secrets.
DEV_AWS_ACCESS_KEY_ID = "mlops-dev"
DEV_AWS_SECRET_ACCESS_KEY = "mlops-dev-secret"

S3_SERVERS = ("localbucket", "moto")
MASK = "***"


def mask_url(url: str) -> str:
    """Return `url` with the password (if any) replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{netloc}"))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip()
    return raw or default


@dataclass(frozen=True)
class Settings:
    """Endpoints and credentials of the local stack (frozen; build with `from_env`)."""

    state_dir: Path = REPO_ROOT / ".state"
    # Admin URL of the PostgreSQL server: used to create the databases below.
    postgres_url: str = field(default="postgresql://postgres@127.0.0.1:5432/postgres", repr=False)
    mlflow_db: str = "mlflow"
    airflow_db: str = "airflow"
    # S3-compatible server run by the stack: "localbucket" (on disk) or "moto" (in memory).
    s3_server: str = "localbucket"
    s3_host: str = "127.0.0.1"
    s3_port: int = 9000
    bucket: str = "mlops"
    aws_access_key_id: str = field(default=DEV_AWS_ACCESS_KEY_ID, repr=False)
    aws_secret_access_key: str = field(default=DEV_AWS_SECRET_ACCESS_KEY, repr=False)
    aws_region: str = "us-east-1"
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = 5000
    mlflow_workers: int = 2
    # Comma-separated Host headers the MLflow server accepts ("" = MLflow's default:
    # localhost and private IPs). Set e.g. "mlflow:5000" when reached by a container name.
    mlflow_allowed_hosts: str = ""
    model_name: str = "nyc_airbnb_price"
    # The Airflow API server (UI + REST) of the stack, for the Airflow service set.
    airflow_host: str = "127.0.0.1"
    airflow_port: int = 8080

    def __post_init__(self) -> None:
        if self.s3_server not in S3_SERVERS:
            raise ValueError(f"MLOPS_S3_SERVER must be one of {S3_SERVERS}, got {self.s3_server!r}")
        object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser().resolve())
        if urlsplit(self.postgres_url).scheme not in ("postgresql", "postgres"):
            raise ValueError(f"MLOPS_POSTGRES_URL must be a postgresql:// URL, got "
                             f"{mask_url(self.postgres_url)!r}")

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read the settings from `environ` (default: `os.environ`); `overrides` win."""
        env = os.environ if environ is None else environ
        d = cls()
        values = {
            "state_dir": Path(_str(env, "MLOPS_STATE_DIR", str(d.state_dir))),
            "postgres_url": _str(env, "MLOPS_POSTGRES_URL", d.postgres_url),
            "mlflow_db": _str(env, "MLOPS_MLFLOW_DB", d.mlflow_db),
            "airflow_db": _str(env, "MLOPS_AIRFLOW_DB", d.airflow_db),
            "s3_server": _str(env, "MLOPS_S3_SERVER", d.s3_server).lower(),
            "s3_host": _str(env, "MLOPS_S3_HOST", d.s3_host),
            "s3_port": _int(env, "MLOPS_S3_PORT", d.s3_port),
            "bucket": _str(env, "MLOPS_BUCKET", d.bucket),
            "aws_access_key_id": _str(env, "AWS_ACCESS_KEY_ID", d.aws_access_key_id),
            "aws_secret_access_key": _str(env, "AWS_SECRET_ACCESS_KEY", d.aws_secret_access_key),
            "aws_region": _str(env, "AWS_DEFAULT_REGION", d.aws_region),
            "mlflow_host": _str(env, "MLOPS_MLFLOW_HOST", d.mlflow_host),
            "mlflow_port": _int(env, "MLOPS_MLFLOW_PORT", d.mlflow_port),
            "mlflow_workers": _int(env, "MLOPS_MLFLOW_WORKERS", d.mlflow_workers),
            "mlflow_allowed_hosts": env.get("MLOPS_MLFLOW_ALLOWED_HOSTS", d.mlflow_allowed_hosts),
            "model_name": _str(env, "MLOPS_MODEL_NAME", d.model_name),
            "airflow_host": _str(env, "MLOPS_AIRFLOW_HOST", d.airflow_host),
            "airflow_port": _int(env, "MLOPS_AIRFLOW_PORT", d.airflow_port),
        }
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------- derived values
    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def postgres_data_dir(self) -> Path:
        """PGDATA of the embedded PostgreSQL (used only when no server answers)."""
        return self.state_dir / "postgres"

    @property
    def s3_data_dir(self) -> Path:
        """Where localbucket keeps buckets and objects (moto keeps them in memory)."""
        return self.state_dir / "s3"

    @property
    def postgres_host(self) -> str:
        return urlsplit(self.postgres_url).hostname or "127.0.0.1"

    @property
    def postgres_port(self) -> int:
        return urlsplit(self.postgres_url).port or 5432

    @property
    def postgres_user(self) -> str:
        return urlsplit(self.postgres_url).username or "postgres"

    def database_url(self, database: str, driver: str = "postgresql") -> str:
        """URL of `database` on the stack's PostgreSQL server (driver e.g. postgresql+psycopg2).

        Contains the password if MLOPS_POSTGRES_URL has one: never log it, use `mask_url`.
        """
        parts = urlsplit(self.postgres_url)
        return urlunsplit(parts._replace(scheme=driver, path=f"/{database}"))

    @property
    def mlflow_backend_store_uri(self) -> str:
        return self.database_url(self.mlflow_db, "postgresql+psycopg2")

    @property
    def airflow_sql_alchemy_conn(self) -> str:
        return self.database_url(self.airflow_db, "postgresql+psycopg2")

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://{self.s3_host}:{self.s3_port}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"http://{self.mlflow_host}:{self.mlflow_port}"

    @property
    def mlflow_artifacts_destination(self) -> str:
        return f"s3://{self.bucket}/mlflow-artifacts"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    # ---------------------------------------------------------------- environments
    def env(self) -> dict[str, str]:
        """The environment contract given to child processes and to Kedro.

        The variables of docs/architecture.md, plus MLFLOW_S3_ENDPOINT_URL (how the MLflow
        server reaches the S3 endpoint). Merge it over `os.environ` yourself, or use
        `process_env()`. For every setting as a variable, see `to_environ()`.
        """
        return {
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLOPS_BUCKET": self.bucket,
            "MLOPS_MODEL_NAME": self.model_name,
            "AWS_ENDPOINT_URL": self.s3_endpoint_url,
            "MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret_access_key,
            "AWS_DEFAULT_REGION": self.aws_region,
            "DO_NOT_TRACK": "1",
            # MLflow honours DO_NOT_TRACK only when it is "true"
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "KEDRO_DISABLE_TELEMETRY": "true",
        }

    def to_environ(self) -> dict[str, str]:
        """Every setting as the variable `from_env` reads: `from_env(s.to_environ()) == s`.

        For running the stack CLI in a child process with these settings. Holds the
        PostgreSQL URL and the AWS keys: not for logs.
        """
        return {
            **self.env(),
            "MLOPS_STATE_DIR": str(self.state_dir),
            "MLOPS_POSTGRES_URL": self.postgres_url,
            "MLOPS_MLFLOW_DB": self.mlflow_db,
            "MLOPS_AIRFLOW_DB": self.airflow_db,
            "MLOPS_S3_SERVER": self.s3_server,
            "MLOPS_S3_HOST": self.s3_host,
            "MLOPS_S3_PORT": str(self.s3_port),
            "MLOPS_MLFLOW_HOST": self.mlflow_host,
            "MLOPS_MLFLOW_PORT": str(self.mlflow_port),
            "MLOPS_MLFLOW_WORKERS": str(self.mlflow_workers),
            "MLOPS_MLFLOW_ALLOWED_HOSTS": self.mlflow_allowed_hosts,
            "MLOPS_AIRFLOW_HOST": self.airflow_host,
            "MLOPS_AIRFLOW_PORT": str(self.airflow_port),
        }

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """`os.environ` with `env()` (and then `extra`) laid over it: a child's full env."""
        merged = dict(os.environ)
        merged.update(self.env())
        if extra:
            merged.update(extra)
        return merged

    # ---------------------------------------------------------------- display
    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "postgres_url":
                value = mask_url(value)
            elif f.name in ("aws_access_key_id", "aws_secret_access_key"):
                value = MASK
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    def redacted_env(self) -> dict[str, str]:
        """`env()` with secrets masked, for printing."""
        return {k: (MASK if k in _SECRET_ENV else v) for k, v in self.env().items()}


_SECRET_ENV = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})
