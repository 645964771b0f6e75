"""The repo's DAGs and a tiny project's run by the real Airflow scheduler (the package's stack,
see conftest.py): training tracked and registered, the promotion gate, retries, batch scoring.

The package's first file: its first test finds the stack as it started, before any task ran.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_mlops.local.airflow_client import DagRunFailed
from kedro_mlops.local.stack.s3 import s3_client
from kedro_mlops.runtime.pip_requirements import KEY_TAG

from ..airflow_stack import scheduler_forkservers
from ..conftest import wait_until
from ..fault_switch import arm, fired
from ..mlflow_queries import model_versions, runs_of_dag_run
from ..task_tries import tries_logs
from .conftest import (
    FILE_WAIT_SECONDS,
    NYC,
    SCHEDULED_ROWS,
    faults_dir,
    storage_options,
    write_batch,
)

pytestmark = pytest.mark.e2e

MODEL = "nyc_airbnb_price"
TINY_TRAINING = "tiny_training"
TRAINING = "nyc_airbnb_training"
SCORING = "nyc_airbnb_scoring"
SCORING_EXPERIMENT = "nyc_airbnb_scoring"


def test_the_scheduler_starts_its_preloading_forkserver_before_any_task(airflow_stack):
    """The LocalExecutor's forkserver imports the warm task runtime as the scheduler starts
    (kedro_mlops/runtime/scheduler_plugin.py), not when the first task is queued, which stood
    the scheduler's loop still for those imports."""
    settings, airflow = airflow_stack
    assert not any(airflow.runs(dag_id) for dag_id in (TINY_TRAINING, TRAINING, SCORING)), \
        "a DAG ran before this test"
    scheduler, forkservers = scheduler_forkservers(settings)
    assert len(forkservers) == 1, f"the scheduler's forkservers before any task: {forkservers}"
    (forkserver,) = forkservers
    report = f"kedro_mlops.runtime.task_preload: pid {forkserver.pid} imported"
    wait_until(lambda: report in scheduler.log_path.read_text(errors="replace"), 120,
               f"'{report}' in {scheduler.log_path}")


def test_an_idle_scheduler_loops_about_once_a_second(airflow_stack):
    """No task has run yet: the executor's heartbeat pauses each loop (kedro_mlops/runtime/
    local_executor.py). At the 0.1 s idle sleep alone, this scheduler used about 2.8 CPU-s per
    15 s (19 % of a core); paused, about 0.35."""
    import time

    import psutil

    settings, _ = airflow_stack
    scheduler, _ = scheduler_forkservers(settings)
    process = psutil.Process(scheduler.pid)
    before, started = process.cpu_times(), time.monotonic()
    time.sleep(15)
    after, elapsed = process.cpu_times(), time.monotonic() - started
    cpu = (after.user + after.system) - (before.user + before.system)
    assert cpu < 1.2, f"the idle scheduler used {cpu:.2f} CPU-s in {elapsed:.0f} s"


def test_a_retried_task_keeps_one_mlflow_run_and_one_model_version(airflow_stack):
    """Generic: a tiny project that is not ours, one of whose node tasks fails once."""
    settings, airflow = airflow_stack
    run_id = "manual__retry_test"
    fault = arm(faults_dir(settings), "tiny_training", run_id, "prep.fit_scale", "fail_before")
    run = airflow.run_dag("tiny_training", {"target_max": 2.0, "run_note": "retry test"},
                          run_id=run_id, timeout=600)
    assert fired(fault)
    tries = _tries(airflow, "tiny_training", run.run_id)
    assert tries == {task: 2 if task == "prep.fit_scale" else 1 for task in tries}

    (mlflow_run,) = runs_of_dag_run("tiny_training", run.run_id, "tiny")
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.params["target_max"] == "2.0"  # the trigger param reached Kedro
    assert mlflow_run.data.metrics["summary.y_max"] == 2.0  # logged by a later task
    assert mlflow_run.data.tags["mlflow.note.content"] == "retry test"

    (version,) = model_versions("tiny_scale")
    assert version.run_id == mlflow_run.info.run_id
    assert version.tags["airflow.run_id"] == run.run_id


