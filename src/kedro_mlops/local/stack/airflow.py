"""Airflow 3.3 services of the local stack: environment, init steps, commands, health checks.

Definitions only; processes are run by `kedro_mlops.local.stack.process.ManagedProcess`.
:func:`service_specs` turns the stack's `Settings` into one `ServiceSpec` per component
(api-server first: its `prepare` runs `airflow db migrate`); the lower-level pieces are usable
without `Settings` (tests, scripts)::

    env = airflow_env(os.environ, state_dir=STATE, db_url=DB_URL, port=8080)  # creates secrets
    ensure_database(DB_URL)                            # CREATE DATABASE (if missing)
    run_init_steps(env)                                # airflow db migrate
    for c in components(env, db_url=DB_URL, port=8080):
        ...start c.argv with env, call c.prepare(log) first, wait for c.healthy()...

State dir layout (``<state_dir>/airflow`` is ``AIRFLOW_HOME``)::

    airflow/secrets.json                         0600  fernet key, JWT secret, api secret key
    airflow/simple_auth_manager_passwords.json   0600  {"admin": "<password>"}
    airflow/logs/dag_id=*/run_id=*/task_id=*/attempt=N.log     task logs (read by the API)
    airflow/logs/dag_processor/                  per-DAG-file parsing logs

See docs/airflow.md for commands, measured figures and pitfalls.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from ..settings import Settings
    from .process import ServiceSpec

REPO_ROOT = Path(__file__).resolve().parents[4]
AIRFLOW_CFG = REPO_ROOT / "airflow.cfg"
DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
ADMIN_USER = "admin"  # must match [core] simple_auth_manager_users in airflow.cfg

SECRETS_FILE = "secrets.json"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"  # = [core] simple_auth_manager_passwords_file

# Component kind -> job_type row the component heartbeats into (table `job`, every 5 s).
JOB_TYPES = {
    "scheduler": "SchedulerJob",
    "dag_processor": "DagProcessorJob",
    "triggerer": "TriggererJob",
}
# = [scheduler] scheduler_health_check_threshold, [dag_processor] health_check_threshold,
#   [triggerer] triggerer_health_check_threshold (all 30 s by default)
JOB_HEALTH_THRESHOLD = 30.0

HealthCheck = Callable[[], bool]


# --------------------------------------------------------------------------------------------
# paths, secrets, credentials
# --------------------------------------------------------------------------------------------
def airflow_home(state_dir: str | os.PathLike[str]) -> Path:
    """``AIRFLOW_HOME`` of the stack: ``<state_dir>/airflow``."""
    return Path(state_dir) / "airflow"


def airflow_executable() -> str:
    """The ``airflow`` console script of the running interpreter's environment (the uv venv)."""
    candidate = Path(sys.executable).with_name("airflow")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("airflow")
    if not found:
        raise FileNotFoundError(f"no `airflow` executable next to {sys.executable} or on PATH")
    return found


