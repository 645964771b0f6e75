"""Lineage and run comparison on runs this module makes, and the reproducibility of training.

Two `kedro run`s of the training pipeline with the same data and seed, both registered and put
through the real promotion gate (the first forced to champion, the second compared with it on the
same held-out rows), then a `kedro run` of the scoring pipeline for one day. The commands are run
as the installed console scripts, against the stack's MLflow server and a local lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .gate import champion_version, register_and_gate
from .test_kedro_tracking import EXPERIMENT, MODEL, RAW, kedro_run

pytestmark = pytest.mark.e2e

DAY = "2026-10-02"
BIN = Path(sys.executable).parent


def _train(stack, mlflow_client, runs_root: Path, name: str):
    # fewer boosting iterations than the default: reproducibility does not depend on them
    result = kedro_run(stack, run_name=name, data_root=str(runs_root / "e2e_lineage" / name),
                       **{"model.hist_gradient_boosting.max_iter": "40"})
    assert result.returncode == 0, result.stderr[-4000:]
    exp = mlflow_client.get_experiment_by_name(EXPERIMENT)
    (run,) = mlflow_client.search_runs([exp.experiment_id],
                                       filter_string=f"attributes.run_name = '{name}'")
    return run


@pytest.fixture(scope="module")
def history(stack, mlflow_client, tmp_path_factory):
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    root = tmp_path_factory.mktemp("lineage")
    runs_root, lake = root / "runs", root / "lake"
    # another module of the session may have made a champion already: forced then, else first
    champion_before = champion_version(mlflow_client)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_RUNS_ROOT", str(runs_root))
        mp.setenv("MLOPS_LAKE_ROOT", str(lake))
        first = _train(stack, mlflow_client, runs_root, "lineage_first")
        second = _train(stack, mlflow_client, runs_root, "lineage_second")
        first_version = register_and_gate(mlflow_client, first, runs_root, "e2e_lineage",
                                          force=True)
        second_version = register_and_gate(mlflow_client, second, runs_root, "e2e_lineage",
                                           force=False)
    write_batch(generate_batch(load_source(), 700, seed=5), str(lake), DAY, n_files=2)
    scored = kedro_run(stack, "--pipelines", "scoring", batch_date=DAY, lake_root=str(lake),
                       data_root=str(root / "scoring"), mlflow_experiment="nyc_airbnb_scoring",
                       run_name="lineage_scoring")
    assert scored.returncode == 0, scored.stderr[-4000:]
    return {
        "first": mlflow_client.get_run(first.info.run_id),
        "second": mlflow_client.get_run(second.info.run_id),
        "first_version": first_version, "second_version": second_version,
        "first_gate": "Forced to `@champion` (force_promotion=true): MAE " if champion_before
        else "First `@champion`: MAE ",
        "lake": lake, "dir": root,
        "partition": pd.read_parquet(lake / "predictions" / f"ds={DAY}" / "predictions.parquet"),
    }


def command(stack, name: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **stack.env()}
    return subprocess.run([str(BIN / name), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


def test_training_twice_with_the_same_data_and_seed_gives_the_same_metrics(history,
                                                                            mlflow_client):
    """Exactly equal, no tolerance: every random step is seeded in the parameters (the split,
    the regressor's random_state, the evaluation's permutation importance) and the data is the
    same file (same sha256), so any difference would be nondeterminism worth knowing about."""
    first, second = history["first"].data.metrics, history["second"].data.metrics
    assert {"test.mae", "test.rmse", "test.r2", "data.n_train", "data.n_test"} <= set(first)
    assert first == second
    # the gate scored both versions on the same held-out rows: an exact tie keeps the champion
    version = mlflow_client.get_model_version(MODEL, history["second_version"])
    assert version.tags["promotion.decision"] == "kept_champion"
    assert version.tags["promotion.challenger_mae"] == version.tags["promotion.champion_mae"]
    assert "a tie" in version.description
    # and both runs hashed the same training file
    assert history["first"].data.tags["input.raw_listings.sha256"] == \
        history["second"].data.tags["input.raw_listings.sha256"]


def test_lineage_of_a_partition(stack, history):
    result = command(stack, "kedro-mlops-lineage", DAY, "--lake-root", str(history["lake"]),
                     "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    chain = json.loads(result.stdout)
    assert chain["partition"]["rows"] == 700
    (link,) = chain["chains"]
    scoring, model, training = link["scoring_run"], link["model"], link["training_run"]
    partition = history["partition"]
    assert {scoring["run_id"]} == set(partition["scoring_run_id"])
    assert scoring["experiment"] == "nyc_airbnb_scoring" and scoring["status"] == "FINISHED"
    assert scoring["metrics"]["batch.rows_scored"] == 700
    first = history["first"]
    assert model["version"] == history["first_version"] == partition["model_version"].iloc[0]
    assert model["alias_when_scored"] == "champion"
    assert model["aliases_now"] == ["champion"]
    assert model["gate"].startswith(history["first_gate"])
    assert "held-out rows of test_listings" in model["gate"]
    assert training["run_id"] == model["training_run_id"] == first.info.run_id
    assert training["git_commit"] == first.data.tags["git_commit"]
    assert training["params"] == dict(sorted(first.data.params.items()))
    assert training["metrics"]["test.mae"] == first.data.metrics["test.mae"]
    raw = training["inputs"]["raw_listings"]
    assert raw["sha256"] == hashlib.sha256(RAW.read_bytes()).hexdigest()
    assert raw["path"].endswith("data/01_raw/nyc_airbnb_2019_sample.csv")
    assert "price_reference" in training["inputs"]
    # a plain `kedro run` has no Airflow DAG run: said, not left blank
    assert scoring["airflow"] is None and training["airflow"] is None


def test_lineage_as_text_for_one_listing(stack, history):
    row = history["partition"].iloc[123]
    result = command(stack, "kedro-mlops-lineage", DAY, "--id", str(row["id"]), "--lake-root",
                     str(history["lake"]))
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    assert f"Listing        {row['id']}: predicted_price {row['predicted_price']:.2f}" in text
    assert f"<- Scoring run {row['scoring_run_id']}" in text
    assert f"<- Model       {MODEL} v{history['first_version']}" in text
    assert "@champion pointed at it when scored" in text
    assert f"<- Training run {history['first'].info.run_id}" in text
    assert "Airflow      not recorded: the run was not started by Airflow" in text
    assert "test.mae=" in text


@pytest.mark.parametrize(("args", "message"), [
    (["2026-01-05"], f"no scoring run wrote partition 2026-01-05; partitions with runs: {DAY} "),
    ([DAY, "--id", "1"], f"listing 1 is not in partition {DAY}"),
    (["yesterday"], "the date must be YYYY-MM-DD"),
    ([DAY, "--id", "x"], "a listing id is an integer"),
])
def test_lineage_user_errors(stack, history, args, message):
    result = command(stack, "kedro-mlops-lineage", *args, "--lake-root", str(history["lake"]))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_runs_side_by_side_in_the_terminal_markdown_and_html(stack, history, tmp_path):
    first, second = history["first"], history["second"]
    result = command(stack, "kedro-mlops-runs", "-n", "2", "--output", "runs.md", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["lineage_second", "lineage_first"]  # newest first
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip()}
    assert rows["run"] == ["id", second.info.run_id, first.info.run_id]
    first_decision = "forced" if history["first_gate"].startswith("Forced") else "first_champion"
    assert rows["gate"] == ["decision", "kept_champion", first_decision]
    assert rows["model"] == ["version", MODEL, f"v{history['second_version']}", MODEL,
                             f"v{history['first_version']}"]
    mae = f"{first.data.metrics['test.mae']:.6g}"
    assert rows["metrics.test.mae"] == [mae, mae]
    # the two runs differ in no param: none is shown unless asked for
    assert not any(key.startswith("params.") for key in rows)
    markdown = (tmp_path / "runs.md").read_text()
    assert "|  | lineage_second | lineage_first |" in markdown
    assert f"| metrics.test.mae | {mae} | {mae} |" in markdown
    assert f"**lineage_first**: {history['first_gate']}" in markdown

    result = command(stack, "kedro-mlops-runs", "-n", "2", "--all-params", "--output",
                     "runs.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "params.split.random_state" in result.stdout
    page = (tmp_path / "runs.html").read_text()
    assert page.startswith("<!doctype html>") and "<th>params.split.random_state</th>" in page
    assert "a tie" in page


def test_runs_user_errors(stack, history, tmp_path):
    for args, message in [(["--output", "runs.csv"], "name a .md or .html file"),
                          (["--experiment", "nope"], "no MLflow experiment named 'nope'"),
                          (["-n", "0"], "a whole number >= 1")]:
        result = command(stack, "kedro-mlops-runs", *args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