def test_training_dag_tracks_one_run_and_registers_one_model(airflow_stack, tmp_path):
    settings, airflow = airflow_stack
    before = len(model_versions(MODEL))
    conf = {"model.hist_gradient_boosting.max_iter": 40, "split.test_size": 0.25,
            "run_note": "e2e"}
    run = airflow.run_dag("nyc_airbnb_training", conf, timeout=1200)

    tis = airflow.task_instances("nyc_airbnb_training", run.run_id)
    _assert_first_tries(airflow, "nyc_airbnb_training", run.run_id)

    # The warm task runtime: the executor worker had Kedro and the project imported before it
    # forked the task, and the task's log still holds Kedro's own plain lines.
    node_log = airflow.task_log("nyc_airbnb_training", run.run_id,
                                "training.fit_borough_encoder", 1)
    assert "Task runtime: warm (Kedro preloaded by the executor worker)" in node_log
    assert "INFO kedro.runner.sequential_runner: Completed 1 out of 1 tasks" in node_log
    kedro_lines = [line for line in node_log.splitlines() if " kedro." in line]
    assert kedro_lines and not any("\x1b[" in line for line in kedro_lines)  # not rich

    (mlflow_run,) = runs_of_dag_run("nyc_airbnb_training", run.run_id, "nyc_airbnb_training")
    assert mlflow_run.info.status == "FINISHED"
    # each node task timed its node function apart from its whole run
    node_tasks = [ti.task_id for ti in tis if ti.task_id.startswith(("training.",
                                                                      "data_processing."))]
    for task_id in node_tasks:
        whole = mlflow_run.data.metrics[f"task.{task_id}.seconds"]
        assert 0 < mlflow_run.data.metrics[f"task.{task_id}.node_seconds"] < whole
    params = mlflow_run.data.params
    assert params["model.hist_gradient_boosting.max_iter"] == "40"
    assert params["split.test_size"] == "0.25"
    metrics = mlflow_run.data.metrics
    # metrics from two different tasks landed in the same run
    assert {"test.mae", "test.rmse", "test.r2", "data.n_train", "data.n_test"} <= set(metrics)
    assert metrics["data.n_test"] / (metrics["data.n_train"] + metrics["data.n_test"]) == \
        pytest.approx(0.25, abs=0.01)
    assert 0 < metrics["test.mae"] < 200 and metrics["test.r2"] > 0.2

    import mlflow

    client = mlflow.MlflowClient()
    plots = {a.path for a in client.list_artifacts(mlflow_run.info.run_id, "plots")}
    assert plots == {"plots/predicted_vs_actual.png", "plots/residuals.png",
                     "plots/feature_importance.png"}

    versions = model_versions(MODEL)
    assert len(versions) == before + 1
    (version,) = [v for v in versions if v.run_id == mlflow_run.info.run_id]
    assert version.tags["airflow.dag_id"] == "nyc_airbnb_training"
    assert version.tags["git_commit"] == mlflow_run.data.tags["git_commit"]
    # whichever test registered it, the model's first version was made champion by the gate
    first = client.get_model_version(MODEL, "1")
    assert first.tags["promotion.decision"] == "first_champion"
    assert first.tags["promotion.champion_version"] == "none"
    assert first.description.startswith("First `@champion`: MAE ")
    assert client.get_run(first.run_id).data.tags["promotion.decision"] == "first_champion"
    if before == 0:
        assert client.get_model_version_by_alias(MODEL, "champion").version == version.version
    assert client.get_model_version_by_alias(MODEL, "challenger").version == version.version
    assert float(version.tags["promotion.challenger_mae"]) > 0

    # intermediate data lives under the DAG run's prefix in the bucket
    prefix = mlflow_run.data.tags["data_root"].removeprefix(f"s3://{settings.bucket}/")
    keys = {o["Key"] for o in s3_client(settings).list_objects_v2(
        Bucket=settings.bucket, Prefix=prefix)["Contents"]}
    for rel in ("05_model_input/train_listings.parquet", "06_models/price_model.pkl",
                "04_feature/test_features.parquet"):
        assert f"{prefix}/{rel}" in keys

    # the registered version loads in a fresh process and predicts held-out rows
    held_out = tmp_path / "held_out.parquet"
    import pandas as pd

    test_rows = pd.read_parquet(f"s3://{settings.bucket}/{prefix}/05_model_input/"
                                "test_listings.parquet",
                                storage_options={"client_kwargs": {
                                    "endpoint_url": settings.s3_endpoint_url}})
    # held-out listings as scoring receives them: raw rows of the test split
    raw = pd.read_csv(NYC / "data/01_raw/nyc_airbnb_2019_sample.csv")
    raw[raw["id"].isin(test_rows["id"])].head(50).to_parquet(held_out)
    script = (
        "import json, sys, mlflow, numpy as np, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{MODEL}/{version.version}')\n"
        f"rows = pd.read_parquet({str(held_out)!r})\n"
        "cols = m.metadata.get_input_schema().input_names()\n"
        "pred = m.predict(rows[cols])\n"
        "values = np.asarray(pred['predicted_price'] if hasattr(pred, 'columns') else pred)\n"
        "try:\n"
        "    m.predict(rows[cols].drop(columns=['room_type']))\n"
        "    missing = 'accepted'\n"
        "except Exception as e:\n"
        "    missing = str(e)\n"
        "print(json.dumps({'n': len(values), 'finite': bool(np.isfinite(values).all()),"
        " 'positive': bool((values > 0).all()), 'missing': missing}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == 50 and result["finite"] and result["positive"]
    assert "room_type" in result["missing"]


def test_an_unknown_param_fails_the_first_task_naming_it(airflow_stack):
    _, airflow = airflow_stack
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag("nyc_airbnb_training", {"model.no_such_knob": 3}, timeout=600)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.value.task_instances}
    assert states["start_mlflow_run"] == ("failed", 1)  # not retried: it cannot get better
    assert all(state != "success" for task, (state, _) in states.items())
    assert "model.no_such_knob" in str(failed.value)


