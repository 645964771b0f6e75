"""Load a model from the MLflow Model Registry by alias, together with the version it resolves to.

kedro-mlflow's ``MlflowModelRegistryDataset`` can load ``models:/<name>@<alias>`` too, but the
loaded pyfunc model does not tell which registry version it is, and scoring output must say so.
This dataset resolves the alias to a version first, then loads exactly that version, so the
reported version is the one that predicted even if the alias moves in between.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredModel:
    """A loaded registered model and where it came from in the registry."""

    model: Any
    name: str
    alias: str
    version: str
    run_id: str | None

    def predict(self, data: Any) -> Any:
        return self.model.predict(data)


class ModelNotInRegistryError(DatasetError):
    """No model version answers to this name and alias: retrying will not make one appear."""

    retryable = False


def resolve_model_version(model_name: str, alias: str, version: str | int | None = None):
    """The registry entry of ``models:/<model_name>@<alias>``, or of ``version`` when given.

    A deployment resolves the alias once per run and passes the version to every task, so all of
    them use the same version even if the alias moves in between.
    """
    client = MlflowClient()
    try:
        if version not in (None, ""):
            return client.get_model_version(model_name, str(version))
        resolved = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as err:
        error = (
            ModelNotInRegistryError
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
            else DatasetError
        )
        wanted = f"version {version}" if version not in (None, "") else f"alias '{alias}'"
        raise error(
            f"Cannot resolve 'models:/{model_name}@{alias}' ({wanted}) in the MLflow "
            f"Model Registry at {mlflow.get_registry_uri()}: {err.message}. "
            f"To get one: train (Airflow DAG nyc_airbnb_training, or `make demo`); its gate "
            f"makes the first version champion. Or point the alias at a version: "
            f"MlflowClient().set_registered_model_alias('{model_name}', '{alias}', <version>)."
        ) from err
    _record_on_active_run(model_name, alias, resolved)
    return resolved


def _record_on_active_run(model_name: str, alias: str, version) -> None:
    """Tag the run that uses the model with the alias and what it pointed at then: the alias may
    move later, and lineage (``kedro-mlops-lineage``) reads these tags. A pinned version was
    recorded by whoever pinned it (the scoring DAG's first task, same tag names)."""
    run = mlflow.active_run()
    if run is None:
        return
    mlflow.set_tags({"model.name": model_name, "model.alias": alias,
                     "model.version": str(version.version), "model.run_id": str(version.run_id)})


class MlflowRegisteredModelDataset(AbstractDataset[None, RegisteredModel]):
    """Read-only dataset: ``models:/<model_name>@<alias>`` as a ``RegisteredModel``.

    Example (catalog.yml)::

        champion_model:
          type: nyc_airbnb.datasets.MlflowRegisteredModelDataset
          model_name: nyc_airbnb_price
          alias: champion
          model_version: ${runtime_params:model_version, null}  # pinned by the deployment, if any

    The registry is the one MLflow is configured with (kedro-mlflow sets it from mlflow.yml).
    The pin is ``model_version``, not ``version``: Kedro drops a ``version`` key from every
    dataset's configuration (a reserved word), with only a log line, and the alias would win.
    """

    def __init__(
        self,
        model_name: str,
        alias: str = "champion",
        model_version: str | int | None = None,
        flavor: str = "mlflow.pyfunc",
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not model_name or not alias:
            raise DatasetError("Both 'model_name' and 'alias' must be non-empty")
        self._model_name = model_name
        self._alias = alias
        self._version = model_version
        self._flavor = flavor
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def load(self) -> RegisteredModel:
        version = resolve_model_version(self._model_name, self._alias, self._version)
        model = import_module(self._flavor).load_model(
            f"models:/{self._model_name}/{version.version}", **self._load_args
        )
        return RegisteredModel(
            model=model,
            name=self._model_name,
            alias=self._alias,
            version=str(version.version),
            run_id=version.run_id,
        )

    def save(self, data: RegisteredModel) -> None:
        raise DatasetError(
            "MlflowRegisteredModelDataset is read-only: models are registered by the deployment"
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "model_uri": f"models:/{self._model_name}@{self._alias}",
            "model_version": self._version,
            "flavor": self._flavor,
        }


class MlflowModelReferenceDataset(AbstractDataset[None, dict]):
    """What a batch is checked against, for one registered model version, without loading it.

    Loads a dict: ``name``, ``alias``, ``version``, ``run_id``, ``inputs`` (the input signature,
    column name -> MLflow type) and ``profile``: the training data profile that the training run
    logged as the artifact ``profile_artifact`` (None for versions trained without one).
    """

    def __init__(
        self,
        model_name: str,
        alias: str = "champion",
        model_version: str | int | None = None,
        profile_artifact: str = "reference/feature_profile.json",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._model_name = model_name
        self._alias = alias
        self._version = model_version
        self._profile_artifact = profile_artifact
        self.metadata = metadata

    def load(self) -> dict:
        version = resolve_model_version(self._model_name, self._alias, self._version)
        info = mlflow.models.get_model_info(f"models:/{self._model_name}/{version.version}")
        inputs = info.signature.inputs.to_dict() if info.signature else []
        profile = None
        if version.run_id:
            try:
                local = mlflow.artifacts.download_artifacts(
                    run_id=version.run_id, artifact_path=self._profile_artifact
                )
                profile = json.loads(Path(local).read_text(encoding="utf-8"))
            except (MlflowException, OSError) as err:
                # only "no such artifact" (a version trained before profiles existed) is normal
                if isinstance(err, MlflowException) and err.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                log.warning("No training profile '%s' in run %s (%s): drift is not reported",
                            self._profile_artifact, version.run_id, err)
        return {
            "name": self._model_name,
            "alias": self._alias,
            "version": str(version.version),
            "run_id": version.run_id,
            "inputs": {spec["name"]: spec["type"] for spec in inputs},
            "profile": profile,
        }

    def save(self, data: dict) -> None:
        raise DatasetError("MlflowModelReferenceDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {"model_uri": f"models:/{self._model_name}@{self._alias}",
                "model_version": self._version, "profile_artifact": self._profile_artifact}


class MlflowActiveRunDataset(AbstractDataset[None, dict]):
    """The MLflow run this Kedro run logs into: ``{"run_id": ..., "experiment_id": ...}``.

    Lets a node stamp its output with the run that produced it; both values are None when no run
    is active (tracking disabled).
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> dict:
        run = mlflow.active_run()
        return {
            "run_id": run.info.run_id if run else None,
            "experiment_id": run.info.experiment_id if run else None,
        }

    def save(self, data: dict) -> None:
        raise DatasetError("MlflowActiveRunDataset is read-only")

    def _describe(self) -> dict[str, Any]:
        return {}
