"""A plain `kedro run` of the project tracked by the real MLflow server (PostgreSQL + S3).

What the foundation promises without Airflow: the PipelineML logs the whole inference pipeline
as one model, the run lives in PostgreSQL and its artifacts in the bucket, the registered version
loads in a fresh process, and bad input stops a run with a clear message and nothing half-made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from kedro_mlops.stack.s3 import s3_client

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parents[2] / "kedro_project"
RAW = PROJECT / "data/01_raw/nyc_airbnb_2019_sample.csv"
EXPERIMENT = "nyc_airbnb_training"
MODEL = "nyc_airbnb_price"


def kedro_run(stack, *args: str, **params: str) -> subprocess.CompletedProcess:
    param_arg = ",".join(f"{k}={v}" for k, v in params.items())
    env = {**os.environ, **stack.env()}
    command = [sys.executable, "-m", "kedro", "run", *args]
    if param_arg:
        command += ["--params", param_arg]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def trained(stack, mlflow_client, tmp_path_factory):
    data_root = tmp_path_factory.mktemp("kedro-data")
    result = kedro_run(stack, run_name="e2e_train", data_root=str(data_root))
    assert result.returncode == 0, result.stderr[-4000:]
    exp = mlflow_client.get_experiment_by_name(EXPERIMENT)
    (run,) = mlflow_client.search_runs([exp.experiment_id],
                                       filter_string="attributes.run_name = 'e2e_train'")
    return run, data_root


def test_the_run_is_stored_in_postgresql_with_its_metrics(stack, trained):
    run, _ = trained
    assert run.info.status == "FINISHED"
    assert {"test.mae", "test.rmse", "test.r2"} <= set(run.data.metrics)
    assert run.data.tags.get("git_commit"), "every run is tagged with the git commit"
    with psycopg2.connect(stack.database_url(stack.mlflow_db)) as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cur.fetchone() == ("FINISHED",)
        cur.execute("SELECT key FROM metrics WHERE run_uuid = %s", (run.info.run_id,))
        assert "test.mae" in {row[0] for row in cur.fetchall()}


def test_model_and_plots_are_objects_in_the_bucket(stack, trained, mlflow_client):
    run, _ = trained
    objects = s3_client(stack).list_objects_v2(Bucket=stack.bucket,
                                               Prefix="mlflow-artifacts/")["Contents"]
    keys = [o["Key"] for o in objects]
    for plot in ("predicted_vs_actual.png", "residuals.png", "feature_importance.png"):
        assert any(k.endswith(f"{run.info.run_id}/artifacts/plots/{plot}") for k in keys)
    (model,) = mlflow_client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    model_keys = [k for k in keys if model.model_id in k]
    assert any(k.endswith("MLmodel") for k in model_keys)
    assert any(k.endswith("price_model.pkl") for k in model_keys)  # a fitted object


def test_registered_version_predicts_in_a_fresh_process(stack, trained, mlflow_client,
                                                        tmp_path):
    import mlflow

    run, data_root = trained
    (model,) = mlflow_client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    version = mlflow.register_model(model.model_uri, MODEL)
    held_out_ids = pd.read_parquet(data_root / "05_model_input/test_listings.parquet")["id"]
    raw = pd.read_csv(RAW)
    raw[raw["id"].isin(held_out_ids)].head(100).to_parquet(tmp_path / "rows.parquet")
    script = (
        "import json, mlflow, numpy as np, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{MODEL}/{version.version}')\n"
        "rows = pd.read_parquet('rows.parquet')\n"
        "cols = m.metadata.get_input_schema().input_names()\n"
        "pred = m.predict(rows[cols])['predicted_price'].to_numpy()\n"
        "try:\n"
        "    m.predict(rows[cols].drop(columns=['neighbourhood_group']))\n"
        "    missing = 'accepted'\n"
        "except Exception as e:\n"
        "    missing = str(e)\n"
        "print(json.dumps({'n': len(pred), 'finite': bool(np.isfinite(pred).all()),"
        " 'missing': missing}))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": stack.mlflow_tracking_uri}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"n": 100, "finite": True, "missing": result["missing"]}
    assert "neighbourhood_group" in result["missing"]


def _bad_frames():
    raw = pd.read_csv(RAW).head(3000)
    unseen = raw.copy()
    unseen.loc[5, "neighbourhood_group"] = "Atlantis"
    nan_prices = raw.copy()
    nan_prices.loc[[1, 2, 3], "price"] = float("nan")
    wrong_dtype = raw.copy()
    wrong_dtype["minimum_nights"] = "three"
    return {
        "missing_column": (raw.drop(columns=["room_type"]), "room_type"),
        "wrong_dtype": (wrong_dtype, "minimum_nights"),
        "empty_file": (raw.head(0), "raw_listings"),
        "unseen_borough": (unseen, "Atlantis"),
        "nan_prices": (nan_prices, "price"),
    }


@pytest.mark.parametrize("case", sorted(_bad_frames()))
def test_bad_training_input_fails_clearly_with_no_model(stack, mlflow_client, tmp_path, case):
    frame, named = _bad_frames()[case]
    bad = tmp_path / f"{case}.csv"
    frame.to_csv(bad, index=False)
    run_name = f"bad_{case}"
    result = kedro_run(stack, run_name=run_name, raw_listings_path=str(bad),
                       data_root=str(tmp_path / "data"))
    assert result.returncode != 0
    assert "DataValidationError" in result.stderr and named in result.stderr
    exp = mlflow_client.get_experiment_by_name(EXPERIMENT)
    for run in mlflow_client.search_runs([exp.experiment_id],
                                         filter_string=f"attributes.run_name = '{run_name}'"):
        assert run.info.status != "FINISHED"
        assert not mlflow_client.search_logged_models(
            [exp.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    assert not (tmp_path / "data/06_models").exists(), "training never started"


@pytest.mark.parametrize("case", sorted(_bad_frames()))
def test_bad_scoring_batch_fails_clearly_and_writes_nothing(stack, trained, mlflow_client,
                                                            tmp_path, case):
    run, _ = trained
    _champion(mlflow_client, run)
    frame, named = _bad_frames()[case]
    named = named.replace("raw_listings", "scoring_batch")
    if case == "nan_prices":  # price is optional in a scoring batch: a NaN id is the analogue
        frame = frame.astype({"id": "float"})
        frame.loc[[1, 2], "id"] = float("nan")
        named = "id"
    batch = tmp_path / f"{case}.csv"
    frame.drop(columns=["price"]).to_csv(batch, index=False)
    result = kedro_run(stack, "--pipelines", "scoring", scoring_input_path=str(batch),
                       data_root=str(tmp_path / "data"), lake_root=str(tmp_path / "lake"),
                       mlflow_experiment="nyc_airbnb_scoring")
    assert result.returncode != 0
    assert named in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "lake").exists(), "no partial output"


def _champion(mlflow_client, run) -> str:
    versions = mlflow_client.search_model_versions(f"name='{MODEL}' and run_id='{run.info.run_id}'")
    if not versions:  # the registration test did not run first (-k selection)
        import mlflow

        (model,) = mlflow_client.search_logged_models(
            [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
        versions = [mlflow.register_model(model.model_uri, MODEL)]
    mlflow_client.set_registered_model_alias(MODEL, "champion", versions[0].version)
    return str(versions[0].version)


def test_scoring_a_dated_batch_from_the_cli(stack, trained, mlflow_client, tmp_path):
    """`kedro run --pipeline scoring` without Airflow: kedro-mlflow opens the run, the day's
    files are scored into one Parquet file, and the run holds the figures and the drift report."""
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    run, _ = trained
    version = _champion(mlflow_client, run)
    lake = tmp_path / "lake"
    write_batch(generate_batch(load_source(), 700, seed=3), str(lake), "2026-10-01", n_files=3)
    result = kedro_run(stack, "--pipelines", "scoring", batch_date="2026-10-01",
                       lake_root=str(lake), data_root=str(tmp_path / "data"),
                       mlflow_experiment="nyc_airbnb_scoring", run_name="e2e_cli_scoring")
    assert result.returncode == 0, result.stderr[-4000:]

    (partition,) = (lake / "predictions").iterdir()
    assert partition.name == "ds=2026-10-01"
    assert [p.name for p in partition.iterdir()] == ["predictions.parquet"]
    scored = pd.read_parquet(partition / "predictions.parquet")
    exp = mlflow_client.get_experiment_by_name("nyc_airbnb_scoring")
    (scoring,) = mlflow_client.search_runs(
        [exp.experiment_id], filter_string="attributes.run_name = 'e2e_cli_scoring'")
    assert len(scored) == 700 and set(scored["model_version"]) == {version}
    assert set(scored["scoring_run_id"]) == {scoring.info.run_id}
    metrics = scoring.data.metrics
    assert metrics["batch.rows_in"] == metrics["batch.rows_scored"] == 700
    assert metrics["batch.files"] == 3
    assert "drift.psi.room_type" in metrics
    artifacts = {a.path for a in mlflow_client.list_artifacts(scoring.info.run_id, "drift")}
    assert artifacts == {"drift/drift_report.png", "drift/drift_report.html"}
