"""A Kedro project as rendering reads it: metadata, catalog, pipelines, airflow.yml, mlflow.yml.

Nothing here needs a tracking server or changes the project: kedro-mlflow's hooks are off while
it is read, and a missing ``conf/local`` is read as an empty copy.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kedro_mlops.read.errors import NotAKedroProject, UnknownEnvironment, UnknownPipeline

# kedro-airflow's defaults (kedro_airflow.plugin.DEFAULT_RUN_ENV and DEFAULT_PIPELINE)
DEFAULT_ENV = "local"
DEFAULT_PIPELINE = "__default__"
# Where the catalog is read from at render time: the roots every task sets at run time
# (kedro_mlops.runtime.session.kedro_session), as paths that are neither the project's nor a real location, so
# that the plan tells datasets under them from those relative to the project.
RENDER_DATA_ROOT = "/kedro-mlops-run-data-root"
RENDER_RUNTIME_PARAMS = {"data_root": RENDER_DATA_ROOT, "lake_root": "/kedro-mlops-lake-root"}
# kedro-mlflow's patterns for mlflow.yml (kedro_mlflow.framework.hooks.mlflow_hook)
MLFLOW_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]


def _bootstrap(project_path: Path):
    """The project's metadata, once Kedro knows the project (``bootstrap_project``)."""
    from kedro.framework.startup import bootstrap_project

    if not project_path.is_dir():
        raise NotAKedroProject(
            f"--project {project_path}: no such folder. Pass the folder of the Kedro project "
            "(the one holding its pyproject.toml)."
        )
    pyproject = project_path / "pyproject.toml"
    try:
        kedro_section = tomllib.loads(pyproject.read_text()).get("tool", {}).get("kedro")
    except (OSError, tomllib.TOMLDecodeError):
        kedro_section = None
    if not kedro_section:
        raise NotAKedroProject(
            f"--project {project_path} is not a Kedro project: it has no pyproject.toml with a "
            "[tool.kedro] section. Pass the folder of the Kedro project (the one holding its "
            "pyproject.toml, created by `kedro new`)."
        )
    try:
        return bootstrap_project(project_path)
    except (RuntimeError, ValueError) as exc:  # bad [tool.kedro] section, Kedro version mismatch
        raise NotAKedroProject(f"--project {project_path}: {exc}") from None


@contextlib.contextmanager
def _tracking_hooks_off() -> Iterator[None]:
    """kedro-mlflow's hooks off while the project is read, as they were afterwards: the setting
    is Kedro's process-wide ``settings``, which a test or a caller of ``render`` keeps using."""
    from kedro.framework.project import settings

    before = settings.DISABLE_HOOKS_FOR_PLUGINS
    # Distribution names vary in normalisation between installers.
    settings.DISABLE_HOOKS_FOR_PLUGINS = (*before, "kedro-mlflow", "kedro_mlflow")
    try:
        yield
    finally:
        settings.DISABLE_HOOKS_FOR_PLUGINS = before


def _missing_default_env(project_path: Path, env: str) -> Path | None:
    """``conf/local`` when ``env`` is the default ``local`` and its folder is missing (git does not
    keep empty folders, so a cloned starter may lack it); raise for any other missing env."""
    from kedro.framework.project import settings

    conf = project_path / settings.CONF_SOURCE
    if conf.is_dir() and not (conf / env).is_dir():
        if env == DEFAULT_ENV:
            return conf / env
        known = sorted(p.name for p in conf.iterdir() if p.is_dir() and p.name != "base")
        raise UnknownEnvironment(
            f"--env {env}: the project has no configuration environment '{env}' (no folder "
            f"{conf / env}). Known environments: {', '.join(known) or 'none'}. Pass one of "
            f"them with --env, or create the folder {conf / env}/ (it may be empty)."
        )
    return None


@contextlib.contextmanager
def _conf_with_empty_env(conf_env: Path | None):
    """Kedro (1.7) refuses to load a project whose ``conf/<env>`` folder is missing, even for the
    default ``local``: while rendering, Kedro and kedro-airflow read a temporary copy of ``conf``
    with that folder empty. The project itself is not touched."""
    if conf_env is None:
        yield
        return
    from kedro.framework.project import settings

    before = settings.CONF_SOURCE
    with tempfile.TemporaryDirectory(prefix="kedro-mlops-conf-") as tmp:
        copy = Path(tmp) / conf_env.parent.name
        shutil.copytree(conf_env.parent, copy)
        (copy / conf_env.name).mkdir()
        settings.CONF_SOURCE = str(copy)  # absolute: KedroSession joins it to the project path
        try:
            yield
        finally:
            settings.CONF_SOURCE = before


