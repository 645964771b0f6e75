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

from kedro_mlops.local.stack.s3 import s3_client

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).parents[2] / "kedro_project"
RAW = PROJECT / "data/01_raw/nyc_airbnb_2019_sample.csv"
EXPERIMENT = "nyc_airbnb_training"
MODEL = "nyc_airbnb_price"


def kedro_run(stack, *args: str, **params: str) -> subprocess.CompletedProcess:
    param_arg = ",".join(f"{k}={v}" for k, v in params.items())
    # Kedro prints the error through rich, wrapped at the terminal's width even inside a word:
    # a wide terminal keeps each problem line whole for the assertions
    env = {**os.environ, **stack.env(), "COLUMNS": "1000"}
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


def _set(column: str, rows: list[int], value):
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: "object"})
        frame.loc[rows, column] = value
        return frame

    return mutate


#: case: (how the rows are changed, or the file's bytes; the problem line a training run prints;
#: the one a scoring run prints; for scoring, another change where the rule differs: price is
#: optional in a batch, which has no price column)
BAD_INPUTS = {
    "missing_column": (
        lambda frame: frame.drop(columns=["room_type"]),
        "column 'room_type': required column is missing",
        "column 'room_type': required by the model signature, missing (file file://{file})",
    ),
    "wrong_dtype": (
        lambda frame: frame.assign(minimum_nights="three"),
        ("column 'minimum_nights': wrong dtype, cannot convert to int64 (3000 failing value(s), "
        "e.g. 'three')"),
        ("column 'minimum_nights': wrong dtype, cannot convert to int64 (3000 failing value(s), "
        "e.g. 'three') in file(s) file://{file}"),
    ),
    "header_only": (
        lambda frame: frame.head(0),
        "table: has at least 1000 row(s) (got 0)",
        "table: the batch is empty: no data rows in 1 file(s)",
    ),
    "zero_bytes": (
        b"",
        ("table: file {file} is empty (0 bytes): no header and no rows; deliver the complete "
        "file again"),
        "table: the batch is empty: no data rows in 1 file(s)",
    ),
    "unseen_borough": (
        _set("neighbourhood_group", [5], "Atlantis"),
        ("column 'neighbourhood_group': isin(['Bronx', 'Brooklyn', 'Manhattan', 'Queens', "
        "'Staten Island']) (1 failing value(s), e.g. 'Atlantis')"),
        ("column 'neighbourhood_group': isin(['Bronx', 'Brooklyn', 'Manhattan', 'Queens', "
        "'Staten Island']) (1 failing value(s), e.g. 'Atlantis') in file(s) file://{file}"),
    ),
    "nan_prices_or_ids": (  # price is optional in a scoring batch: a missing id is the analogue
        _set("price", [1, 2, 3], None),
        "column 'price': null values are not allowed (3 failing value(s))",
        "column 'id': null values are not allowed (2 failing value(s)) in file(s) file://{file}",
        _set("id", [1, 2], None),
    ),
}


def _write_bad(case: str, path: Path, *, with_price: bool) -> None:
    change = BAD_INPUTS[case][0] if with_price else (BAD_INPUTS[case][3:] or BAD_INPUTS[case])[0]
    if isinstance(change, bytes):
        path.write_bytes(change)
        return
    frame = change(pd.read_csv(RAW).head(3000))
    if not with_price:
        frame = frame.drop(columns=["price"])
    frame.to_csv(path, index=False)


def _printed(stderr: str) -> str:
    """The run's output on one line: the terminal may wrap a long message."""
    return " ".join(stderr.split())


