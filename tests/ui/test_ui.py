"""The Airflow and MLflow web UIs, as a person uses them, against the real local stack.

Headless Chromium drives the Airflow 3 React UI (log in, the training DAG's graph, the trigger
form, a task's log, Assets) and the MLflow UI (search by Airflow run id, params, metrics, plots,
compare, the registry's aliases and gate decision, a scoring run's drift report). The stack and
most runs they look at are what `make demo` left (the scheduled training run that made the first
champion, the scoring DAG's scheduled run and a backfill); the module adds one training run
through the trigger form.
"""

from __future__ import annotations

import re
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, unquote

import pytest
import yaml
from e2e.dag_runs.test_airflow_dags import MODEL, NYC, SCORING, SCORING_EXPERIMENT
from e2e.mlflow_queries import model_versions, runs_of_dag_run
from playwright.sync_api import expect

from kedro_mlops.local.airflow_client import AirflowClient, DagRun
from kedro_mlops.local.stack.airflow import admin_credentials

from .conftest import new_context

pytestmark = pytest.mark.e2e

TRAINING = "nyc_airbnb_training"
LEARNING_RATE = "model.hist_gradient_boosting.learning_rate"
MAX_ITER = "model.hist_gradient_boosting.max_iter"
FAST = 40  # boosting iterations: enough for a sensible model, quicker than the default


@cache
def dag_settings() -> dict:
    """The DAG settings the rendered DAGs (trigger form, Assets) come from."""
    return yaml.safe_load((NYC / "conf/base/airflow.yml").read_text())


def non_default_learning_rate() -> float:
    return dag_settings()["training"]["params"][LEARNING_RATE]["default"] / 2


def run_path(dag_id: str, run_id: str) -> str:
    return f"/dags/{dag_id}/runs/{quote(run_id, safe='')}"


# --------------------------------------------------------------------------- module setup


@pytest.fixture(scope="module")
def airflow(demo):
    """The stack's REST client, patient: on a loaded machine the api-server may take > 30 s."""
    settings, _ = demo
    with AirflowClient.for_local_stack(settings.state_dir, port=settings.airflow_port,
                                       timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def airflow_login(browser, demo, airflow) -> dict:
    """Log in once through Airflow's login form (SimpleAuthManager, user admin): the browser
    state (session cookie) that every test's fresh context starts from."""
    settings, _ = demo
    user, password = admin_credentials(settings.state_dir)
    context = new_context(browser, base_url=airflow.base_url)
    try:
        page = context.new_page()
        page.goto("/")
        page.wait_for_url(re.compile(r"/auth/login"))
        page.get_by_label("Username").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)
        expect(page.get_by_test_id("nav-dags-link")).to_be_visible()
        return context.storage_state()
    finally:
        context.close()


@contextmanager
def airflow_page(browser, airflow, login_state):
    """A page of its own context: the UI keeps view choices (graph or grid, panels) per
    browser, so one test's clicks do not change what the next one sees."""
    context = new_context(browser, base_url=airflow.base_url, storage_state=login_state)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def airflow_ui(browser, airflow, airflow_login):
    with airflow_page(browser, airflow, airflow_login) as page:
        yield page


@pytest.fixture
def mlflow_ui(browser, demo):
    settings, _ = demo
    context = new_context(browser, base_url=settings.mlflow_tracking_uri)
    # MLflow 3 opens on its GenAI views, with an assistant panel and a registry promo modal:
    # set aside as a user's first clicks would, since these runs are model training.
    context.add_init_script("""
        localStorage.setItem('mlflow.workflowType_v1', '"machine_learning"');
        localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
        localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
        localStorage.setItem('_mlflow_model_registry_promo_modal_dismissed_v1', 'true');
    """)
    try:
        yield context.new_page()
    finally:
        context.close()


@dataclass(frozen=True)
class Runs:
    baseline: DagRun  # the demo's training: the weekly schedule's run, default params
    form: DagRun  # training through the trigger form
    scoring: DagRun  # the scoring DAG's scheduled run (the demo's)
    learning_rate: float  # set in the form (not the default)
    note: str  # run_note set in the form


