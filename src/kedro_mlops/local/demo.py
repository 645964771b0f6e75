"""The main job of the local stack: services up, train through Airflow, register, score batches.

    python -m kedro_mlops.local.stack demo      (what `make demo` runs)

Starts PostgreSQL, S3, MLflow and Airflow (idempotent) and writes generated batches of new
listings for the last days under s3://<bucket>/incoming/ds=<day>/. Then it lets the schedules
work: unpausing the weekly training DAG makes the scheduler start its run for the latest week
(a manual run is triggered when that week already ran); the demo reports what the promotion gate
decided. Unpausing the daily scoring DAG makes the scheduler score yesterday's batch with the
champion; a backfill scores the days before. It prints the partitions, the figures of the
scoring runs and where everything is. The demo never moves an alias itself.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field

from kedro_mlops.local.settings import Settings
from kedro_mlops.runtime.promotion import CHAMPION, DECISION_TAG

TRAINING_DAG = "nyc_airbnb_training"
SCORING_DAG = "nyc_airbnb_scoring"
SCORING_EXPERIMENT = "nyc_airbnb_scoring"
MODEL_NAME = "nyc_airbnb_price"
BATCH_DAYS = 3
BATCH_ROWS = 5000
SCHEDULED_RUN_WAIT = 90.0


@dataclass(frozen=True)
class ScoredDay:
    ds: str
    run_id: str
    run_type: str
    rows: int
    model_version: str
    mlflow_run_id: str
    task_seconds: float
    peak_rss_mb: float
    psi_max: float


@dataclass(frozen=True)
class DemoResult:
    mlflow_run_id: str
    model_version: str
    decision: str
    decision_reason: str
    champion_version: str
    training_run: str
    training_seconds: float
    scoring_seconds: float
    days: list[ScoredDay] = field(default_factory=list)


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


def _write_batches(settings: Settings, days: list[str]) -> None:
    from nyc_airbnb.batches import date_seed, generate_batch, load_source, write_batch

    source = load_source()
    options = {"client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}
    for i, ds in enumerate(days):
        batch = generate_batch(source, BATCH_ROWS, seed=date_seed(0, ds),
                               id_start=90_000_000 + i * BATCH_ROWS)
        urls = write_batch(batch, f"s3://{settings.bucket}", ds, n_files=2,
                           storage_options=options)
        _say(f"batch {ds}: {len(batch)} listings in {len(urls)} files under "
             f"s3://{settings.bucket}/incoming/ds={ds}/")


def _scheduled_or_manual(af, dag_id: str, conf: dict, timeout: float):
    """Unpause the DAG and wait for the run its schedule starts; when the latest interval has
    already run (the DAG was unpaused before), trigger a manual run instead."""
    # The API answers 404 for the runs of a DAG the dag-processor has not registered yet
    # (a fresh stack parses its files a few seconds after it starts).
    af.wait_for_dag(dag_id, timeout=180)
    known = {r.run_id for r in af.runs(dag_id)}
    was_paused = af.get_dag(dag_id)["is_paused"]
    af.unpause(dag_id)
    if was_paused:
        deadline = time.monotonic() + SCHEDULED_RUN_WAIT
        while time.monotonic() < deadline:
            new = [r for r in af.runs(dag_id, run_type="scheduled") if r.run_id not in known]
            if new:
                _say(f"{dag_id}: the scheduler started {new[-1].run_id} on unpause")
                return af.wait_for_run(dag_id, new[-1].run_id, timeout=timeout)
            time.sleep(2)
    _say(f"{dag_id}: its latest interval already ran; triggering a manual run")
    run = af.trigger(dag_id, conf)
    return af.wait_for_run(dag_id, run.run_id, timeout=timeout)


def _scored_day(af, settings: Settings, run) -> ScoredDay:
    import fsspec
    import mlflow

    from kedro_mlops.local.parquet_read import read_parquet
    from kedro_mlops.runtime.dag_run_tracking import find_run

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(SCORING_EXPERIMENT)
    mlflow_run = find_run(client, experiment.experiment_id, SCORING_DAG, run.run_id)
    ds = mlflow_run.data.tags["runtime.batch_date"]
    s3 = fsspec.filesystem("s3", client_kwargs={"endpoint_url": settings.s3_endpoint_url})
    scored = read_parquet(s3, f"{settings.bucket}/predictions/ds={ds}/predictions.parquet",
                          columns=["model_version"])
    metrics = mlflow_run.data.metrics
    seconds = metrics.get("task.score_batch.seconds", float("nan"))
    return ScoredDay(
        ds=ds,
        run_id=run.run_id,
        run_type=run.raw.get("run_type", "?"),
        rows=len(scored),
        model_version=",".join(sorted(set(scored["model_version"]))),
        mlflow_run_id=mlflow_run.info.run_id,
        task_seconds=seconds,
        peak_rss_mb=metrics.get("task.score_batch.peak_rss_mb", float("nan")),
        psi_max=metrics.get("drift.psi_max", float("nan")),
    )


def run_demo(settings: Settings) -> DemoResult:
    import mlflow

    from kedro_mlops.local.airflow_client import AirflowClient
    from kedro_mlops.local.stack import start_services
    from kedro_mlops.runtime.model_alias import version_for_alias

    _say("starting the services (PostgreSQL, S3, MLflow, Airflow)")
    start_services(settings, airflow=True)
    os.environ.update(settings.env())
    client = mlflow.MlflowClient()
    today = dt.datetime.now(dt.UTC).date()
    days = [(today - dt.timedelta(days=n)).isoformat() for n in range(BATCH_DAYS, 0, -1)]
    _write_batches(settings, days)
    with AirflowClient.for_local_stack(settings.state_dir, port=settings.airflow_port) as af:
        _say(f"training: the weekly Airflow DAG {TRAINING_DAG}")
        started = time.monotonic()
        training = _scheduled_or_manual(af, TRAINING_DAG, {"run_note": "make demo"}, 1800)
        training_seconds = time.monotonic() - started
        version = _registered_version(training.run_id)
        decision = version.tags.get(DECISION_TAG)
        if not decision:
            raise RuntimeError(
                f"{MODEL_NAME} version {version.version} has no '{DECISION_TAG}' tag: did the "
                "training DAG run its evaluate_and_promote task?"
            )
        # the gate's sentence; versions gated before it wrote one keep the reason as a tag
        reason = version.description or version.tags.get("promotion.reason", "")
        champion = version_for_alias(MODEL_NAME, CHAMPION, client)
        _say(f"promotion gate: {MODEL_NAME} version {version.version} -> {decision} ({reason})")
        _say(f"@{CHAMPION} is version {champion.version}")

        _say(f"scoring: the daily Airflow DAG {SCORING_DAG} (yesterday's batch)")
        started = time.monotonic()
        yesterday = _scheduled_or_manual(af, SCORING_DAG, {"batch_date": days[-1]}, 900)
        _say(f"scoring: backfill of {days[0]} .. {days[-2]}")
        backfill = af.backfill(SCORING_DAG, f"{days[0]}T00:00:00+00:00",
                               f"{days[-2]}T00:00:00+00:00", reprocess_behavior="completed",
                               max_active_runs=BATCH_DAYS)  # independent days: all at once
        backfilled = af.wait_for_backfill(backfill, timeout=1200)
        scoring_seconds = time.monotonic() - started
        scored = [_scored_day(af, settings, run) for run in [*backfilled, yesterday]]

    return DemoResult(
        mlflow_run_id=version.run_id,
        model_version=str(version.version),
        decision=decision,
        decision_reason=reason,
        champion_version=str(champion.version),
        training_run=training.run_id,
        training_seconds=training_seconds,
        scoring_seconds=scoring_seconds,
        days=sorted(scored, key=lambda d: d.ds),
    )


def print_summary(settings: Settings, result: DemoResult) -> None:
    from kedro_mlops.local.stack.airflow import PASSWORDS_FILE, admin_credentials, airflow_home

    user, _ = admin_credentials(settings.state_dir)
    password_file = airflow_home(settings.state_dir) / PASSWORDS_FILE
    days = "\n".join(
        f"    ds={d.ds}  {d.rows:>6} rows  v{d.model_version}  {d.run_type:<9}  "
        f"score_batch {d.task_seconds:4.1f} s, peak {d.peak_rss_mb:.0f} MB  "
        f"PSI max {d.psi_max:.3f}"
        for d in result.days
    )
    print(
        f"""
Done.
  Airflow UI    {settings.airflow_url}   (user {user}, password in {password_file})
  MLflow UI     {settings.mlflow_tracking_uri}
  Training      {TRAINING_DAG} run {result.training_run}, MLflow run {result.mlflow_run_id}
  Model         {MODEL_NAME} version {result.model_version} (@challenger), registered by this run
  Promotion     {result.decision}: {result.decision_reason}
  Scored with   {MODEL_NAME}@{CHAMPION} = version {result.champion_version}
  Predictions   s3://{settings.bucket}/predictions/ (one Parquet file per day)
{days}
                MLflow experiment {SCORING_EXPERIMENT}: one run per day, drift report under drift/
  Wall time     training {result.training_seconds:.0f}s, scoring {result.scoring_seconds:.0f}s
  Stop with `make stop`; state and logs are under {settings.state_dir}.""",
        flush=True,
    )