def _only_failed_run(mlflow_client, experiment: str, run_name: str):
    """The one MLflow run of this name: kedro-mlflow opened it, the error closed it FAILED."""
    exp = mlflow_client.get_experiment_by_name(experiment)
    runs = mlflow_client.search_runs([exp.experiment_id],
                                     filter_string=f"attributes.run_name = '{run_name}'")
    assert [r.info.status for r in runs] == ["FAILED"], f"one FAILED run named {run_name}"
    (run,) = runs
    assert not mlflow_client.search_logged_models(
        [exp.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'")
    return run


#: the bad runs, as `kedro run` makes them (KedroSession.create(runtime_params=...).run()), all
#: in one Python process: a process per run would spend most of its time importing
SESSION_RUNS = r'''
import json, sys
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, runs = sys.argv[1], json.loads(sys.argv[2])
bootstrap_project(project)
errors = {}
for name, (pipeline, params) in runs.items():
    try:
        with KedroSession.create(project_path=project, runtime_params=params) as session:
            session.run(pipeline_names=[pipeline])
        errors[name] = None
    except Exception as error:
        errors[name] = str(error)
print("ERRORS " + json.dumps(errors))
'''


@pytest.fixture(scope="module")
def bad_runs(stack, trained, mlflow_client, tmp_path_factory) -> dict[str, tuple[str, Path]]:
    """Every bad input of BAD_INPUTS as a training file and as a scoring batch, each run once:
    ``{run name: (the error that stopped it, its folder)}``."""
    run, _ = trained
    _champion(mlflow_client, run)
    runs, folders = {}, {}
    for case in BAD_INPUTS:
        for kind in ("training", "scoring"):
            name = f"bad_{case}" if kind == "training" else f"bad_scoring_{case}"
            folder = folders[name] = tmp_path_factory.mktemp(name)
            bad = folder / f"{case}.csv"
            _write_bad(case, bad, with_price=kind == "training")
            params = {"run_name": name, "data_root": str(folder / "data")}
            if kind == "training":
                runs[name] = ("__default__", {**params, "raw_listings_path": str(bad)})
            else:
                runs[name] = ("scoring", {**params, "scoring_input_path": str(bad),
                                          "lake_root": str(folder / "lake"),
                                          "mlflow_experiment": "nyc_airbnb_scoring"})
    result = subprocess.run([sys.executable, "-c", SESSION_RUNS, str(PROJECT), json.dumps(runs)],
                            cwd=PROJECT, env={**os.environ, **stack.env()}, capture_output=True,
                            text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("ERRORS ")]
    errors = json.loads(line.removeprefix("ERRORS "))
    return {name: (errors[name], folders[name]) for name in runs}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_training_input_fails_clearly_with_no_model(mlflow_client, bad_runs, case):
    error, folder = bad_runs[f"bad_{case}"]
    assert error, "the run did not fail"
    assert "Data validation failed for 'raw_listings' (1 problem(s)):" in error, error
    assert BAD_INPUTS[case][1].format(file=folder / f"{case}.csv") in " ".join(error.split())
    _only_failed_run(mlflow_client, EXPERIMENT, f"bad_{case}")
    assert not (folder / "data").exists(), "nothing written, not even the validated rows"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_scoring_batch_fails_clearly_and_writes_nothing(mlflow_client, bad_runs, case):
    error, folder = bad_runs[f"bad_scoring_{case}"]
    assert error, "the run did not fail"
    assert "Data validation failed for 'scoring_batch' (1 problem(s)):" in error, error
    assert BAD_INPUTS[case][2].format(file=folder / f"{case}.csv") in " ".join(error.split())
    _only_failed_run(mlflow_client, "nyc_airbnb_scoring", f"bad_scoring_{case}")
    assert not (folder / "lake").exists(), "no partial output"
    assert not (folder / "data/08_reporting/batch_check.json").exists()


def test_kedro_run_prints_the_problem_and_the_file(stack, mlflow_client, tmp_path):
    """What a user at a terminal sees: `kedro run` itself, one bad file."""
    bad = tmp_path / "missing_column.csv"
    _write_bad("missing_column", bad, with_price=True)
    result = kedro_run(stack, run_name="bad_cli_missing_column", raw_listings_path=str(bad),
                       data_root=str(tmp_path / "data"))
    assert result.returncode != 0
    printed = _printed(result.stderr)
    assert "Data validation failed for 'raw_listings' (1 problem(s)):" in printed
    assert BAD_INPUTS["missing_column"][1] in printed, result.stderr[-3000:]
    _only_failed_run(mlflow_client, EXPERIMENT, "bad_cli_missing_column")


def test_scoring_with_an_alias_nobody_holds_fails_naming_it(stack, trained, mlflow_client,
                                                            tmp_path):
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    lake = tmp_path / "lake"
    write_batch(generate_batch(load_source(), 50, seed=5), str(lake), "2026-10-02")
    result = kedro_run(stack, "--pipelines", "scoring", batch_date="2026-10-02",
                       model_alias="nope", lake_root=str(lake), data_root=str(tmp_path / "data"),
                       mlflow_experiment="nyc_airbnb_scoring", run_name="bad_alias")
    assert result.returncode != 0
    printed = _printed(result.stderr)
    assert "Cannot resolve 'models:/nyc_airbnb_price@nope' (alias 'nope')" in printed
    assert "To get one: train" in printed
    _only_failed_run(mlflow_client, "nyc_airbnb_scoring", "bad_alias")
    assert not (lake / "predictions").exists()


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