def trigger_from_form(page, screenshot, dag_id: str, values: dict[str, object]) -> str:
    """Fill the DAG's trigger form and submit it; the new run's id (the UI opens its page)."""
    page.goto(f"/dags/{dag_id}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    for name, value in values.items():
        dialog.locator(f"input[name='element_{name}']").fill(str(value))
    screenshot(page, "airflow-trigger-form")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    page.wait_for_url(re.compile(rf"/dags/{dag_id}/runs/[^/]+$"))
    return unquote(page.url.rsplit("/runs/", 1)[1])


@pytest.fixture(scope="module")
def runs(browser, airflow, airflow_login, screenshot) -> Runs:
    (baseline,) = airflow.runs(TRAINING)
    # the demo's: the earliest (past midnight UTC the schedule starts the next day's too)
    scoring = min(airflow.runs(SCORING, run_type="scheduled"), key=lambda r: r.logical_date)
    learning_rate, note = non_default_learning_rate(), "lower learning rate, from the form"
    # (closed while the run goes on: Airflow's pages poll the api-server while a run is active)
    with airflow_page(browser, airflow, airflow_login) as page:
        run_id = trigger_from_form(page, screenshot, TRAINING, {
            LEARNING_RATE: learning_rate, MAX_ITER: FAST, "run_note": note})
    form = airflow.wait_for_run(TRAINING, run_id, timeout=1500)
    return Runs(baseline, form, scoring, learning_rate, note)


# --------------------------------------------------------------------------- make demo


def test_make_demo_trains_registers_scores_and_prints_both_uis(demo, airflow):
    settings, done = demo
    out = done.stdout
    # one training run, by the weekly schedule once unpaused: the first champion
    (training,) = airflow.runs(TRAINING)
    assert training.state == "success" and training.raw["run_type"] == "scheduled"
    assert f"Training      {TRAINING} run {training.run_id}, MLflow run " in out
    assert re.search(rf"Model         {MODEL} version 1 \(@challenger\), registered by this run",
                     out)
    assert "Promotion     first_champion: First `@champion`: MAE " in out
    assert f"Scored with   {MODEL}@champion = version 1" in out
    # yesterday by the daily schedule, the two days before by a backfill: 5,000 rows each
    scored = re.findall(r"ds=(\d{4}-\d{2}-\d{2})\s+(\d+) rows  v1  (scheduled|backfill)", out)
    assert sorted(kind for _, _, kind in scored) == ["backfill", "backfill", "scheduled"], out
    assert {rows for _, rows, _ in scored} == {"5000"}
    for ds, _, _ in scored:  # in the bucket, read back through localbucket
        assert _partition_rows(settings, ds) == 5000
    # both UIs answer where the demo says they are (a client other than ours)
    for name, url in (("Airflow UI", settings.airflow_url),
                      ("MLflow UI", settings.mlflow_tracking_uri)):
        assert re.search(rf"^  {name} +{re.escape(url)}\b", out, re.MULTILINE), (name, out)
        with urllib.request.urlopen(url, timeout=60) as response:
            assert response.status == 200
    user, _ = admin_credentials(settings.state_dir)
    assert f"(user {user}, password in {settings.state_dir}" in out


def _partition_rows(settings, ds: str) -> int:
    import pandas as pd

    return len(pd.read_parquet(
        f"s3://{settings.bucket}/predictions/ds={ds}/predictions.parquet",
        storage_options={"key": settings.aws_access_key_id,
                         "secret": settings.aws_secret_access_key,
                         "client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}))


# --------------------------------------------------------------------------- Airflow UI


def test_training_graph_has_a_task_per_kedro_node_in_a_group_per_namespace(
        airflow_ui, screenshot):
    from nyc_airbnb.pipeline_registry import register_pipelines

    nodes = register_pipelines()["training"].nodes
    page = airflow_ui
    page.goto(f"/dags/{TRAINING}")
    page.get_by_role("button", name="Show Graph (Press g)").click()
    page.get_by_role("button", name="Expand all task groups").click()
    graph = page.locator(".react-flow__node")
    expect(graph.filter(has_text="KedroNodeOperator")).to_have_count(len(nodes))

    shown = {n.get_attribute("data-id"): n.inner_text() for n in graph.all()}
    tasks = {task for task, text in shown.items() if "KedroNodeOperator" in text}
    groups = {task for task, text in shown.items() if "Task Group" in text}
    assert tasks == {n.name for n in nodes}
    assert groups == {n.namespace for n in nodes}
    for node in nodes:  # drawn inside its group, labelled without the namespace
        assert shown[node.name].startswith(node.name.removeprefix(f"{node.namespace}."))
    page.get_by_role("button", name="Collapse Details Panel").click()
    page.get_by_role("button", name="Fit View").click()
    screenshot(page, "airflow-training-graph")


def test_a_run_triggered_from_the_form_succeeds_and_its_node_logs_are_plain_kedro_lines(
        airflow_ui, runs, screenshot):
    assert runs.form.state == "success"
    # what the form sent is what the run got: the non-default value and the note
    assert runs.form.conf[LEARNING_RATE] == runs.learning_rate
    assert runs.form.conf["run_note"] == runs.note
    assert runs.form.raw["triggered_by"] == "ui"

    page = airflow_ui
    page.goto(run_path(TRAINING, runs.form.run_id))
    expect(page.get_by_test_id("state-badge").first).to_have_text(re.compile("Success"))
    screenshot(page, "airflow-form-run")

    task = "training.train_price_model"
    page.goto(f"{run_path(TRAINING, runs.form.run_id)}/tasks/{task}")
    expect(page.get_by_text(f"Kedro node '{task}'")).to_be_visible()
    # Kedro's own logging format, not rich's console rendering
    expect(page.get_by_text(
        "INFO kedro.runner.sequential_runner: Completed 1 out of 1 tasks")).to_be_visible()
    screenshot(page, "airflow-task-log")


def test_assets_view_shows_the_champion_and_the_predictions(airflow_ui, runs, screenshot):
    assets = [a["name"] for section in ("training", "scoring")
              for outlets in dag_settings()[section]["outlets"].values() for a in outlets]
    page = airflow_ui
    page.goto("/assets")
    for name in assets:
        row = page.get_by_role("row").filter(has_text=name)
        # updated by this stack's runs: a last event time, one producing task
        expect(row).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"))
        expect(row).to_contain_text("1 Task")
    screenshot(page, "airflow-assets")


# --------------------------------------------------------------------------- MLflow UI


def mlflow_experiment_id(name: str) -> str:
    import mlflow

    return mlflow.MlflowClient().get_experiment_by_name(name).experiment_id


def row_of(page, key: str):
    """The table row whose key cell is ``key`` (not one that mentions it in a value)."""
    return page.get_by_role("row").filter(has=page.get_by_text(key, exact=True))


def search_runs(page, experiment: str, filter_string: str, matching: int):
    """Type a filter into the experiment's run search box, as a user would."""
    page.goto(f"/#/experiments/{mlflow_experiment_id(experiment)}/runs")
    # the page's first, unfiltered search has answered (its runs are listed): on a loaded
    # machine it could answer after the filtered one, and the page kept every run listed
    expect(page.get_by_role("row", name="Press SPACE to select this row.").first).to_be_visible()
    box = page.get_by_test_id("search-box")
    box.fill(filter_string)
    box.press("Enter")
    expect(page.get_by_text(re.compile(rf"^{matching} matching runs?$"))).to_be_visible()


def test_mlflow_finds_the_form_run_by_its_airflow_run_id_with_params_metrics_and_plots(
        mlflow_ui, runs, screenshot):
    import mlflow

    (tracked,) = runs_of_dag_run(TRAINING, runs.form.run_id, TRAINING)
    page = mlflow_ui
    search_runs(page, TRAINING, f"tags.`airflow.run_id` = '{runs.form.run_id}'", 1)
    page.get_by_role("link", name=f"{TRAINING}/{runs.form.run_id}").click()
    page.wait_for_url(re.compile(rf"/runs/{tracked.info.run_id}"))

    expect(page.get_by_text(runs.note)).to_be_visible()
    expect(row_of(page, LEARNING_RATE)).to_contain_text(str(runs.learning_rate))
    for metric in ("test.mae", "test.rmse", "test.r2"):
        expect(row_of(page, metric)).to_contain_text(str(tracked.data.metrics[metric]))
    screenshot(page, "mlflow-run")

    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("plots", exact=True).click()
    plots = [a.path for a in mlflow.MlflowClient().list_artifacts(tracked.info.run_id, "plots")]
    assert len(plots) == 3
    for path in plots:
        page.get_by_text(path.rsplit("/", 1)[1], exact=True).click()
        expect(page.get_by_text(path, exact=True)).to_be_visible()
        # (the image viewer keeps a hidden copy for its zoomed preview)
        image = page.locator("img[src^='blob:']").filter(visible=True).first
        expect(image).to_be_visible()
        assert image.evaluate("i => i.complete && i.naturalWidth") > 100, path
    screenshot(page, "mlflow-run-plot")


def test_mlflow_compares_the_two_training_runs(mlflow_ui, runs, screenshot):
    page = mlflow_ui
    search_runs(page, TRAINING, f"tags.`airflow.dag_id` = '{TRAINING}'", 2)
    page.get_by_label("Select all runs").check()
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(r"/compare-runs"))
    ids = [runs_of_dag_run(TRAINING, run.run_id, TRAINING)[0].info.run_id
           for run in (runs.baseline, runs.form)]
    expect(page.get_by_role("row").filter(has_text="Run ID:")).to_contain_text(ids[0])
    expect(page.get_by_role("row").filter(has_text="Run ID:")).to_contain_text(ids[1])
    default = dag_settings()["training"]["params"][LEARNING_RATE]["default"]
    row = row_of(page, LEARNING_RATE)
    expect(row).to_contain_text(str(default))
    expect(row).to_contain_text(str(runs.learning_rate))
    row.scroll_into_view_if_needed()
    screenshot(page, "mlflow-compare")


def test_mlflow_registry_shows_the_aliases_and_the_gate_decision(mlflow_ui, runs, screenshot):
    import mlflow

    client = mlflow.MlflowClient()
    (tracked,) = runs_of_dag_run(TRAINING, runs.form.run_id, TRAINING)
    (version,) = [v for v in model_versions(MODEL) if v.run_id == tracked.info.run_id]
    version = client.get_model_version(MODEL, version.version)  # with its tags
    champion = client.get_model_version_by_alias(MODEL, "champion").version

    page = mlflow_ui
    page.goto("/#/models")
    page.get_by_role("link", name=MODEL, exact=True).click()
    for alias, number in (("champion", champion), ("challenger", version.version)):
        row = page.get_by_role("row").filter(
            has=page.get_by_role("link", name=f"Version {number}", exact=True))
        expect(row).to_contain_text(alias)
    # the gate's decision is one sentence in the version's Description column, which the table
    # cuts after 29 characters ("Kept champion v1 as `@champio...")
    assert version.description, f"version {version.version} has no description"
    expect(row).to_contain_text(version.description[:24])
    screenshot(page, "mlflow-model")

    page.get_by_role("link", name=f"Version {version.version}", exact=True).click()
    page.wait_for_url(re.compile(rf"/versions/{version.version}$"))
    # the alias badge reads "@ challenger"; the description shows `@challenger` as code
    expect(page.get_by_text(re.compile(r"^@\s+challenger$"))).to_be_visible()
    # rendered as Markdown there: the backticks around an alias make code, not text
    expect(page.locator("body")).to_contain_text(version.description.replace("`", "")[:60])
    decision = row_of(page, "promotion.decision")
    expect(decision).to_contain_text(version.tags["promotion.decision"])
    decision.scroll_into_view_if_needed()
    screenshot(page, "mlflow-model-version")


def test_mlflow_shows_a_scoring_runs_drift_report(mlflow_ui, runs, screenshot):
    (tracked,) = runs_of_dag_run(SCORING, runs.scoring.run_id, SCORING_EXPERIMENT)
    page = mlflow_ui
    search_runs(page, SCORING_EXPERIMENT, f"tags.`airflow.run_id` = '{runs.scoring.run_id}'", 1)
    page.get_by_role("link", name=f"{SCORING}/{runs.scoring.run_id}").click()
    page.get_by_role("tab", name="Artifacts").click()
    page.get_by_text("drift", exact=True).click()
    page.get_by_text("drift_report.html", exact=True).click()

    report = page.frame_locator("iframe").first.locator("body")
    metrics, tags = tracked.data.metrics, tracked.data.tags
    expect(report).to_contain_text(f"{MODEL} v{tags['model.version']}")
    expect(report).to_contain_text(
        f"{int(metrics['batch.rows_in'])} / {int(metrics['batch.rows_scored'])}")
    expect(report).to_contain_text("PSI")
    screenshot(page, "mlflow-drift-report")
