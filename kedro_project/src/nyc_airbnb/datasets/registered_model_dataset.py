"""Load a model from the MLflow Model Registry by alias, together with the version it resolves to.

kedro-mlflow's ``MlflowModelRegistryDataset`` can load ``models:/<name>@<alias>`` too, but the
loaded pyfunc model does not tell which registry version it is, and scoring output must say so.
This dataset resolves the alias to a version first, then loads exactly that version, so the
reported version is the one that predicted even if the alias moves in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


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


class MlflowRegisteredModelDataset(AbstractDataset[None, RegisteredModel]):
    """Read-only dataset: ``models:/<model_name>@<alias>`` as a ``RegisteredModel``.

    Example (catalog.yml)::

        champion_model:
          type: nyc_airbnb.datasets.MlflowRegisteredModelDataset
          model_name: ${oc.env:MLOPS_MODEL_NAME,nyc_airbnb_price}
          alias: champion

    The registry is the one MLflow is configured with (kedro-mlflow sets it from mlflow.yml).
    """

    def __init__(
        self,
        model_name: str,
        alias: str = "champion",
        flavor: str = "mlflow.pyfunc",
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if not model_name or not alias:
            raise DatasetError("Both 'model_name' and 'alias' must be non-empty")
        self._model_name = model_name
        self._alias = alias
        self._flavor = flavor
        self._load_args = dict(load_args or {})
        self.metadata = metadata

    def load(self) -> RegisteredModel:
        client = MlflowClient()
        try:
            version = client.get_model_version_by_alias(self._model_name, self._alias)
        except MlflowException as err:
            error = (
                ModelNotInRegistryError
                if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
                else DatasetError
            )
            raise error(
                f"Cannot resolve 'models:/{self._model_name}@{self._alias}' in the MLflow "
                f"Model Registry at {mlflow.get_registry_uri()}: {err.message}. "
                f"To get one: train (Airflow DAG nyc_airbnb_training, or `make demo`), then "
                f"point the alias at a version: MlflowClient().set_registered_model_alias("
                f"'{self._model_name}', '{self._alias}', <version>)."
            ) from err
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
        return {"model_uri": f"models:/{self._model_name}@{self._alias}", "flavor": self._flavor}
