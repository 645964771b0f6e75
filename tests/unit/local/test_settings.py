"""The local stack finds the checkout it runs from (kedro_mlops.local.settings): its state,
airflow.cfg and dags/ are located from there."""

from __future__ import annotations

from pathlib import Path

from kedro_mlops.local import settings
from kedro_mlops.local.stack import airflow

REPO = Path(__file__).resolve().parents[3]


def test_the_repo_root_is_the_checkout():
    assert settings.REPO_ROOT == airflow.REPO_ROOT == REPO
    assert (settings.REPO_ROOT / "airflow.cfg").is_file()
    assert airflow.AIRFLOW_CFG == REPO / "airflow.cfg"


TELEMETRY_OFF = ("from mlflow.telemetry.utils import is_telemetry_disabled; "
                 "print(is_telemetry_disabled())")


def test_no_process_of_the_stack_sends_mlflow_telemetry(tmp_path):
    """MLflow reads DO_NOT_TRACK only as "true", not the usual "1": the stack turns its
    telemetry off by name, for the tasks, the MLflow server and every other process."""
    import subprocess
    import sys

    stack = settings.Settings.from_env({}, state_dir=tmp_path)
    env = airflow.airflow_env(stack.env(), state_dir=tmp_path,
                              db_url="postgresql://postgres@127.0.0.1:5432/unused")
    env = {k: v for k, v in env.items() if k != "CI"}  # CI alone turns it off
    out = subprocess.run([sys.executable, "-c", TELEMETRY_OFF], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "True"
    bare = {"PATH": env.get("PATH", "/usr/bin:/bin"), "DO_NOT_TRACK": "1"}
    out = subprocess.run([sys.executable, "-c", TELEMETRY_OFF], env=bare, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == "False"  # why the stack cannot rely on DO_NOT_TRACK=1
