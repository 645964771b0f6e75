"""A registered model's alias resolved to a version: one helper, one message.

A scoring DAG run resolves ``models:/<name>@<alias>`` once, in its first task, and pins the
version for every later task (``pin_model_version``), so a promotion in the middle of the run
does not change which model scores; the promotion gate asks who the champion is; the demo says so.
"""

from __future__ import annotations

import logging

import mlflow

from kedro_mlops.runtime import dag_run_tracking

log = logging.getLogger(__name__)

#: what MLflow answers for an alias no version holds, or a model that is not registered
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class NoModelForAlias(LookupError):
    """The registry has no version under this alias: retrying will not make one appear."""

    retryable = False


def version_for_alias(model_name: str, alias: str, client=None):
    """The ``ModelVersion`` that ``models:/<model_name>@<alias>`` points at.

    Raises ``NoModelForAlias``, naming the alias and how to get a version, when none does; any
    other registry error (the server is down...) is raised as it is, never taken for "none".
    """
    from mlflow.exceptions import MlflowException

    client = client or mlflow.MlflowClient()
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as err:
        if err.error_code not in _NOT_FOUND:
            raise
        raise NoModelForAlias(
            f"No model version answers to 'models:/{model_name}@{alias}' in the MLflow Model "
            f"Registry ({err.message}). To get one: run the training DAG that registers "
            f"'{model_name}' (its evaluate_and_promote task makes the first version champion), "
            f"or point the alias at a version in the MLflow UI (Models > {model_name} > version "
            "> Aliases)."
        ) from err


def pin_model_version(
    params, mlflow_run_id: str, model_name: str, alias_param: str
) -> dict[str, str]:
    """Resolve ``models:/<model_name>@<alias>`` once for the whole DAG run.

    The alias is the trigger param ``alias_param`` (default ``champion``). Tags the version on
    the DAG run's MLflow run and returns the tags; the deployment hands the version to every
    later task (runtime param ``model_version``). Fails at once when the registry has none.
    """
    alias = str(params.get(alias_param) or "champion")
    client = mlflow.MlflowClient()
    version = version_for_alias(model_name, alias, client)
    log.info("models:/%s@%s is version %s (run %s) for this whole DAG run",
             model_name, alias, version.version, version.run_id)
    tags = {
        "model.name": model_name,
        "model.alias": alias,
        "model.version": str(version.version),
        "model.run_id": str(version.run_id),
    }
    dag_run_tracking.set_tags(client, mlflow_run_id, tags)
    return tags
