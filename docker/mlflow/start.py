"""Entrypoint of the `mlflow` service of docker-compose.yml: auth config and users, then the server.

    python start.py mlflow server --app-name basic-auth ...

1. Writes MLflow's basic-auth config (MLFLOW_AUTH_CONFIG_PATH, mode 0600): its user store is
   MLFLOW_AUTH_DATABASE_URI (the `mlflow_auth` PostgreSQL database). The file is written here,
   inside the container, because the URI holds the database password: no committed file may.
2. Creates or updates, in that store, the admin (MLFLOW_AUTH_ADMIN_USERNAME /
   MLFLOW_AUTH_ADMIN_PASSWORD, is_admin) and the DAGs' service account
   (MLFLOW_SERVICE_USERNAME / MLFLOW_SERVICE_PASSWORD, not an admin: it owns the experiments and
   registered models it creates). Both passwords are set again on every start, so changing
   them in .env and running `docker compose up -d` changes them.
3. Replaces itself with the command (the server).

Authenticated users without an explicit permission may read (default_permission = READ).
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path

REQUIRED = ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_DATABASE_URI", "MLFLOW_AUTH_ADMIN_USERNAME",
            "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_SERVICE_USERNAME", "MLFLOW_SERVICE_PASSWORD")


def write_auth_config(path: Path, database_uri: str, admin_username: str) -> None:
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": "READ",
        "database_uri": database_uri,
        "admin_username": admin_username,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        config.write(fh)
    os.replace(tmp, path)


def ensure_user(store, username: str, password: str, *, is_admin: bool) -> str:
    if store.has_user(username, use_primary=True):
        store.update_user(username, password=password, is_admin=is_admin)
        return "password set"
    store.create_user(username, password, is_admin=is_admin)
    return "created"


def main(argv: list[str]) -> int:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        print(f"start.py: set {', '.join(missing)} (docker-compose.yml passes them from .env)",
              file=sys.stderr)
        return 2
    if not argv:
        print("start.py: no command to run (e.g. mlflow server --app-name basic-auth)",
              file=sys.stderr)
        return 2
    env = os.environ
    write_auth_config(Path(env["MLFLOW_AUTH_CONFIG_PATH"]), env["MLFLOW_AUTH_DATABASE_URI"],
                      env["MLFLOW_AUTH_ADMIN_USERNAME"])

    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(env["MLFLOW_AUTH_DATABASE_URI"])  # creates or migrates the auth tables
    from mlflow.exceptions import MlflowException

    for variable, username, password, is_admin in (
        ("MLFLOW_ADMIN_PASSWORD", env["MLFLOW_AUTH_ADMIN_USERNAME"],
         env["MLFLOW_AUTH_ADMIN_PASSWORD"], True),
        ("MLFLOW_SERVICE_PASSWORD", env["MLFLOW_SERVICE_USERNAME"],
         env["MLFLOW_SERVICE_PASSWORD"], False),
    ):
        try:
            done = ensure_user(store, username, password, is_admin=is_admin)
        except MlflowException as err:  # e.g. a password under 12 characters
            print(f"start.py: user {username!r}: {err.message} (set {variable} in .env)",
                  file=sys.stderr)
            return 2
        print(f"mlflow auth: user {username!r} ({'admin' if is_admin else 'service account'}): "
              f"{done}", flush=True)
    store.engine.dispose()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