def test_scoring_without_a_champion_fails_clearly_and_marks_the_run_failed(airflow_stack):
    _, airflow = airflow_stack
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag("nyc_airbnb_scoring", {"model_alias": "nobody"}, timeout=600)
    message = str(failed.value)
    assert "models:/nyc_airbnb_price@nobody" in message and "To get one" in message
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.value.task_instances}
    # the alias is resolved once, by the first task, which is not retried for it
    assert states["start_mlflow_run"] == ("failed", 1)
    assert states["check_batch"][0] == "upstream_failed"
    (mlflow_run,) = runs_of_dag_run("nyc_airbnb_scoring", failed.value.run.run_id,
                                    SCORING_EXPERIMENT)
    _wait_for_status(mlflow_run.info.run_id, "FAILED")


def _tries(airflow, dag_id: str, run_id: str, tis=None) -> dict[str, int]:
    """Try number of each task instance of the run (mapped copies: the highest)."""
    tries: dict[str, int] = {}
    for ti in tis if tis is not None else airflow.task_instances(dag_id, run_id):
        tries[ti.task_id] = max(tries.get(ti.task_id, 0), ti.try_number)
    return tries


def _assert_first_tries(airflow, dag_id: str, run_id: str) -> None:
    """Every task passed on its first try: the DAGs retry, and a retry would hide a failure
    (shown with the end of each failed try's log)."""
    tis = airflow.task_instances(dag_id, run_id)
    retried = [ti for ti in tis if ti.try_number > 1]
    assert tis and not retried, (
        f"{dag_id}/{run_id} retried: {_tries(airflow, dag_id, run_id, tis)}\n"
        + tries_logs(airflow, dag_id, run_id, [(ti.task_id, ti.map_index, 1) for ti in retried]))


def _wait_for_status(run_id: str, status: str, timeout: float = 60) -> None:
    """The DAG's failure callback runs in the dag-processor, shortly after the run fails."""
    import time

    import mlflow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mlflow.MlflowClient().get_run(run_id).info.status == status:
            return
        time.sleep(1)
    raise AssertionError(f"MLflow run {run_id} never became {status}")


