"""Project hooks."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

GIT_COMMIT_ENV = "MLOPS_GIT_COMMIT"
GIT_COMMIT_TAG = "git_commit"


def resolve_git_commit(project_path: Path | str | None) -> str | None:
    """The commit the code was built from: ``$MLOPS_GIT_COMMIT`` (set by the deployment, where the
    project is not a git checkout), else ``git rev-parse HEAD`` in the project, else None."""
    from_env = os.environ.get(GIT_COMMIT_ENV, "").strip()
    if from_env:
        return from_env
    if project_path is None:
        return None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=str(project_path),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


class GitCommitTagHook:
    """Tag the MLflow run of a pipeline with ``git_commit``.

    ``trylast`` makes it run after kedro-mlflow's ``before_pipeline_run``, which starts the run.
    Nothing is done when no run is active (tracking disabled for the pipeline), no commit is known
    or the run already carries this commit.
    """

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        run = mlflow.active_run()
        if run is None:
            return
        commit = resolve_git_commit(run_params.get("project_path"))
        if commit is None:
            logger.warning(
                "No git commit known (no $%s, no git checkout): tag '%s' not set",
                GIT_COMMIT_ENV,
                GIT_COMMIT_TAG,
            )
            return
        # A run resumed by a later step (a node task of an Airflow DAG run) already has it,
        # as of its start: one round trip to the tracking server fewer per step.
        if run.data.tags.get(GIT_COMMIT_TAG) == commit:
            return
        mlflow.set_tag(GIT_COMMIT_TAG, commit)
