"""Where the lineage and runs commands look for MLflow and S3."""

from __future__ import annotations

import os

import pytest

from kedro_mlops.local.cli.common import use_stack_environment
from kedro_mlops.local.settings import Settings


@pytest.fixture
def clean_env(monkeypatch):
    saved = dict(os.environ)
    for key in ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "MLOPS_BUCKET", "AWS_ACCESS_KEY_ID",
                "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    yield monkeypatch
    # the command fills os.environ in place: no variable it set may reach another test
    os.environ.clear()
    os.environ.update(saved)


def test_without_a_tracking_uri_the_local_stack_is_used(clean_env):
    use_stack_environment()
    local = Settings.from_env().env()
    assert os.environ["MLFLOW_TRACKING_URI"] == local["MLFLOW_TRACKING_URI"]
    assert os.environ["AWS_ENDPOINT_URL"] == local["AWS_ENDPOINT_URL"]


def test_an_exported_deployment_gets_no_local_s3_endpoint(clean_env):
    # a deployment on AWS: a tracking server, a bucket, keys, and no endpoint (AWS's own)
    clean_env.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example.com")
    clean_env.setenv("MLOPS_BUCKET", "prod-lake")
    use_stack_environment()
    assert os.environ["MLFLOW_TRACKING_URI"] == "https://mlflow.example.com"
    assert os.environ["MLOPS_BUCKET"] == "prod-lake"
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert "AWS_ACCESS_KEY_ID" not in os.environ
