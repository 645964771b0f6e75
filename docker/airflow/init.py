"""One-shot `airflow-init` service of docker-compose.yml: database schema and admin user.

1. ``airflow db migrate`` (creates or upgrades the schema, with the auth manager's tables;
   idempotent), the local stack's init step (kedro_mlops.local.stack.airflow.run_init_steps).
2. The admin user, password from AIRFLOW_ADMIN_PASSWORD (.env), set again on every
   ``docker compose up`` (changing it in .env and running ``up -d`` changes it):
   - FabAuthManager (docker-compose.yml): the FAB user ``admin`` with role ``Admin``, created
     or given the password through FAB's security manager (never on a command line, where
     ``ps`` would show it). Other users and roles: Airflow UI, Security menu.
   - SimpleAuthManager (airflow.cfg, the local stack's): ``admin``'s password is written to
     ``[core] simple_auth_manager_passwords_file``, mode 0600.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from kedro_mlops.local.stack.airflow import ADMIN_USER, run_init_steps

# FAB needs an e-mail per user; nothing is sent to it.
ADMIN_EMAIL = "admin@example.invalid"


def write_passwords_file(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({ADMIN_USER: password}, fh)
        fh.write("\n")
    os.replace(tmp, path)


def set_fab_admin(password: str) -> str:
    """Create the FAB user ``admin`` (role Admin) or reset its password and role; returns
    what was done."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        role = sm.find_role("Admin")
        user = sm.find_user(username=ADMIN_USER)
        if user is None:
            if not sm.add_user(ADMIN_USER, "Airflow", "Admin", ADMIN_EMAIL, role, password):
                raise RuntimeError(f"FAB could not create the user {ADMIN_USER!r}")
            return "created"
        sm.reset_password(user.id, password)
        if role not in user.roles:
            user.roles.append(role)
            sm.update_user(user)
        return "password reset"


def uses_fab(env) -> bool:
    return "FabAuthManager" in env.get("AIRFLOW__CORE__AUTH_MANAGER", "")


def main() -> int:
    password = os.environ.get("AIRFLOW_ADMIN_PASSWORD", "")
    passwords_file = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
    if not password:
        print("AIRFLOW_ADMIN_PASSWORD is empty: set it in .env", file=sys.stderr)
        return 2
    if not uses_fab(os.environ) and not passwords_file:
        print("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE is not set", file=sys.stderr)
        return 2
    print("airflow db migrate ...", flush=True)
    run_init_steps(os.environ)
    if uses_fab(os.environ):
        done = set_fab_admin(password)
        print(f"FAB user {ADMIN_USER!r} (role Admin): {done} from AIRFLOW_ADMIN_PASSWORD",
              flush=True)
        return 0
    write_passwords_file(Path(passwords_file), password)
    print(f"admin user {ADMIN_USER!r}: password set from AIRFLOW_ADMIN_PASSWORD", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
