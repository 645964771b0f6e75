"""Reading a project for rendering leaves Kedro's process-wide settings as it found them
(kedro_mlops.read.project)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.framework.project import settings

from kedro_mlops.read.errors import NotAKedroProject, UnknownEnvironment
from kedro_mlops.read.project import opened

TINY = Path(__file__).parents[2] / "fixtures" / "tiny_project"
STARTER = Path(__file__).parents[2] / "fixtures" / "starter_project"


def test_kedro_mlflow_hooks_are_off_while_reading_and_as_before_after():
    with opened(TINY, "local") as (project, _):
        inside = settings.DISABLE_HOOKS_FOR_PLUGINS
        conf_source = settings.CONF_SOURCE
        assert project.package_name == "tiny" and project.has_airflow_yml
    assert {"kedro-mlflow", "kedro_mlflow"} <= set(inside)
    # the project's own settings.py, as bootstrapping left them: it names no plugin
    assert "kedro-mlflow" not in settings.DISABLE_HOOKS_FOR_PLUGINS
    assert settings.CONF_SOURCE == conf_source


def test_a_missing_conf_local_is_read_as_an_empty_copy_and_not_created(tmp_path):
    import shutil

    project_path = shutil.copytree(STARTER, tmp_path / "starter")
    shutil.rmtree(project_path / "conf" / "local", ignore_errors=True)
    with opened(project_path, "local") as (_, missing):
        assert missing == project_path / "conf" / "local"
        assert settings.CONF_SOURCE != "conf"
    assert settings.CONF_SOURCE == "conf"
    assert not missing.exists()


def test_not_a_project_and_an_unknown_env_are_user_errors(tmp_path):
    with pytest.raises(NotAKedroProject, match="no pyproject.toml with a"), \
            opened(tmp_path, "local"):
        pass
    with pytest.raises(UnknownEnvironment, match="Known environments"), opened(TINY, "nope"):
        pass
