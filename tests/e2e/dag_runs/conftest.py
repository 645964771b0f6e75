"""One LocalExecutor stack for every file of this package: the rendered DAGs run by the real
scheduler against PostgreSQL, S3 and MLflow, triggered through Airflow's REST API as a user's
script or the UI would.

PostgreSQL databases, moto S3, the MLflow server, and Airflow's api-server, scheduler,
dag-processor and triggerer, started once for the package and stopped when its last test ends
(package scope). tests/conftest.py hands the whole package to one pytest-xdist worker, so its
files run one after the other on this stack: each file costs its tests, not another stack's
start (about 40 CPU-s on a machine the other worker shares). The DAGs: the tiny project's
training DAG, both NYC DAGs (shortened waits, training only when triggered) and what a file
renders into ``dags_folder`` itself (the dag-processor lists the folder every 5 s).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kedro_mlops.local.airflow_client import AirflowClient
from kedro_mlops.render.dag_files import render

from ..airflow_stack import running_airflow_stack
from ..conftest import make_test_settings
from ..fault_switch import stack_env

REPO = Path(__file__).parents[3]
TINY = REPO / "tests" / "fixtures" / "tiny_project"
NYC = REPO / "kedro_project"
#: rows of the batch of the day the scoring DAG's scheduled run scores
SCHEDULED_ROWS = 150
#: the scoring DAG's wait for late files, shortened from hours (airflow.yml) for the tests
FILE_WAIT_SECONDS = 30


@pytest.fixture(scope="package")
def airflow_stack(tmp_path_factory, system_postgres, airflow_db_template):
    """``(settings, client)``; the DAGs folder is ``settings.state_dir / "dags"``."""
    state = tmp_path_factory.mktemp("airflow-stack")
    settings = make_test_settings(state, postgres_url=system_postgres)
    dags = dags_folder(settings)
    render(TINY, ["training"], dags)
    (nyc_training, nyc_scoring) = render(NYC, ["training", "scoring"], dags)
    trigger_only(nyc_training)
    _short_retry_delay(nyc_training)
    _short_wait_for_files(nyc_scoring)
    with running_airflow_stack(settings, dags, overrides=stack_env(faults_dir(settings)),
                               db_template=airflow_db_template):
        # the daily scoring DAG's own scheduled run (for yesterday at the time it is unpaused)
        # starts when a test unpauses it: its batch is there, and the next day's too, for a
        # suite that crosses midnight UTC before then
        today = dt.datetime.now(dt.UTC).date()
        for seed, day in enumerate((today - dt.timedelta(days=1), today), start=11):
            write_batch(settings, day.isoformat(), rows=SCHEDULED_ROWS, seed=seed)
        with AirflowClient.for_local_stack(state, port=settings.airflow_port) as client:
            for dag_id in ("tiny_training", "nyc_airbnb_training", "nyc_airbnb_scoring"):
                client.wait_for_dag(dag_id, timeout=300)
            yield settings, client


def dags_folder(settings) -> Path:
    return settings.state_dir / "dags"


def faults_dir(settings) -> Path:
    """Where the tests arm faults for the stack's tasks (see fault_switch)."""
    return settings.state_dir / "faults"


def trigger_only(dag_file: Path) -> None:
    """The tests trigger every training run themselves: no weekly run may slip in between.

    Unpausing a scheduled DAG (catchup off) makes the scheduler start a run for the latest
    interval at once; it would register versions and move aliases behind the tests' backs.
    """
    _replace_once(dag_file, ('schedule="@weekly",', "schedule=None,"))


def _short_retry_delay(dag_file: Path) -> None:
    """The tests that fail a task once wait 1 s for its retry, not airflow.yml's 30 s doubled
    (three retried tasks in one run would idle for minutes)."""
    _replace_once(dag_file, ('"retry_delay": timedelta(seconds=30),',
                             '"retry_delay": timedelta(seconds=1),'),
                  ('"retry_exponential_backoff": True,', '"retry_exponential_backoff": False,'))


def _short_wait_for_files(dag_file: Path) -> None:
    _replace_once(dag_file, ("timeout_seconds=21600,", f"timeout_seconds={FILE_WAIT_SECONDS},"),
                  ("poke_interval_seconds=60,", "poke_interval_seconds=2,"))


def _replace_once(dag_file: Path, *replacements: tuple[str, str]) -> None:
    text = dag_file.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{dag_file}: expected one '{old}'"
        text = text.replace(old, new)
    dag_file.write_text(text)


def storage_options(settings) -> dict:
    return {"key": settings.aws_access_key_id, "secret": settings.aws_secret_access_key,
            "client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}


def write_batch(settings, ds: str, rows: int, seed: int, files: int = 1, mutate=None):
    """A day's scoring input under ``incoming/ds=<ds>/`` in the stack's bucket."""
    from nyc_airbnb.batches import generate_batch, load_source
    from nyc_airbnb.batches import write_batch as write

    batch = generate_batch(load_source(), rows, seed=seed)
    if mutate is not None:
        batch = mutate(batch)
    write(batch, f"s3://{settings.bucket}", ds, n_files=files,
          storage_options=storage_options(settings))
    return batch
