"""One helper resolves a registered model's alias to a version (kedro_mlops.runtime.model_alias)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)

from kedro_mlops.runtime import model_alias, promotion
from kedro_mlops.runtime.errors import is_retryable
from kedro_mlops.runtime.model_alias import NoModelForAlias, pin_model_version, version_for_alias


class FakeRegistry:
    """The part of ``MlflowClient`` the helper uses: aliases, and tags set on runs."""

    def __init__(self, aliases=None, error=None):
        self.aliases = aliases or {}
        self.error = error
        self.run_tags: dict[str, dict[str, str]] = {}

    def get_model_version_by_alias(self, name, alias):
        if self.error is not None:
            raise self.error
        if (name, alias) not in self.aliases:
            raise MlflowException(f"Registered model alias {alias} not found.",
                                  error_code=INVALID_PARAMETER_VALUE)
        return self.aliases[(name, alias)]

    def set_tag(self, run_id, key, value):
        self.run_tags.setdefault(run_id, {})[key] = value


V3 = SimpleNamespace(version="3", run_id="train-run")


def test_an_alias_resolves_to_its_version():
    assert version_for_alias("m", "champion", FakeRegistry({("m", "champion"): V3})) is V3


@pytest.mark.parametrize("code", [INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST])
def test_no_version_for_the_alias_names_the_alias_and_the_fix(code):
    registry = FakeRegistry(error=MlflowException("not found", error_code=code))
    with pytest.raises(NoModelForAlias) as info:
        version_for_alias("nyc_airbnb_price", "nobody", registry)
    message = str(info.value)
    assert "models:/nyc_airbnb_price@nobody" in message
    assert "To get one: run the training DAG" in message and "Aliases" in message
    assert not is_retryable(info.value)


def test_any_other_registry_error_is_not_taken_for_no_version():
    registry = FakeRegistry(error=MlflowException("boom", error_code=INTERNAL_ERROR))
    with pytest.raises(MlflowException) as info:
        version_for_alias("m", "champion", registry)
    assert not isinstance(info.value, NoModelForAlias)


def test_pinning_tags_the_dag_runs_mlflow_run_with_the_version(monkeypatch):
    registry = FakeRegistry({("m", "challenger"): V3})
    monkeypatch.setattr(model_alias.mlflow, "MlflowClient", lambda: registry)
    tags = pin_model_version({"model_alias": "challenger"}, "dag-run", "m", "model_alias")
    assert tags == {"model.name": "m", "model.alias": "challenger", "model.version": "3",
                    "model.run_id": "train-run"}
    assert registry.run_tags == {"dag-run": tags}


def test_pinning_without_the_param_uses_the_champion(monkeypatch):
    registry = FakeRegistry({("m", "champion"): V3})
    monkeypatch.setattr(model_alias.mlflow, "MlflowClient", lambda: registry)
    assert pin_model_version({}, "r", "m", "model_alias")["model.alias"] == "champion"


def test_the_gate_reads_no_champion_as_none_and_a_down_server_as_an_error():
    assert promotion._champion_version(FakeRegistry(), "m") is None
    assert promotion._champion_version(FakeRegistry({("m", "champion"): V3}), "m") is V3
    with pytest.raises(MlflowException):
        promotion._champion_version(
            FakeRegistry(error=MlflowException("down", error_code=INTERNAL_ERROR)), "m")