# --------------------------------------------------------------------------- promotion gate

WORSE = {"model.hist_gradient_boosting.max_iter": 10,
         "model.hist_gradient_boosting.learning_rate": 0.01}
BETTER = {"model.hist_gradient_boosting.max_iter": 40}


def _train(airflow, conf, run_id: str | None = None, retried=()):
    """Trigger a training run and wait for it; see ``_tracked``."""
    run = airflow.run_dag("nyc_airbnb_training", conf, run_id=run_id, timeout=1200)
    return _tracked(airflow, run, retried)


def _tracked(airflow, run, retried=()):
    """A finished training run's MLflow run, its model version and the gate's task log.

    Every task passed on its first try, but those of ``retried`` on their second.
    """
    import mlflow

    (mlflow_run,) = runs_of_dag_run("nyc_airbnb_training", run.run_id, "nyc_airbnb_training")
    assert mlflow_run.info.status == "FINISHED"
    (version,) = [v for v in model_versions(MODEL) if v.run_id == mlflow_run.info.run_id]
    version = mlflow.MlflowClient().get_model_version(MODEL, version.version)  # fresh tags
    tries = _tries(airflow, "nyc_airbnb_training", run.run_id)
    assert tries == {task: 2 if task in retried else 1 for task in tries}, tries
    gate_log = airflow.task_log("nyc_airbnb_training", run.run_id, "evaluate_and_promote",
                                tries["evaluate_and_promote"])
    return mlflow_run, version, gate_log


def _instant(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp).timestamp()


def _alias(name: str) -> str:
    import mlflow

    return mlflow.MlflowClient().get_model_version_by_alias(MODEL, name).version


def _assert_recorded(mlflow_run, version, decision: str, champion_before: str) -> None:
    # the version: the decision as one sentence, and no more tags than the UI's column shows
    tags = version.tags
    assert {k for k in tags if k.startswith("promotion.")} == {
        "promotion.decision", "promotion.metric", "promotion.champion_version",
        "promotion.challenger_mae", "promotion.champion_mae", "promotion.holdout_key"}
    assert tags["promotion.decision"] == decision
    assert tags["promotion.metric"] == "mae"
    assert tags["promotion.champion_version"] == champion_before
    for key in ("promotion.challenger_mae", "promotion.champion_mae"):
        assert 0 < float(tags[key]) < 500
    assert f"champion v{champion_before}'s" in version.description
    assert "held-out rows of test_listings" in version.description
    # the training run: every detail
    run_tags = mlflow_run.data.tags
    assert run_tags["promotion.summary"] == version.description
    assert run_tags["promotion.model_version"] == version.version
    assert int(run_tags["promotion.holdout_rows"]) > 1000
    assert run_tags["promotion.reason"]
    assert {k: run_tags[k] for k in tags if k.startswith("promotion.")} == \
        {k: v for k, v in tags.items() if k.startswith("promotion.")}


