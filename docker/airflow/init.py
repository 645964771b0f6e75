"""One-shot `airflow-init` service of docker-compose.yml: database schema and admin user.

1. ``airflow db migrate`` (creates or upgrades the schema; idempotent), the local stack's
   init step (kedro_mlops.stack.airflow.run_init_steps).
2. The admin user of SimpleAuthManager (airflow.cfg: ``simple_auth_manager_users =
   admin:admin``): its password, from AIRFLOW_ADMIN_PASSWORD (.env), is written to
   ``[core] simple_auth_manager_passwords_file`` (a volume shared with the api-server), mode
   0600. Rewritten on every ``docker compose up``, so changing the password in .env and
   running ``docker compose up -d`` again changes it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from kedro_mlops.stack.airflow import ADMIN_USER, run_init_steps


def write_passwords_file(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({ADMIN_USER: password}, fh)
        fh.write("\n")
    os.replace(tmp, path)


def main() -> int:
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
    passwords_file = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
    if not password:
        print("AIRFLOW_ADMIN_PASSWORD is empty: set it in .env", file=sys.stderr)
        return 2
    if not passwords_file:
        print("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE is not set", file=sys.stderr)
        return 2
    print("airflow db migrate ...", flush=True)
    run_init_steps(os.environ)
    write_passwords_file(Path(passwords_file), password)
    print(f"admin user {ADMIN_USER!r}: password set from AIRFLOW_ADMIN_PASSWORD", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