@dataclass
class Project:
    """What rendering reads of a project in one configuration environment."""

    metadata: object  # Kedro's ProjectMetadata
    package_name: str
    project_path: Path
    catalog: object
    airflow_config: dict  # empty when the project has no airflow.yml
    has_airflow_yml: bool
    has_mlflow_yml: bool


def _has_config(loader, key: str, patterns: list[str]) -> bool:
    from kedro.config import MissingConfigException

    if key not in loader.config_patterns:
        loader.config_patterns.update({key: patterns})
    try:
        loader[key]
    except MissingConfigException:
        return False
    except Exception:  # noqa: BLE001 - present, but needs resolvers or env vars of the run
        return True
    return True


def _load_project(project_path: Path, env: str, metadata) -> Project:
    """The catalog and airflow.yml of ``env``, read as kedro-airflow reads them, and whether the
    project has an mlflow.yml, found as kedro-mlflow finds it."""
    from kedro.config import MissingConfigException
    from kedro.framework.session import KedroSession

    try:
        with KedroSession.create(project_path=project_path, env=env,
                                 runtime_params=RENDER_RUNTIME_PARAMS) as session:
            context = session.load_context()
            catalog = context.catalog
            loader = context.config_loader
            if "airflow" not in loader.config_patterns:  # as kedro-airflow does
                loader.config_patterns.update({"airflow": ["airflow*", "airflow/**"]})
            try:
                airflow_config = loader["airflow"]
                has_airflow_yml = True
            except MissingConfigException:  # kedro-airflow then renders with {}
                airflow_config, has_airflow_yml = {}, False
            has_mlflow_yml = _has_config(loader, "mlflow", MLFLOW_PATTERNS)
    except MissingConfigException as exc:
        raise UnknownEnvironment(
            f"--env {env}: the project's configuration cannot be read: {exc}"
        ) from None
    return Project(metadata, metadata.package_name, project_path, catalog, airflow_config or {},
                    has_airflow_yml, has_mlflow_yml)


def select_pipelines(pipeline_names: list[str]) -> dict:
    from kedro.framework.project import pipelines

    if not pipeline_names:
        raise UnknownPipeline(
            "--pipelines is empty: pass the names of registered pipelines, comma-separated "
            "(__default__ for the default pipeline)."
        )
    registered = sorted(pipelines)
    unknown = [name for name in pipeline_names if name not in registered]
    if unknown:
        raise UnknownPipeline(
            f"--pipelines: no pipeline named {', '.join(map(repr, unknown))} in the project's "
            f"pipeline_registry.py. Registered pipelines: {', '.join(registered) or 'none'}."
        )
    return {name: pipelines[name] for name in pipeline_names}


def kedro_mlflow_hooks_off(package_name: str) -> tuple[bool | None, str]:
    """Whether the project's settings.py turns kedro-mlflow's hooks off (True; also when it is
    not installed), and the distribution name Kedro matches ``DISABLE_HOOKS_FOR_PLUGINS`` with.
    None: the settings name kedro-mlflow under another spelling only (Kedro compares names as
    installed, ``kedro_mlflow`` in some wheels, ``kedro-mlflow`` in others), so the hooks stay on.
    """
    try:
        installed = importlib.metadata.distribution("kedro-mlflow").metadata["Name"]
    except importlib.metadata.PackageNotFoundError:
        return True, ""
    try:
        disabled = getattr(importlib.import_module(f"{package_name}.settings"),
                           "DISABLE_HOOKS_FOR_PLUGINS", ())
    except ImportError:
        return False, installed
    if installed in disabled:
        return True, installed
    spellings = {installed.replace("_", "-"), installed.replace("-", "_")}
    return (None if spellings & set(disabled) else False), installed


@contextlib.contextmanager
def opened(project_path: Path, env: str) -> Iterator[tuple[Project, Path | None]]:
    """The project read in ``env`` with kedro-mlflow's hooks off, and ``conf/local`` when that
    folder is missing (read as if empty); Kedro's settings are as they were afterwards."""
    project_path = Path(project_path).resolve()
    metadata = _bootstrap(project_path)
    missing_conf_env = _missing_default_env(project_path, env)
    with _tracking_hooks_off(), _conf_with_empty_env(missing_conf_env):
        yield _load_project(project_path, env, metadata), missing_conf_env
