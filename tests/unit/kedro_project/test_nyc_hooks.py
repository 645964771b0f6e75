"""The git_commit tag hook."""

from __future__ import annotations

import subprocess

import mlflow
import pytest
from kedro.framework.hooks import _create_hook_manager
from kedro_mlflow.framework.hooks import MlflowHook
from nyc_airbnb import hooks
from nyc_airbnb.hooks import GitCommitTagHook, resolve_git_commit
from nyc_airbnb.settings import HOOKS


@pytest.fixture
def git_repo(tmp_path):
    def git(*args):
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "f.txt").write_text("x")
    git("add", "f.txt")
    git("commit", "-q", "-m", "init")
    return tmp_path, git("rev-parse", "HEAD")


def test_commit_from_environment_wins(monkeypatch, git_repo):
    path, _ = git_repo
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "abc123")
    assert resolve_git_commit(path) == "abc123"


def test_commit_from_git(monkeypatch, git_repo):
    path, head = git_repo
    monkeypatch.delenv("MLOPS_GIT_COMMIT", raising=False)
    assert resolve_git_commit(path) == head


def test_no_commit_outside_git_without_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MLOPS_GIT_COMMIT", raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert resolve_git_commit(tmp_path) is None
    monkeypatch.setenv("PATH", "")  # no git binary at all
    assert resolve_git_commit(tmp_path) is None


def test_hook_tags_the_active_run(local_mlflow, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "deadbeef")
    with mlflow.start_run() as run:
        GitCommitTagHook().before_pipeline_run(run_params={"project_path": str(tmp_path)})
    assert local_mlflow.get_run(run.info.run_id).data.tags["git_commit"] == "deadbeef"


def test_hook_leaves_a_resumed_run_that_has_the_commit_alone(local_mlflow, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "deadbeef")
    run_id = local_mlflow.create_run(
        local_mlflow.get_experiment_by_name("unit_tests").experiment_id,
        tags={"git_commit": "deadbeef"}).info.run_id
    calls = []
    monkeypatch.setattr(hooks.mlflow, "set_tag", lambda *a: calls.append(a))
    with mlflow.start_run(run_id=run_id):
        GitCommitTagHook().before_pipeline_run(run_params={"project_path": str(tmp_path)})
    assert calls == []
    # another commit is still written
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "cafe01")
    with mlflow.start_run(run_id=run_id):
        GitCommitTagHook().before_pipeline_run(run_params={"project_path": str(tmp_path)})
    assert calls == [("git_commit", "cafe01")]


def test_hook_does_nothing_without_run_or_commit(local_mlflow, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_GIT_COMMIT", "deadbeef")
    GitCommitTagHook().before_pipeline_run(run_params={"project_path": str(tmp_path)})
    assert mlflow.active_run() is None  # no run was started by the hook

    monkeypatch.delenv("MLOPS_GIT_COMMIT")
    monkeypatch.setattr(hooks, "resolve_git_commit", lambda path: None)
    with mlflow.start_run() as run:
        GitCommitTagHook().before_pipeline_run(run_params={"project_path": str(tmp_path)})
    assert "git_commit" not in local_mlflow.get_run(run.info.run_id).data.tags


def test_hook_runs_after_kedro_mlflow_starts_the_run():
    """Registered like Kedro does (project hooks, then plugin entry points): ours is called last."""
    manager = _create_hook_manager()
    (ours,) = (h for h in HOOKS if isinstance(h, GitCommitTagHook))
    manager.register(ours)
    plugin = MlflowHook()
    manager.register(plugin)
    # pluggy calls hook implementations from the end of this list to its start
    order = [impl.plugin for impl in manager.hook.before_pipeline_run.get_hookimpls()]
    assert order.index(ours) < order.index(plugin)
    # and trylast keeps it last whatever the registration order
    manager2 = _create_hook_manager()
    manager2.register(plugin)
    manager2.register(ours)
    order2 = [impl.plugin for impl in manager2.hook.before_pipeline_run.get_hookimpls()]
    assert order2.index(ours) < order2.index(plugin)
