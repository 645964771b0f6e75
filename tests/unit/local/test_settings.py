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