def test_the_gate_keeps_a_better_champion_unless_forced(airflow_stack):
    """Worse challenger: the champion stays, the challenger moves; forced: the champion moves;
    two better challengers at once: the first to reach the gate is promoted, the second (its
    equal) is compared with it and kept out."""
    import mlflow

    settings, airflow = airflow_stack
    try:
        champion = _alias("champion")
    except mlflow.exceptions.MlflowException:  # this test alone: make a champion first
        _train(airflow, {**BETTER, "run_note": "first champion"})
        champion = _alias("champion")

    # 1. a clearly worse model: registered, challenger, but the champion stays
    run, worse, log = _train(airflow, {**WORSE, "run_note": "worse"})
    _assert_recorded(run, worse, "kept_champion", champion)
    assert float(worse.tags["promotion.challenger_mae"]) > \
        float(worse.tags["promotion.champion_mae"])
    assert _alias("champion") == champion
    assert _alias("challenger") == worse.version
    assert "kept_champion" in log and f"champion v{champion}" in log
    # the same environment, code and kinds of fitted objects: the pip requirements MLflow
    # inferred for the champion are reused, not inferred again
    assert worse.tags[KEY_TAG] == mlflow.MlflowClient().get_model_version(
        MODEL, champion).tags[KEY_TAG]
    register_log = airflow.task_log("nyc_airbnb_training", worse.tags["airflow.run_id"],
                                    "log_and_register_model", 1)
    assert "pip requirements: reused from nyc_airbnb_price v" in register_log
    requirements = [Path(mlflow.pyfunc.get_model_dependencies(f"models:/{MODEL}/{v}"))
                    .read_text() for v in (champion, worse.version)]
    assert requirements[0] == requirements[1] and "scikit-learn==" in requirements[0]

    # 2. the same worse model, forced from the trigger form: it becomes champion anyway. Each
    # task with a side effect fails once right after it (run created, version registered,
    # aliases moved): the retries find that effect instead of making it again
    run_id = "manual__forced_with_faults"
    with_effects = ("start_mlflow_run", "log_and_register_model", "evaluate_and_promote")
    faults = [arm(faults_dir(settings), "nyc_airbnb_training", run_id, task, "fail_after")
              for task in with_effects]
    run, forced, log = _train(airflow, {**WORSE, "force_promotion": True, "run_note": "forced"},
                              run_id=run_id, retried=with_effects)
    assert all(fired(f) for f in faults)
    # one MLflow run and one version (_train), decided once: a second decision would have
    # compared the version with itself as champion
    _assert_recorded(run, forced, "forced", champion)
    assert run.data.tags["promotion.forced"] == "true"
    assert _alias("champion") == forced.version == _alias("challenger")
    assert "already evaluated (a retry): re-applying 'forced'" in log
    # the champion Asset was updated once, by the try that succeeded
    events = airflow.request("GET", "/assets/events", params={
        "source_dag_id": "nyc_airbnb_training", "source_run_id": run_id}).json()
    assert events["total_entries"] == 1
    # force_promotion is a deployment param: it never reaches Kedro (nor the run's params)
    assert "force_promotion" not in run.data.params

    # the earlier decisions are still on their versions
    client = mlflow.MlflowClient()
    assert client.get_model_version(MODEL, worse.version).tags["promotion.decision"] == \
        "kept_champion"
    assert client.get_model_version(MODEL, forced.version).tags["promotion.decision"] == "forced"

    # 3. two trainings at once, the same better model (seeded: the same scores): both beat the
    # forced champion, but the gates run one at a time, so the second compares with the first's
    # result and keeps it. The champion moves once.
    pair = [airflow.trigger("nyc_airbnb_training", {**BETTER, "run_note": f"concurrent {i}"})
            for i in (1, 2)]
    pair = [airflow.wait_for_run("nyc_airbnb_training", r.run_id, timeout=1200) for r in pair]
    assert all(r.state == "success" for r in pair), [airflow.failure_report(r) for r in pair]
    assert max(_instant(r.start_date) for r in pair) < min(_instant(r.end_date) for r in pair)
    gates = sorted((ti for r in pair for ti in airflow.task_instances("nyc_airbnb_training",
                                                                     r.run_id)
                    if ti.task_id == "evaluate_and_promote"), key=lambda ti: ti.start_date)
    assert _instant(gates[0].end_date) <= _instant(gates[1].start_date)  # one at a time
    tracked = {r.run_id: _tracked(airflow, r) for r in pair}
    assert len({run.data.tags["data_root"] for run, _, _ in tracked.values()}) == 2
    (first_run, first, _), (second_run, second, second_log) = (tracked[ti.raw["dag_run_id"]]
                                                               for ti in gates)
    _assert_recorded(first_run, first, "promoted", forced.version)
    _assert_recorded(second_run, second, "kept_champion", first.version)
    assert second.tags["promotion.challenger_mae"] == second.tags["promotion.champion_mae"]
    # the same rows: the second gate takes the champion's score from the first gate's record
    # instead of downloading and scoring the champion again
    assert second.tags["promotion.holdout_key"] == first.tags["promotion.holdout_key"]
    assert f"Champion v{first.version} was scored on the same held-out rows" in second_log
    assert _alias("champion") == first.version
    assert _alias("challenger") == second.version


