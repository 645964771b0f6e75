"""What the commands share: where MLflow and the lake are, and how a user error ends."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

#: MLflow's HTTP client retries a dead server for about two minutes by default; a command
#: someone typed should say it is down within seconds
_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


class UserError(Exception):
    """Bad input or an unreachable service: one message on stderr, exit status 2."""


def use_stack_environment() -> None:
    """Without MLFLOW_TRACKING_URI in the environment, use the local stack's settings (the
    variables `python -m kedro_mlops.local.stack env` prints), each unless exported. With it, the
    environment describes a deployment and is taken as it is: against AWS S3 there is no
    AWS_ENDPOINT_URL, and the local stack's would send every read to the wrong server."""
    from kedro_mlops.local.settings import Settings

    local = {} if "MLFLOW_TRACKING_URI" in os.environ else Settings.from_env().env()
    for key, value in {**local, **_RETRIES}.items():
        os.environ.setdefault(key, value)


def tracking_client():
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.search_experiments(max_results=1)
    except (MlflowException, OSError) as err:
        raise UserError(
            f"cannot reach the MLflow tracking server at {mlflow.get_tracking_uri()} "
            f"({type(err).__name__}): start the local stack (`make up`) or export "
            "MLFLOW_TRACKING_URI"
        ) from None
    return client


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    try:
        return main(argv)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
