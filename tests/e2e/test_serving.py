"""The champion served over HTTP by `mlflow models serve`, resolved from the registry by alias.

A cheap real `kedro run` of the training pipeline logs the model, it is registered and put
through the promotion gate, which leaves the `champion` alias on it (or on a better one); then a real scoring server (`mlflow models serve -m
models:/nyc_airbnb_price@champion --env-manager local`) loads it from the MLflow server (PostgreSQL
registry, artifacts proxied from S3) and answers /invocations with raw scoring-batch rows.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from nyc_airbnb.validation import MODEL_INPUT_COLUMNS

from kedro_mlops.local.stack import free_port

from .gate import register_and_gate
from .test_kedro_tracking import EXPERIMENT, MODEL, PROJECT, kedro_run

pytestmark = pytest.mark.e2e

SCORING_BATCH = PROJECT / "data/01_raw/scoring_batch.csv"
ALIAS = "champion"
RUN_NAME = "e2e_serving"
DAG = "e2e_serving"  # where the gate finds the run's held-out data
START_TIMEOUT = 180  # seconds for the server to download the model, load it and answer /ping


@pytest.fixture(scope="module")
def champion(stack, mlflow_client, tmp_path_factory):
    """The version the gate leaves as champion after a real (cheap) `kedro run` is registered
    and put through it: this run's version, or an earlier module's better one."""
    runs_root = tmp_path_factory.mktemp("runs")
    result = kedro_run(stack, run_name=RUN_NAME, data_root=str(runs_root / DAG / RUN_NAME),
                       **{"model.hist_gradient_boosting.max_iter": "20"})
    assert result.returncode == 0, result.stderr[-4000:]
    exp = mlflow_client.get_experiment_by_name(EXPERIMENT)
    (run,) = mlflow_client.search_runs([exp.experiment_id],
                                       filter_string=f"attributes.run_name = '{RUN_NAME}'")
    gated = register_and_gate(mlflow_client, run, runs_root, DAG, force=False)
    champion = mlflow_client.get_model_version_by_alias(MODEL, ALIAS)
    decision = mlflow_client.get_model_version(MODEL, gated).tags["promotion.decision"]
    # the gate promoted this run's version, or kept a champion it compared it with
    assert (champion.version == gated) == (decision != "kept_champion"), (champion, decision)
    return champion


def _log_tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (CLI and uvicorn), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # the CLI exited: take down any uvicorn worker left in its group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def server(stack, champion, tmp_path_factory):
    """`mlflow models serve` of models:/<name>@champion on a free port; its base URL."""
    workdir = tmp_path_factory.mktemp("serving")
    log = workdir / "serve.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # the CLI execs `uvicorn` through bash: the venv's bin must be on PATH
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    command = [sys.executable, "-m", "mlflow", "models", "serve",
               "-m", f"models:/{MODEL}@{ALIAS}", "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=workdir, env=stack.process_env({"PATH": path}),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`mlflow models serve` exited with {proc.returncode} before "
                            f"answering {url}/ping; log {log}:\n{_log_tail(log)}")
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`mlflow models serve` did not answer {url}/ping within "
                            f"{START_TIMEOUT}s; log {log}:\n{_log_tail(log)}")
            time.sleep(0.5)
        yield url
    finally:
        _stop(proc)


def _batch(n: int) -> pd.DataFrame:
    """The first `n` rows of the committed scoring batch, restricted to the model's inputs."""
    return pd.read_csv(SCORING_BATCH).head(n)[MODEL_INPUT_COLUMNS]


def _invoke(url: str, frame: pd.DataFrame) -> httpx.Response:
    payload = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    return httpx.post(f"{url}/invocations", json=payload, timeout=60)


def test_the_champion_answers_one_positive_price_per_posted_row(server, champion, mlflow_client):
    import mlflow

    rows = _batch(5)
    assert rows["last_review"].isna().any(), "the rows include a never-reviewed listing"
    response = _invoke(server, rows)
    assert response.status_code == 200, response.text[-3000:]
    predictions = response.json()["predictions"]
    assert len(predictions) == len(rows)
    assert [p["id"] for p in predictions] == rows["id"].tolist()
    prices = [p["predicted_price"] for p in predictions]
    assert all(isinstance(p, float) and math.isfinite(p) and p > 0 for p in prices), prices
    # the alias resolved to the version it points at: same answers as that version in process
    assert mlflow_client.get_model_version_by_alias(MODEL, ALIAS).version == champion.version
    local = mlflow.pyfunc.load_model(f"models:/{MODEL}/{champion.version}").predict(rows)
    assert prices == pytest.approx(local["predicted_price"].tolist(), rel=1e-9)


def _unknown_room_type() -> pd.DataFrame:
    rows = _batch(3)
    rows.loc[1, "room_type"] = "Castle"
    return rows


# MLflow's scoring server answers 400 either way, but only its own schema check (the signature)
# gets a message of its own: any other exception raised by the model (here the inference
# pipeline's DataValidationError) gets a generic message, its text is in `stack_trace`.
@pytest.mark.parametrize(
    ("frame", "field", "named"),
    [
        pytest.param(lambda: _batch(3).drop(columns=["room_type"]), "message",
                     ["Model is missing inputs ['room_type']"], id="missing_column"),
        pytest.param(_unknown_room_type, "stack_trace",
                     ["DataValidationError", "column 'room_type'", "'Castle'"],
                     id="unknown_room_type"),
    ],
)
def test_a_bad_row_is_refused_naming_the_column(server, frame, field, named):
    response = _invoke(server, frame())
    assert response.status_code == 400, (response.status_code, response.text[-2000:])
    error = response.json()
    for fragment in named:
        assert fragment in error.get(field, ""), (fragment, json.dumps(error)[-3000:])