# --------------------------------------------------------------------------- batch scoring


def _partition_keys(settings, ds: str) -> list[str]:
    listing = s3_client(settings).list_objects_v2(Bucket=settings.bucket,
                                                  Prefix=f"predictions/ds={ds}/")
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _predictions(settings, ds: str):
    import pandas as pd

    return pd.read_parquet(f"s3://{settings.bucket}/predictions/ds={ds}/predictions.parquet",
                           storage_options=storage_options(settings))


def _ensure_champion(airflow) -> str:
    import mlflow

    try:
        return _alias("champion")
    except mlflow.exceptions.MlflowException:  # this test alone: make a champion first
        _train(airflow, {**BETTER, "run_note": "first champion"})
        return _alias("champion")


def _scoring_run(run_id: str):
    (mlflow_run,) = runs_of_dag_run(SCORING, run_id, SCORING_EXPERIMENT)
    return mlflow_run


def _wait_for_runs(airflow, dag_id: str, run_type: str, count: int, timeout: float = 900):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = airflow.runs(dag_id, run_type=run_type)
        if len(runs) >= count and all(r.state in ("success", "failed") for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"{dag_id}: {run_type} runs not all finished: "
                         f"{[(r.run_id, r.state) for r in airflow.runs(dag_id)]}")


def test_scoring_scores_dated_batches_on_its_schedule_and_in_a_backfill(airflow_stack):
    """The daily schedule's own run and a three-day backfill, the three days at once: one
    Parquet partition per day with that day's rows, the champion's version in every row, one
    MLflow run per DAG run in its own experiment, no intermediate data shared."""
    import mlflow.artifacts

    settings, airflow = airflow_stack
    champion = _ensure_champion(airflow)
    days = {"2026-11-02": (300, 2), "2026-11-03": (120, 1), "2026-11-04": (170, 1)}  # rows, files
    for i, (ds, (rows, files)) in enumerate(days.items()):
        write_batch(settings, ds, rows, seed=20 + i, files=files)

    airflow.wait_for_dag(SCORING)
    airflow.unpause(SCORING)
    backfill = airflow.backfill(SCORING, "2026-11-02T00:00:00+00:00",
                                "2026-11-04T00:00:00+00:00", max_active_runs=3)
    backfilled = airflow.wait_for_backfill(backfill, timeout=900)
    assert len(backfilled) == 3
    # the three days ran at once: each started before any of them ended
    assert max(_instant(r.start_date) for r in backfilled) < \
        min(_instant(r.end_date) for r in backfilled), [(r.start_date, r.end_date)
                                                         for r in backfilled]
    scheduled = _wait_for_runs(airflow, SCORING, "scheduled", 1)

    # the day the scheduler chose when the DAG was unpaused (yesterday then), read once
    (scheduled_day,) = {r.raw["data_interval_start"][:10] for r in scheduled}
    expected = {**{ds: rows for ds, (rows, _) in days.items()}, scheduled_day: SCHEDULED_ROWS}
    runs = {r.raw["data_interval_start"][:10]: r for r in [*backfilled, *scheduled]}
    assert set(runs) == set(expected)
    for ds, rows in expected.items():
        run = runs[ds]
        assert run.state == "success", airflow.failure_report(run)
        _assert_first_tries(airflow, SCORING, run.run_id)
        assert _partition_keys(settings, ds) == [f"predictions/ds={ds}/predictions.parquet"]
        scored = _predictions(settings, ds)
        mlflow_run = _scoring_run(run.run_id)
        assert len(scored) == rows and scored["id"].is_unique
        assert list(scored.columns) == ["id", "predicted_price", "model_name", "model_version",
                                        "scoring_run_id"]
        # the version the alias pointed at when the run started (the scheduled run started on
        # unpause, possibly before other tests moved the alias): in every row and on the run
        version = mlflow_run.data.tags["model.version"]
        if ds in days:  # backfilled now
            assert version == champion
        assert set(scored["model_version"]) == {version}
        assert set(scored["scoring_run_id"]) == {mlflow_run.info.run_id}
        assert (scored["predicted_price"] > 0).all()

        assert mlflow_run.info.status == "FINISHED"
        assert mlflow_run.data.tags["model.alias"] == "champion"
        assert mlflow_run.data.tags["runtime.batch_date"] == ds
        metrics = mlflow_run.data.metrics
        assert metrics["batch.rows_in"] == metrics["batch.rows_scored"] == rows
        assert metrics["batch.rows_rejected"] == 0
        assert metrics["model.version"] == float(version)
        assert 0 <= metrics["drift.psi_max"] < 0.25  # fresh batches drawn like the training data
        assert metrics["prediction.p05"] < metrics["prediction.p50"] < metrics["prediction.p95"]
        assert metrics["task.score_batch.peak_rss_mb"] > 0
        # the run's own drift report: the days ran at once, each wrote and uploaded its own
        report = mlflow.artifacts.load_text(
            f"runs:/{mlflow_run.info.run_id}/drift/drift_report.html")
        assert f": {rows} rows</h1>" in report, report[:400]
    data_roots = [_scoring_run(run.run_id).data.tags["data_root"] for run in runs.values()]
    assert len(set(data_roots)) == len(runs)  # no two runs share intermediate data

    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(
        _scoring_run(runs["2026-11-02"].run_id).info.run_id, "drift")}
    assert artifacts == {"drift/drift_report.png", "drift/drift_report.html"}
    # score_batch fanned out (dynamic task mapping): one task per part, joined by publish
    tis = airflow.task_instances(SCORING, runs["2026-11-02"].run_id)
    assert sorted(ti.map_index for ti in tis if ti.task_id == "score_batch") == [0, 1]

    # lineage of a backfilled day: both runs link to their Airflow DAG runs, the training run
    # carries the hash of the file it was trained on
    from kedro_mlops.local.cli.lineage import lineage

    (chain,) = lineage(f"s3://{settings.bucket}", "2026-11-02")["chains"]
    scoring, training = chain["scoring_run"], chain["training_run"]
    assert scoring["airflow"] == {
        "dag_id": SCORING, "run_id": runs["2026-11-02"].run_id,
        "url": f"{settings.airflow_url}/dags/{SCORING}/runs/{runs['2026-11-02'].run_id}"}
    assert chain["model"]["version"] == champion
    assert chain["model"]["alias_when_scored"] == "champion"
    assert training["airflow"]["dag_id"] == "nyc_airbnb_training"
    assert training["airflow"]["url"].startswith(f"{settings.airflow_url}/dags/"
                                                 "nyc_airbnb_training/runs/")
    raw = NYC / "data/01_raw/nyc_airbnb_2019_sample.csv"
    import hashlib

    assert training["inputs"]["raw_listings"]["sha256"] == \
        hashlib.sha256(raw.read_bytes()).hexdigest()
    assert runs["2026-11-02"].raw["run_type"] == "backfill"
    assert runs[scheduled_day].raw["run_type"] == "scheduled"


