"""The main job of the local stack: services up, train through Airflow, register, score.

    python -m kedro_mlops.stack demo      (what `make demo` runs)

Starts PostgreSQL, S3, MLflow and Airflow (idempotent), triggers the training DAG through
Airflow's REST API, reports what its promotion gate (task `evaluate_and_promote`) decided for
the model version that run registered (it moves `challenger`, and `champion` when the new version
is the first or beats the champion), triggers the scoring DAG with `@champion`, and prints where
everything is. The demo never moves an alias itself.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from kedro_mlops.project import run_data_root
from kedro_mlops.settings import Settings

TRAINING_DAG = "nyc_airbnb_training"
SCORING_DAG = "nyc_airbnb_scoring"
MODEL_NAME = "nyc_airbnb_price"
CHAMPION = "champion"
DECISION_TAG = "promotion.decision"
SCORED_FILE = "09_scored/scored_listings.csv"


@dataclass(frozen=True)
class DemoResult:
    mlflow_run_id: str
    model_version: str
    decision: str
    decision_reason: str
    champion_version: str
    scored_uri: str
    scored_local: Path
    scored_rows: int
    training_seconds: float
    scoring_seconds: float


def _say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _registered_version(run_id: str):
    import mlflow

    versions = mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    mine = [v for v in versions if v.tags.get("airflow.run_id") == run_id]
    if len(mine) != 1:
        raise RuntimeError(
            f"DAG run {run_id} should have registered exactly one version of {MODEL_NAME}, "
            f"found {len(mine)}"
        )
    return mine[0]


def run_demo(settings: Settings) -> DemoResult:
    import mlflow
    import pandas as pd

    from kedro_mlops.airflow_client import AirflowClient
    from kedro_mlops.stack import start_services

    _say("starting the services (PostgreSQL, S3, MLflow, Airflow)")
    start_services(settings, airflow=True)
    os.environ.update(settings.env())
    client = mlflow.MlflowClient()
    with AirflowClient.for_local_stack(settings.state_dir, port=settings.airflow_port) as af:
        _say(f"training: triggering the Airflow DAG {TRAINING_DAG}")
        started = time.monotonic()
        training = af.run_dag(TRAINING_DAG, {"run_note": "make demo"}, timeout=1800)
        training_seconds = time.monotonic() - started
        version = _registered_version(training.run_id)
        decision = version.tags.get(DECISION_TAG)
        if not decision:
            raise RuntimeError(
                f"{MODEL_NAME} version {version.version} has no '{DECISION_TAG}' tag: did the "
                "training DAG run its evaluate_and_promote task?"
            )
        reason = version.tags.get("promotion.reason", "")
        champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
        _say(f"promotion gate: {MODEL_NAME} version {version.version} -> {decision} ({reason})")
        _say(f"@{CHAMPION} is version {champion.version}")

        _say(f"scoring: triggering the Airflow DAG {SCORING_DAG} with @{CHAMPION}")
        started = time.monotonic()
        scoring = af.run_dag(SCORING_DAG, {"model_alias": CHAMPION}, timeout=900)
        scoring_seconds = time.monotonic() - started

    scored_uri = f"{run_data_root(SCORING_DAG, scoring.run_id)}/{SCORED_FILE}"
    scored = pd.read_csv(scored_uri)
    local = settings.state_dir / "outputs" / "scored_listings.csv"
    local.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(local, index=False)
    return DemoResult(
        mlflow_run_id=version.run_id,
        model_version=str(version.version),
        decision=decision,
        decision_reason=reason,
        champion_version=str(champion.version),
        scored_uri=scored_uri,
        scored_local=local,
        scored_rows=len(scored),
        training_seconds=training_seconds,
        scoring_seconds=scoring_seconds,
    )


def print_summary(settings: Settings, result: DemoResult) -> None:
    from kedro_mlops.stack.airflow import PASSWORDS_FILE, admin_credentials, airflow_home

    user, _ = admin_credentials(settings.state_dir)
    password_file = airflow_home(settings.state_dir) / PASSWORDS_FILE
    print(
        f"""
Done.
  Airflow UI    {settings.airflow_url}   (user {user}, password in {password_file})
  MLflow UI     {settings.mlflow_tracking_uri}
  MLflow run    {result.mlflow_run_id}   ({settings.mlflow_tracking_uri}/#/experiments)
  Model         {MODEL_NAME} version {result.model_version} (@challenger), registered by this run
  Promotion     {result.decision}: {result.decision_reason}
  Scored with   {MODEL_NAME}@{CHAMPION} = version {result.champion_version}
  Scored file   {result.scored_uri}
                copy: {result.scored_local} ({result.scored_rows} rows)
  Wall time     training DAG {result.training_seconds:.0f}s, scoring DAG {result.scoring_seconds:.0f}s
  Stop with `make stop`; state and logs are under {settings.state_dir}.""",
        flush=True,
    )