def api_url(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> str:
    return f"http://{host}:{port}"


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` with mode 0600, atomically (never group/world readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _new_secrets() -> dict[str, str]:
    return {
        # Fernet key: url-safe base64 of 32 random bytes (what Fernet.generate_key() returns).
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        # Signs REST API JWTs and Execution-API task tokens (HS512): scheduler and api-server
        # must agree. 64 random bytes: PyJWT warns about HMAC keys shorter than 64 bytes.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }


def ensure_secrets(state_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The Airflow secrets as env vars; generated once into ``airflow/secrets.json`` (0600).

    Kept across restarts: the fernet key decrypts connections/variables stored in the DB, and
    tokens handed to running tasks stay valid.
    """
    path = airflow_home(state_dir) / SECRETS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        fresh = _new_secrets()
        missing = {k: v for k, v in fresh.items() if k not in stored}
        if len(stored.get("AIRFLOW__API_AUTH__JWT_SECRET", "")) < 64:  # too short: replace
            missing["AIRFLOW__API_AUTH__JWT_SECRET"] = fresh["AIRFLOW__API_AUTH__JWT_SECRET"]
        if not missing:
            return stored
        stored.update(missing)
    else:
        stored = _new_secrets()
    _write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def ensure_admin_password(state_dir: str | os.PathLike[str]) -> str:
    """The admin password; creates the SimpleAuthManager passwords file (0600) if needed.

    SimpleAuthManager reads ``{"user": "password"}`` from ``[core]
    simple_auth_manager_passwords_file`` and only generates (and prints to its log) passwords
    for users missing from it: pre-seeding the file gives a known password, no log scraping.
    """
    path = airflow_home(state_dir) / PASSWORDS_FILE
    passwords: dict[str, str] = {}
    if path.exists() and path.read_text().strip():
        passwords = json.loads(path.read_text())
    if not passwords.get(ADMIN_USER):
        passwords[ADMIN_USER] = secrets.token_urlsafe(18)
        _write_private(path, json.dumps(passwords) + "\n")
    return passwords[ADMIN_USER]


def admin_credentials(state_dir: str | os.PathLike[str]) -> tuple[str, str]:
    """(username, password) for ``POST /auth/token`` (see kedro_mlops.local.airflow_client).

    Read-only: raises FileNotFoundError if Airflow was never set up in this state dir (a new
    password would not be the one the running api-server knows).
    """
    path = airflow_home(state_dir) / PASSWORDS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: no Airflow was set up with state dir {state_dir} "
            "(airflow_env() / ensure_admin_password() create it)"
        )
    password = json.loads(path.read_text()).get(ADMIN_USER)
    if not password:
        raise KeyError(f"no password for {ADMIN_USER!r} in {path}")
    return ADMIN_USER, password


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------
def airflow_env(
    base_env: Mapping[str, str],
    *,
    state_dir: str | os.PathLike[str],
    db_url: str,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    repo_root: str | os.PathLike[str] = REPO_ROOT,
    dags_folder: str | os.PathLike[str] | None = None,
    config_file: str | os.PathLike[str] = AIRFLOW_CFG,
    executor: str | None = None,
    celery_broker_url: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of every Airflow process of the stack (init steps, components, CLI calls).

    Side effect: creates ``<state_dir>/airflow`` with its secrets and admin password (0600)
    on first use; later calls reuse them.

    ``base_env`` must already hold what *tasks* need (the env contract: MLFLOW_TRACKING_URI,
    MLOPS_BUCKET, AWS_*...): LocalExecutor tasks are forked from the scheduler and inherit its
    environment (and its cwd); with Celery they inherit the worker's. Every ``AIRFLOW*``
    variable of ``base_env`` is dropped (a developer's own AIRFLOW_HOME etc.).

    ``db_url``: SQLAlchemy URL of the metadata DB, e.g.
    ``postgresql+psycopg2://postgres@127.0.0.1:5432/airflow``.
    ``dags_folder``: instead of ``${MLOPS_REPO_ROOT}/dags`` (e.g. a test's temporary folder).
    ``executor``/``celery_broker_url``: e.g. ``"CeleryExecutor"``, ``"redis://127.0.0.1:6379/0"``.
    ``overrides``: applied last, e.g. ``{"AIRFLOW__CORE__PARALLELISM": "4"}``.
    """
    home = airflow_home(state_dir)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    ensure_admin_password(state_dir)

    env = {k: v for k, v in base_env.items() if not k.startswith("AIRFLOW")}
    env.update(ensure_secrets(state_dir))
    env.update(
        {
            "DO_NOT_TRACK": "1",
            # MLflow honours DO_NOT_TRACK only when it is "true"
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "KEDRO_DISABLE_TELEMETRY": "true",
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(Path(config_file).resolve()),
            # Interpolated in airflow.cfg: dags_folder = ${MLOPS_REPO_ROOT}/dags
            "MLOPS_REPO_ROOT": str(Path(repo_root).resolve()),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": api_url(port, host),
            # Where task processes (task SDK supervisor) reach the Execution API.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(port, host)}/execution/",
        }
    )
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(dags_folder).resolve())
    if executor is not None:
        env["AIRFLOW__CORE__EXECUTOR"] = executor
    if celery_broker_url is not None:
        # The Celery result backend defaults to "db+" + sql_alchemy_conn (the metadata DB).
        env["AIRFLOW__CELERY__BROKER_URL"] = celery_broker_url
    env.update(overrides or {})
    return env


# --------------------------------------------------------------------------------------------
# database and init steps
# --------------------------------------------------------------------------------------------
def libpq_url(db_url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg2://...``) as a libpq/psycopg2 URL."""
    scheme, rest = db_url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _maintenance_url(db_url: str) -> tuple[str, str]:
    """(libpq URL of the server's ``postgres`` database, name of the database in db_url)."""
    parts = urlsplit(libpq_url(db_url))
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError("no database name in the Airflow DB URL")
    return urlunsplit(parts._replace(path="/postgres")), name


def ensure_database(db_url: str) -> bool:
    """``CREATE DATABASE`` for the metadata DB if missing; True if created.

    ``airflow db migrate`` does not create a PostgreSQL database (only SQLite files). The
    stack's PostgresComponent already creates ``settings.airflow_db``; this is for scripts.
    """
    import psycopg2
    from psycopg2 import sql

    maintenance, name = _maintenance_url(db_url)
    conn = psycopg2.connect(maintenance, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone():
                return False
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        conn.close()


def drop_database(db_url: str) -> None:
    """``DROP DATABASE IF EXISTS ... WITH (FORCE)`` (PostgreSQL >= 13), for throwaway DBs."""
    import psycopg2
    from psycopg2 import sql

    maintenance, name = _maintenance_url(db_url)
    conn = psycopg2.connect(maintenance, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def init_steps(airflow_bin: str | None = None) -> list[list[str]]:
    """One-shot commands to run, in order and with :func:`airflow_env`, before the services.

    ``airflow db migrate``: creates or upgrades the schema; idempotent, ~5 s both on an empty
    database (tables created from the ORM, then stamped) and on an up-to-date one. No user
    setup: the SimpleAuthManager password file is written by :func:`airflow_env`.
    """
    airflow = airflow_bin or airflow_executable()
    return [[airflow, "db", "migrate"]]


def run_init_steps(
    env: Mapping[str, str],
    log_path: str | os.PathLike[str] | None = None,
    *,
    airflow_bin: str | None = None,
    timeout: float = 300.0,
) -> None:
    """Run :func:`init_steps` (output appended to ``log_path``); RuntimeError on failure."""
    for argv in init_steps(airflow_bin):
        if log_path is None:
            result = subprocess.run(
                argv, check=False, env=dict(env), capture_output=True, text=True, timeout=timeout
            )
            output = (result.stdout or "") + (result.stderr or "")
        else:
            with open(log_path, "ab") as log:
                log.write(f"$ {' '.join(argv[1:])}\n".encode())
                log.flush()
                result = subprocess.run(
                    argv,
                    check=False,
                    env=dict(env),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            output = f"(see {log_path})"
        if result.returncode != 0:
            tail = "\n".join(output.splitlines()[-20:])
            raise RuntimeError(f"`airflow {' '.join(argv[1:])}` exited {result.returncode}: {tail}")


# --------------------------------------------------------------------------------------------
# health checks
# --------------------------------------------------------------------------------------------
def api_server_health(
    port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, timeout: float = 2.0
) -> HealthCheck:
    """Healthy when ``GET /api/v2/monitor/health`` (no auth needed) answers and reports the
    metadata DB healthy (the same JSON has scheduler/dag_processor/triggerer status fields:
    most recent job of each kind, healthy = heartbeat younger than 30 s), and the Task
    Execution API, which every task's supervisor calls, answers ``GET /execution/health``.

    The api-server sets that API up on its first request, about 4 s on 2 cores: asked here,
    that happens while the stack starts, not in the first task of the first DAG run."""
    base = api_url(port, host)

    def answer(path: str) -> dict:
        with urllib.request.urlopen(f"{base}{path}", timeout=timeout) as resp:
            return json.loads(resp.read()) if resp.status == 200 else {}

    def check() -> bool:
        try:
            health = answer("/api/v2/monitor/health")
            if (health.get("metadatabase") or {}).get("status") != "healthy":
                return False
            return answer("/execution/health").get("status") == "healthy"
        except (urllib.error.URLError, OSError, ValueError):
            return False

    return check


class JobHealth:
    """Health of the scheduler / dag-processor / triggerer, read from the metadata DB.

    Each of them runs as a "job": a row in table ``job`` with ``state='running'`` and a
    ``latest_heartbeat`` refreshed every 5 s. Healthy = such a row with a heartbeat younger
    than 30 s (Airflow's own health-check threshold). Independent of the api-server, ~5 ms.

    :meth:`arm` (used as the ServiceSpec ``prepare`` hook, i.e. just before the process is
    started) additionally requires the job to have started after that moment, so a row left by
    a killed previous instance (still "fresh" for up to 30 s) does not count as the new one.
    CLI equivalent: ``airflow jobs check --job-type SchedulerJob --local`` (~3 s per call).
    """

    def __init__(self, job: str, db_url: str, threshold: float = JOB_HEALTH_THRESHOLD):
        if job not in JOB_TYPES:
            raise ValueError(f"job must be one of {sorted(JOB_TYPES)}, got {job!r}")
        self.job = job
        self.job_type = JOB_TYPES[job]
        self._dsn = libpq_url(db_url)
        self.threshold = threshold
        self.since: datetime | None = None

    def arm(self, _log_path: object = None) -> None:
        self.since = datetime.now(UTC)

    def latest(self) -> tuple[datetime, datetime] | None:
        """(start_date, latest_heartbeat) of the newest running job of this kind, or None."""
        import psycopg2

        conn = psycopg2.connect(self._dsn, connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT start_date, latest_heartbeat FROM job"
                    " WHERE job_type = %s AND state = 'running'"
                    " ORDER BY latest_heartbeat DESC NULLS LAST LIMIT 1",
                    (self.job_type,),
                )
                row = cur.fetchone()
        finally:
            conn.close()
        return (row[0], row[1]) if row and row[0] and row[1] else None

    def __call__(self) -> bool:
        try:
            latest = self.latest()
        except Exception:  # noqa: BLE001 - DB not there (yet), table not migrated...
            return False
        if latest is None:
            return False
        started, heartbeat = latest
        if datetime.now(UTC) - heartbeat > timedelta(seconds=self.threshold):
            return False
        # 1 s slack: the job's start_date is taken a moment after the process started.
        return self.since is None or started >= self.since - timedelta(seconds=1)


def jobs_check_argv(job: str, airflow_bin: str | None = None) -> list[str]:
    """CLI alternative to :class:`JobHealth`: exit code 0 iff exactly one alive job here."""
    airflow = airflow_bin or airflow_executable()
    return [airflow, "jobs", "check", "--job-type", JOB_TYPES[job], "--local"]


# --------------------------------------------------------------------------------------------
# components
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AirflowComponent:
    name: str
    argv: list[str]
    healthy: HealthCheck = field(compare=False)
    url: str | None = None
    # Called with the component's log path right before the process is started.
    prepare: Callable[[Path], None] | None = field(default=None, compare=False)
    # Generous for a loaded 2-core CI runner; measured: api-server 6-16 s incl. nothing else,
    # the jobs 5-15 s (see docs/airflow.md).
    start_timeout: float = 90.0
    stop_timeout: float = 20.0
    ports: tuple[tuple[str, int], ...] = ()
    # the services it needs up first (ServiceSpec.after)
    after: tuple[str, ...] = ()


#: what each Airflow job needs up besides the migrated database (see :func:`components`)
JOB_NEEDS = {
    "scheduler": ("airflow-api-server", "mlflow", "s3"),
    "dag_processor": ("airflow-api-server", "mlflow"),
    "triggerer": ("airflow-api-server", "s3"),
}


def components(
    env: Mapping[str, str],
    *,
    db_url: str,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    airflow_bin: str | None = None,
    with_triggerer: bool = True,
    migrate: bool = True,
) -> list[AirflowComponent]:
    """The long-running Airflow processes in start order, all to be run with ``env``
    (:func:`airflow_env`). They may also be started at once.

    The api-server's ``prepare`` runs ``airflow db migrate`` (``migrate=True``); the jobs'
    ``prepare`` arms their :class:`JobHealth`. ``--skip-serve-logs``: the log-serving
    sub-processes (ports 8793/8794) are only needed when task logs live on another machine;
    the api-server reads the local log files directly.
    """
    airflow = airflow_bin or airflow_executable()

    def migrate_first(log_path: Path) -> None:
        run_init_steps(env, log_path, airflow_bin=airflow)

    comps = [
        AirflowComponent(
            "airflow-api-server",
            [airflow, "api-server", "--host", host, "--port", str(port), "--workers", "1"],
            api_server_health(port, host),
            url=api_url(port, host),
            prepare=migrate_first if migrate else None,
            start_timeout=180.0,  # includes the db migrate of prepare
            ports=((host, port),),
            after=("postgres",),
        )
    ]
    jobs = [
        ("airflow-scheduler", "scheduler", [airflow, "scheduler", "--skip-serve-logs"]),
        ("airflow-dag-processor", "dag_processor", [airflow, "dag-processor"]),
    ]
    if with_triggerer:
        jobs.append(("airflow-triggerer", "triggerer", [airflow, "triggerer", "--skip-serve-logs"]))
    for name, job, argv in jobs:
        health = JobHealth(job, db_url)
        comps.append(
            AirflowComponent(
                name,
                argv,
                health,
                prepare=health.arm,
                # the scheduler waits for running tasks on SIGTERM (then the group is killed)
                stop_timeout=30.0 if job == "scheduler" else 20.0,
                # the database migrated by the api-server's prepare; the jobs start together,
                # and stop before what their work uses: the scheduler's LocalExecutor workers
                # run the tasks (MLflow, S3; a stopping scheduler waits for them), the
                # dag-processor runs the failure callbacks (MLflow), the triggerer the file
                # sensors (S3). docker-compose.yml's depends_on says the same, the tasks'
                # part on airflow-worker (the CeleryExecutor's scheduler runs none).
                after=JOB_NEEDS[job],
            )
        )
    return comps


def service_specs(
    settings: Settings,
    *,
    with_triggerer: bool = True,
    dags_folder: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, str] | None = None,
    migrate: bool = True,
) -> list[ServiceSpec]:
    """One ``ServiceSpec`` per Airflow component of the stack, in start order.

    Uses ``settings.process_env()`` as base env (the env contract reaches the tasks),
    ``settings.airflow_sql_alchemy_conn``, ``settings.airflow_host``/``airflow_port``, and
    ``<state_dir>/airflow`` as AIRFLOW_HOME. The processes run in the state dir (the cwd of
    LocalExecutor tasks). Creates the Airflow secrets/password files on first call.
    ``dags_folder`` (default: the repo's dags/) and ``overrides``: see :func:`airflow_env`.
    ``migrate=False``: the metadata database is already at Airflow's head revision (a copy of a
    migrated one), and the api-server starts without ``airflow db migrate``.
    """
    from .process import ServiceSpec

    db_url = settings.airflow_sql_alchemy_conn
    env = airflow_env(
        settings.process_env(),
        state_dir=settings.state_dir,
        db_url=db_url,
        port=settings.airflow_port,
        host=settings.airflow_host,
        dags_folder=dags_folder,
        overrides=overrides,
    )

    def with_db(prepare: Callable[[Path], None] | None) -> Callable[[Path], None]:
        def run(log_path: Path) -> None:
            ensure_database(db_url)
            if prepare is not None:
                prepare(log_path)

        return run

    comps = components(
        env,
        db_url=db_url,
        port=settings.airflow_port,
        host=settings.airflow_host,
        with_triggerer=with_triggerer,
        migrate=migrate,
    )
    return [
        ServiceSpec(
            name=c.name,
            argv=c.argv,
            health=c.healthy,
            url=c.url,
            env=env,
            cwd=settings.state_dir,
            ports=c.ports,
            start_timeout=c.start_timeout,
            stop_timeout=c.stop_timeout,
            prepare=with_db(c.prepare) if c.name == "airflow-api-server" else c.prepare,
            after=c.after,
        )
        for c in comps
    ]


def celery_worker_argv(
    hostname: str = "worker1@%h",
    concurrency: int = 2,
    queues: str = "default",
    airflow_bin: str | None = None,
) -> list[str]:
    """``airflow celery worker`` (only with ``executor="CeleryExecutor"`` in :func:`airflow_env`;
    needs celery < 5.7 with apache-airflow-providers-celery 3.26.0, see docs/airflow.md)."""
    airflow = airflow_bin or airflow_executable()
    return [
        airflow, "celery", "worker",
        "--celery-hostname", hostname,
        "--concurrency", str(concurrency),
        "--queues", queues,
    ]  # fmt: skip


def celery_worker_spec(name: str, env: Mapping[str, str], cwd: Path, health: HealthCheck,
                       concurrency: int = 1) -> ServiceSpec:
    """One Celery worker ``<name>@<host>`` of a stack whose ``env`` sets the CeleryExecutor.

    Several workers on one machine: their log servers would all want port 8793, and the
    api-server reads the task log files directly, so none serves logs. As the compose file's
    ``airflow-worker``, it starts once the api-server (tasks report to it), MLflow and S3 are up.
    """
    from .process import ServiceSpec

    return ServiceSpec(
        name=f"airflow-celery-{name}",
        argv=[*celery_worker_argv(hostname=f"{name}@%h", concurrency=concurrency),
              "--skip-serve-logs"],
        health=health,
        env=env,
        cwd=cwd,
        start_timeout=120.0,
        stop_timeout=30.0,  # a warm shutdown waits for the running task
        after=("airflow-api-server", "mlflow", "s3"),
    )


def airflow_components(settings):
    """The Airflow services as stack components (started after PostgreSQL, S3 and MLflow)."""
    from . import ProcessComponent

    return [ProcessComponent(spec, settings) for spec in service_specs(settings)]


def was_started(settings) -> bool:
    """Whether this state dir ever ran Airflow (a pidfile of one of its components exists)."""
    run_dir = settings.state_dir / "run"
    return any(run_dir.glob("airflow-*.pid")) if run_dir.is_dir() else False