def test_rescoring_a_day_replaces_its_partition(airflow_stack):
    settings, airflow = airflow_stack
    _ensure_champion(airflow)
    ds = "2026-11-05"
    write_batch(settings, ds, 90, seed=5)
    first = airflow.run_dag(SCORING, {"batch_date": ds}, timeout=600)
    before = _predictions(settings, ds)
    second = airflow.run_dag(SCORING, {"batch_date": ds}, timeout=600)
    after = _predictions(settings, ds)
    for run in (first, second):
        _assert_first_tries(airflow, SCORING, run.run_id)

    assert _partition_keys(settings, ds) == [f"predictions/ds={ds}/predictions.parquet"]
    assert len(after) == len(before) == 90
    assert after["id"].tolist() == before["id"].tolist()
    assert after["predicted_price"].tolist() == before["predicted_price"].tolist()
    assert set(before["scoring_run_id"]) == {_scoring_run(first.run_id).info.run_id}
    assert set(after["scoring_run_id"]) == {_scoring_run(second.run_id).info.run_id}


def test_a_bad_batch_fails_its_check_naming_the_column_and_writes_nothing(airflow_stack):
    settings, airflow = airflow_stack
    _ensure_champion(airflow)
    ds = "2026-11-07"

    def break_rows(batch):
        batch = batch.copy()
        batch.loc[batch.index[[3, 40]], "room_type"] = "Castle"  # not an allowed room type
        return batch.drop(columns=["host_name"]).assign(coupon_code="X1")  # and an extra column

    write_batch(settings, ds, 60, seed=7, mutate=break_rows)
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag(SCORING, {"batch_date": ds}, timeout=600)
    message = str(failed.value)
    assert "column 'coupon_code': unexpected column" in message
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.value.task_instances}
    assert states["check_batch"] == ("failed", 1)  # bad data is not retried
    assert states["score_batch"][0] == "upstream_failed"
    assert _partition_keys(settings, ds) == []
    mlflow_run = _scoring_run(failed.value.run.run_id)
    _wait_for_status(mlflow_run.info.run_id, "FAILED")

    # the extra column removed, the bad room types remain: named with their count
    write_batch(settings, ds, 60, seed=7,
                 mutate=lambda b: break_rows(b).drop(columns=["coupon_code"]))
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag(SCORING, {"batch_date": ds}, timeout=600)
    assert "column 'room_type': isin(" in str(failed.value)
    assert "2 failing value(s), e.g. 'Castle'" in str(failed.value)
    assert _partition_keys(settings, ds) == []
    import mlflow

    metrics = mlflow.MlflowClient().get_run(
        _scoring_run(failed.value.run.run_id).info.run_id).data.metrics
    assert metrics["batch.rows_in"] == 60 and metrics["batch.rows_rejected"] == 2


