"""No secret of the stack ends up where people read: logs, MLflow, the DAGs, the README.

One stack for the module (PostgreSQL, moto S3, MLflow, Airflow on the LocalExecutor) whose
secrets are all random and distinctive: S3 keys, a PostgreSQL login with a password (the
machine's server uses trust auth, so the password is not checked, but it travels in every
database URL exactly as a real one would), and the Airflow secrets and admin password the stack
generates. The module triggers one training run itself (the tiny project's DAG), so the task
logs and MLflow runs exist whatever ran before. Then it searches, for each secret (also
URL-encoded):

- every file under the stack's state folder: service logs, Airflow's task logs, pid files...,
  except the two files that hold the Airflow secrets by design (kept there, mode 0600, so that
  a restart keeps the same Fernet key, JWT secret and admin password):
  `airflow/secrets.json` and `airflow/simple_auth_manager_passwords.json`;
- the params, tags and run names of every MLflow run the stack holds;
- the DAG files rendered for the stack, the repository's dags/ and README.md;
- every row of the Airflow and MLflow databases (run conf, rendered task fields, XComs,
  Airflow's audit log, MLflow's params, tags, inputs...).

The search itself is checked: it must find each Airflow secret in the file that holds it, and
the S3 secret and database password in a planted file.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from kedro_mlops.local.airflow_client import AirflowClient
from kedro_mlops.local.stack import ProcessComponent, core_components, start_services, stop_services
from kedro_mlops.local.stack.airflow import PASSWORDS_FILE, SECRETS_FILE, service_specs
from kedro_mlops.local.stack.postgres import drop_databases
from kedro_mlops.render.dag_files import render

from .conftest import make_test_settings

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]
TINY = REPO / "tests" / "fixtures" / "tiny_project"
# Hold the Airflow secrets by design (see the module docstring); relative to the state folder.
SECRET_FILES = {Path("airflow") / SECRETS_FILE, Path("airflow") / PASSWORDS_FILE}


@pytest.fixture(scope="module")
def secret_stack(tmp_path_factory, system_postgres):
    import psycopg2

    state = tmp_path_factory.mktemp("secrets-stack")
    role, db_password = f"secrets_test_{secrets.token_hex(4)}", f"dbpw{secrets.token_hex(16)}"
    admin = psycopg2.connect(system_postgres, connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD %s", (db_password,))
    base = make_test_settings(state)
    settings = make_test_settings(
        state,
        postgres_url=f"postgresql://{role}:{db_password}@{base.postgres_host}:{base.postgres_port}"
                     "/postgres",
        aws_access_key_id=f"AKIATEST{secrets.token_hex(6).upper()}",
        aws_secret_access_key=f"s3secret{secrets.token_hex(16)}",
    )
    dags = state / "dags"
    render(TINY, ["training"], dags)
    components = core_components(settings) + [
        ProcessComponent(spec, settings) for spec in service_specs(settings, dags_folder=dags)]
    try:
        start_services(settings, components=components)
        with AirflowClient.for_local_stack(state, port=settings.airflow_port) as client:
            run = client.run_dag("tiny_training", {"target_max": 3.0, "run_note": "secrets"},
                                 timeout=600)
        yield settings, dags, run, db_password
    finally:
        try:
            stop_services(settings, components=components)
        finally:
            drop_databases(system_postgres, [settings.mlflow_db, settings.airflow_db])
            with admin.cursor() as cur:
                cur.execute(f"DROP ROLE IF EXISTS {role}")
            admin.close()


def _stack_secrets(settings, db_password: str) -> dict[str, str]:
    airflow_dir = settings.state_dir / "airflow"
    values = {
        "S3 secret key": settings.aws_secret_access_key,
        "database password": db_password,
        "Airflow admin password": json.loads((airflow_dir / PASSWORDS_FILE).read_text())["admin"],
    }
    for name, value in json.loads((airflow_dir / SECRETS_FILE).read_text()).items():
        values[name] = value  # Fernet key, JWT secret, api secret key
    assert all(len(v) >= 16 for v in values.values()), "a short value would match by chance"
    return values


def _needles(values: dict[str, str]) -> dict[bytes, str]:
    """Each secret as bytes, raw and URL-encoded (as it would be inside a URL)."""
    needles = {}
    for name, value in values.items():
        for form in {value, quote(value, safe="")}:
            needles[form.encode()] = name
    return needles


def _files_holding(paths, needles: dict[bytes, str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in paths:
        data = path.read_bytes()
        names = {name for needle, name in needles.items() if needle in data}
        if names:
            found[str(path)] = names
    return found


def _state_files(state: Path):
    return [p for p in state.rglob("*")
            if p.is_file() and not p.is_symlink() and p.relative_to(state) not in SECRET_FILES]


def test_the_search_finds_each_secret_where_it_is_kept(secret_stack, tmp_path):
    settings, _, _, db_password = secret_stack
    values = _stack_secrets(settings, db_password)
    needles = _needles(values)
    kept = _files_holding([settings.state_dir / f for f in SECRET_FILES], needles)
    assert set().union(*kept.values()) == set(values) - {"S3 secret key", "database password"}
    planted = tmp_path / "planted.log"
    planted.write_text(f"url=postgresql://u:{quote(db_password)}@h/db key={values['S3 secret key']}")
    assert _files_holding([planted], needles) == {
        str(planted): {"database password", "S3 secret key"}}


def test_no_secret_in_the_state_folder_or_the_task_logs(secret_stack):
    settings, _, run, db_password = secret_stack
    state = settings.state_dir
    files = _state_files(state)
    # the search covers what it should: the task logs of this run and the services' logs
    task_logs = [p for p in files if f"run_id={run.run_id}" in str(p)]
    assert len(task_logs) >= 3, sorted(str(p.relative_to(state)) for p in files)
    assert {"mlflow.log", "s3.log"} <= {p.name for p in files}
    assert _files_holding(files, _needles(_stack_secrets(settings, db_password))) == {}


def test_no_secret_in_mlflow_params_tags_or_run_names(secret_stack):
    import mlflow

    settings, _, run, db_password = secret_stack
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    runs = [r for exp in client.search_experiments()
            for r in client.search_runs([exp.experiment_id])]
    assert any(r.data.tags.get("airflow.run_id") == run.run_id for r in runs)
    needles = _needles(_stack_secrets(settings, db_password))
    leaks = []
    for r in runs:
        texts = {"run name": r.info.run_name or "",
                 **{f"param {k}": f"{k}={v}" for k, v in r.data.params.items()},
                 **{f"tag {k}": f"{k}={v}" for k, v in r.data.tags.items()}}
        for where, text in texts.items():
            leaks += [(r.info.run_id, where, name) for needle, name in needles.items()
                      if needle.decode() in text]
    for version in client.search_model_versions():
        text = json.dumps(version.tags) + (version.source or "") + (version.description or "")
        leaks += [(version.name, version.version, name) for needle, name in needles.items()
                  if needle.decode() in text]
    assert leaks == []


def test_no_secret_in_the_dags_or_the_readme(secret_stack):
    settings, dags, _, db_password = secret_stack
    files = [*dags.rglob("*.py"), *(REPO / "dags").rglob("*.py"), REPO / "README.md"]
    assert len(files) >= 4
    assert _files_holding(files, _needles(_stack_secrets(settings, db_password))) == {}


def _database_rows(db_url: str) -> bytes:
    """Every row of every table of the database's public schema, as COPY text."""
    import io

    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(db_url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [row[0] for row in cur.fetchall()]
            out = io.BytesIO()
            for table in tables:
                out.write(f"== {table}\n".encode())
                cur.copy_expert(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table)), out)
        return out.getvalue()
    finally:
        conn.close()


def test_no_secret_in_the_airflow_or_mlflow_database(secret_stack):
    settings, _, run, db_password = secret_stack
    needles = _needles(_stack_secrets(settings, db_password))
    for db in (settings.airflow_db, settings.mlflow_db):
        rows = _database_rows(f"{settings.postgres_url.rsplit('/', 1)[0]}/{db}")
        assert run.run_id.encode() in rows, db  # the run is in there: the dump is complete
        assert [name for needle, name in needles.items() if needle in rows] == [], db
