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

from kedro_mlops.runtime import promotion
from kedro_mlops.runtime.errors import is_retryable
from kedro_mlops.runtime.model_alias import NoModelForAlias, pin_model_version, version_for_alias


class FakeRegistry:
    """The part of ``MlflowClient`` alias lookups use, with a chosen error to raise."""

    def __init__(self, aliases=None, error=None):
        self.aliases = aliases or {}
        self.error = error

    def get_model_version_by_alias(self, name, alias):
        if self.error is not None:
            raise self.error
        if (name, alias) not in self.aliases:
            raise MlflowException(f"Registered model alias {alias} not found.",
                                  error_code=INVALID_PARAMETER_VALUE)
        return self.aliases[(name, alias)]


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


def _registered_version(client, name: str, alias: str):
    """A real version of ``name`` carrying ``alias``, made by its own training run."""
    train_run = client.create_run(client.create_experiment("train")).info.run_id
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{train_run}/model", run_id=train_run)
    client.set_registered_model_alias(name, alias, version.version)
    return version


def test_pinning_tags_the_dag_runs_mlflow_run_with_the_version(registry):
    version = _registered_version(registry, "m", "challenger")
    dag_run = registry.create_run(registry.create_experiment("score")).info.run_id
    tags = pin_model_version({"model_alias": "challenger"}, dag_run, "m", "model_alias")
    assert tags == {"model.name": "m", "model.alias": "challenger",
                    "model.version": str(version.version), "model.run_id": version.run_id}
    run_tags = registry.get_run(dag_run).data.tags
    assert {k: run_tags.get(k) for k in tags} == tags


def test_pinning_without_the_param_uses_the_champion(registry):
    _registered_version(registry, "m", "champion")
    dag_run = registry.create_run(registry.create_experiment("score")).info.run_id
    assert pin_model_version({}, dag_run, "m", "model_alias")["model.alias"] == "champion"
    assert registry.get_run(dag_run).data.tags["model.alias"] == "champion"


def test_the_gate_reads_no_champion_as_none_and_a_down_server_as_an_error():
    assert promotion._champion_version(FakeRegistry(), "m") is None
    assert promotion._champion_version(FakeRegistry({("m", "champion"): V3}), "m") is V3
    with pytest.raises(MlflowException):
        promotion._champion_version(
            FakeRegistry(error=MlflowException("down", error_code=INTERNAL_ERROR)), "m")