def test_a_late_day_is_waited_for_without_a_worker_slot_then_scored(airflow_stack):
    settings, airflow = airflow_stack
    _ensure_champion(airflow)
    ds = "2026-11-09"
    airflow.wait_for_dag(SCORING)
    airflow.unpause(SCORING)
    run = airflow.trigger(SCORING, {"batch_date": ds})

    def wait_state():
        states = {ti.task_id: ti.state for ti in airflow.task_instances(SCORING, run.run_id)}
        return states.get("wait_for_files")

    import time

    deadline = time.monotonic() + 300
    while wait_state() != "deferred":  # handed to the triggerer: no worker slot held
        assert time.monotonic() < deadline, f"wait_for_files never deferred: {wait_state()}"
        assert wait_state() not in ("success", "failed"), "ran without the day's files"
        time.sleep(1)
    write_batch(settings, ds, 80, seed=9)  # the upstream job delivers, late

    done = airflow.wait_for_run(SCORING, run.run_id, timeout=600)
    assert done.state == "success"
    _assert_first_tries(airflow, SCORING, run.run_id)
    scored = _predictions(settings, ds)
    assert len(scored) == 80 and scored["id"].is_unique
    log = airflow.task_log(SCORING, run.run_id, "wait_for_files", 1)
    assert f"No file under s3://{settings.bucket}/incoming/ds={ds}/ yet" in log
    assert f"1 file(s) under s3://{settings.bucket}/incoming/ds={ds}/" in log


def test_a_day_that_never_arrives_fails_naming_its_folder(airflow_stack):
    settings, airflow = airflow_stack
    _ensure_champion(airflow)
    ds = "2026-11-11"
    with pytest.raises(DagRunFailed) as failed:
        airflow.run_dag(SCORING, {"batch_date": ds}, timeout=600)
    message = str(failed.value)
    assert (f"No input file arrived under s3://{settings.bucket}/incoming/ds={ds}/ within "
            f"{FILE_WAIT_SECONDS} s") in message
    states = {ti.task_id: (ti.state, ti.try_number) for ti in failed.value.task_instances}
    assert states["wait_for_files"] == ("failed", 1)  # waiting again would not make files
    assert states["check_batch"][0] == "upstream_failed"
    assert _partition_keys(settings, ds) == []
    _wait_for_status(_scoring_run(failed.value.run.run_id).info.run_id, "FAILED")
