"""Task start-up cost, side by side in one run: ``make bench`` (``--quick`` once in the tests).

    python benchmarks/bench.py [--repeat 5] [--quick] [--write]

Starts a throw-away stack of its own (PostgreSQL databases of their own, localbucket S3,
MLflow, Airflow on the LocalExecutor; the same code as ``make up``), renders the repository's
project into its own DAG folder with the schedules off (every run is triggered here), and
compares, alternating the sides so that a noisy machine hurts both alike:

1. parse: each generated DAG file against a hand-written equivalent (same dag, task ids,
   TaskGroups, edges, params and Assets, on EmptyOperators), by Airflow's own ``DagBag`` in a
   process that has imported ``airflow.sdk`` (as a dag-processor child has), and by the
   dag-processor's ``last_parse_duration`` for both files in the running stack;
2. one node (``data_processing.split_listings``): the Airflow task (its duration, MLflow resume
   included; and queued -> end) vs ``kedro run --nodes`` of the same node vs the node function
   called in-process on the same inputs;
3. the training DAG (trigger -> success) vs one-process ``kedro run --pipeline training`` on the
   same stack, with where the difference goes, from the task instances' timestamps;
4. the scoring DAG on a 5,000-row day.

Prints min and median of each figure and the ratios; ``--write`` stores them in
``benchmarks/results.json`` (a flat object, figure name -> number) and ``benchmarks/RESULTS.md``
(the table, the machine, the date and the commit). Nothing is timed against a limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "kedro_project"
TRAINING = "nyc_airbnb_training"
SCORING = "nyc_airbnb_scoring"
NODE = "data_processing.split_listings"
FANOUT = (1, 2, 4)
CONTROL_TASKS = {"start_mlflow_run", "end_mlflow_run", "log_and_register_model",
                 "evaluate_and_promote"}
RESULTS_JSON = REPO / "benchmarks" / "results.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def stats(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "n": len(values)}


def last_json(stdout: str) -> Any:
    """The JSON a child printed last (Airflow and Kedro log to stdout before it)."""
    return json.loads(stdout.strip().splitlines()[-1])


def _instant(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


# ------------------------------------------------------------------------------ the stack
CELERY_BROKER = os.environ.get("MLOPS_BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
CELERY_WORKERS = ("bench1", "bench2")


def celery_ping(prefix: str) -> Callable[[], bool]:
    def check() -> bool:
        from celery import Celery

        app = Celery(broker=CELERY_BROKER)
        try:
            replies = app.control.ping(timeout=1.0)
        finally:
            app.close()
        return any(node.startswith(f"{prefix}@") for reply in replies for node in reply)

    return check


def flush_celery_broker() -> None:
    import redis

    client = redis.Redis.from_url(CELERY_BROKER, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


@contextlib.contextmanager
def bench_stack(state: Path, executor: str = "local") -> Iterator[tuple[Any, Any, Path]]:
    """A stack of its own on free ports; the DAGs of the repo's project, schedules off.

    ``executor="celery"``: the CeleryExecutor with two workers of one slot each (Redis at
    ``MLOPS_BENCH_CELERY_BROKER_URL``, a database of its own, flushed at both ends), as in
    tests/e2e/test_celery.py and docker-compose.yml.
    """
    from kedro_mlops.local.airflow_client import AirflowClient
    from kedro_mlops.local.settings import Settings
    from kedro_mlops.local.stack import (
        ProcessComponent,
        core_components,
        free_port,
        start_services,
        stop_services,
    )
    from kedro_mlops.local.stack.airflow import service_specs
    from kedro_mlops.local.stack.postgres import drop_databases
    from kedro_mlops.render.dag_files import render

    suffix = secrets.token_hex(4)
    settings = Settings.from_env(
        {},
        state_dir=state,
        postgres_url=os.environ.get("MLOPS_BENCH_POSTGRES_URL",
                                    "postgresql://postgres@127.0.0.1:5432/postgres"),
        mlflow_db=f"mlflow_bench_{suffix}",
        airflow_db=f"airflow_bench_{suffix}",
        s3_server="localbucket",
        s3_port=free_port(),
        bucket=f"mlops-bench-{suffix}",
        mlflow_port=free_port(),
        mlflow_workers=1,
        airflow_port=free_port(),
    )
    dags = state / "dags"
    for path in render(PROJECT, ["training", "scoring"], dags):
        # every run is triggered here: no scheduled run may start when a DAG is unpaused
        path.write_text(re.sub(r"\n    schedule=.*,\n", "\n    schedule=None,\n",
                               path.read_text(), count=1))
    scoring = (dags / f"{SCORING}_dag.py").read_text()
    for count in FANOUT:  # the scoring DAG with 1, 2, 4 mapped score_batch tasks
        (dags / f"{SCORING}_fan{count}_dag.py").write_text(
            scoring.replace(f'dag_id="{SCORING}"', f'dag_id="{SCORING}_fan{count}"')
            .replace('"batch_parts": 2,', f'"batch_parts": {count},'))
    overrides = {} if executor == "local" else {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": CELERY_BROKER}
    specs = service_specs(settings, dags_folder=dags, overrides=overrides)
    if executor == "celery":
        from kedro_mlops.local.stack.airflow import celery_worker_spec

        flush_celery_broker()
        specs += [celery_worker_spec(name, specs[0].env, state, celery_ping(name))
                  for name in CELERY_WORKERS]
    components = core_components(settings) + [ProcessComponent(spec, settings) for spec in specs]
    os.environ.update(settings.env())
    try:
        start_services(settings, components=components, progress=lambda m: None)
        with AirflowClient.for_local_stack(state, port=settings.airflow_port,
                                           progress=None) as client:
            yield settings, client, dags
    finally:
        try:
            stop_services(settings, components=components, progress=lambda m: None)
        finally:
            drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])
            if executor == "celery":
                flush_celery_broker()


#: the training params of --quick (the test of this script): few boosting iterations
QUICK_TRAINING = {"model.hist_gradient_boosting.max_iter": 20}


def run_dag(client, dag_id: str, conf: dict | None = None) -> dict[str, Any]:
    """Trigger, wait for success; the run's wall time and its task instances."""
    client.wait_for_dag(dag_id, timeout=180)
    client.unpause(dag_id)
    started = time.monotonic()
    run = client.trigger(dag_id, conf or {})
    # the run's own start and end dates time it: polling more often would only load the
    # api-server, on the cores the tasks run on
    run = client.wait_for_run(dag_id, run.run_id, timeout=900, poll=1.0)
    wall = time.monotonic() - started
    return {"run": run, "wall": wall,
            "seconds": _instant(run.end_date) - _instant(run.start_date),
            "tis": client.task_instances(dag_id, run.run_id)}


def node_seconds(run_id: str) -> dict[str, float]:
    """``task.<node>.node_seconds`` of the DAG run's MLflow run: each node function's time."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=["nyc_airbnb_training"], output_format="list",
        filter_string=f"tags.`airflow.run_id` = '{run_id}'")
    metrics = runs[0].data.metrics
    return {k[len("task."):-len(".node_seconds")]: v for k, v in metrics.items()
            if k.endswith(".node_seconds")}


def task_peaks(run_id: str) -> float:
    """The largest ``task.<node>.peak_rss_mb`` of a DAG run's node tasks."""
    import mlflow

    runs = mlflow.search_runs(
        experiment_names=["nyc_airbnb_training"], output_format="list",
        filter_string=f"tags.`airflow.run_id` = '{run_id}'")
    return max(v for k, v in runs[0].data.metrics.items() if k.endswith(".peak_rss_mb"))


def breakdown(result: dict[str, Any]) -> dict[str, float]:
    """Where a DAG run's time goes, from its task instances' timestamps."""
    tis = [t for t in result["tis"] if t.start_date and t.end_date]
    functions = node_seconds(result["run"].run_id)
    spans = sorted((_instant(t.start_date), _instant(t.end_date)) for t in tis)
    busy, cursor = 0.0, None
    for start, end in spans:  # length of the union of the task spans
        if cursor is None or start > cursor:
            busy += end - start
            cursor = end
        elif end > cursor:
            busy += end - cursor
            cursor = end
    nodes = [t for t in tis if t.task_id not in CONTROL_TASKS]
    work = sum(functions.get(t.task_id, 0.0) for t in nodes)
    return {
        "run_s": result["seconds"],
        "no_task_running_s": result["seconds"] - busy,
        "node_functions_s": work,
        "node_task_overhead_s": sum(t.duration for t in nodes) - work,
        "control_tasks_s": sum(t.duration for t in tis if t.task_id in CONTROL_TASKS),
        "overheads": [t.duration - functions[t.task_id] for t in nodes
                      if t.task_id in functions],
    }


# ------------------------------------------------------------------------------ 1. parse
BARE_WRITER = r'''
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
assert not bag.import_errors, bag.import_errors
dag = next(iter(bag.dags.values()))
tasks = []
for t in dag.tasks:
    tasks.append({"id": t.task_id, "group": t.task_group.group_id if t.task_group and t.task_group.group_id else None,
                  "up": sorted(t.upstream_task_ids),
                  "assets": [[a.name, a.uri] for a in (t.outlets or [])]})
params = {k: {"default": p.value, **p.schema} for k, p in dag.params.items()}
print(json.dumps({"dag_id": dag.dag_id, "tasks": tasks, "params": params}, default=str))
'''


def write_bare_dag(dag_file: Path, target: Path) -> Path:
    """A hand-written equivalent of ``dag_file``: the same tasks on EmptyOperators."""
    shape = last_json(subprocess.run([sys.executable, "-c", BARE_WRITER, str(dag_file)],
                                     check=True, capture_output=True, text=True).stdout)
    groups = sorted({t["group"] for t in shape["tasks"] if t["group"]})
    lines = [
        "from datetime import datetime",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "from airflow.sdk import DAG, Asset, Param, TaskGroup",
        "",
        (f"with DAG(dag_id={shape['dag_id'] + '_bare'!r}, schedule=None, "
         "start_date=datetime(2026, 1, 1), params={"),
    ]
    for key, spec in shape["params"].items():
        spec = dict(spec)
        default = spec.pop("default")
        extra = "".join(f", {k}={v!r}" for k, v in spec.items())
        lines.append(f"    {key!r}: Param({default!r}{extra}),")
    lines.append("}) as dag:")
    for group in groups:
        lines.append(f"    g_{group} = TaskGroup({group!r})")
    lines.append("    t = {}")
    for task in shape["tasks"]:
        local = task["id"].split(".", 1)[1] if task["group"] else task["id"]
        group = f", task_group=g_{task['group']}" if task["group"] else ""
        assets = ", ".join(f"Asset(name={n!r}, uri={u!r})" for n, u in task["assets"])
        outlets = f", outlets=[{assets}]" if assets else ""
        lines.append(f"    t[{task['id']!r}] = EmptyOperator(task_id={local!r}{group}{outlets})")
    for task in shape["tasks"]:
        for up in task["up"]:
            lines.append(f"    t[{up!r}] >> t[{task['id']!r}]")
    path = target / f"{shape['dag_id']}_bare_dag.py"
    path.write_text("\n".join(lines) + "\n")
    return path


PARSE_TIMER = r'''
import json, sys, time
import airflow.sdk  # a dag-processor child has Airflow imported already
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
seconds = time.perf_counter() - started
assert not bag.import_errors, bag.import_errors
print(json.dumps(seconds))
'''


def parse_seconds(path: Path) -> float:
    """One DagBag parse of ``path`` in a fresh process, as the dag-processor parses each file
    in a fresh child: nothing is cached from an earlier parse."""
    return last_json(subprocess.run([sys.executable, "-c", PARSE_TIMER, str(path)],
                                    check=True, capture_output=True, text=True).stdout)


def bench_parse(dags: Path, client, settings, repeat: int) -> dict[str, float]:
    bare_dir = dags.parent / "bare"
    bare_dir.mkdir(exist_ok=True)
    figures: dict[str, float] = {}
    ratios = []
    for dag_id in (TRAINING, SCORING):
        generated = dags / f"{dag_id}_dag.py"
        bare = write_bare_dag(generated, bare_dir)
        times: dict[str, list[float]] = {"generated": [], "bare": []}
        for i in range(repeat):
            order = ["generated", "bare"] if i % 2 == 0 else ["bare", "generated"]
            for side in order:
                times[side].append(parse_seconds(generated if side == "generated" else bare))
        g, b = stats(times["generated"]), stats(times["bare"])
        short = dag_id.removeprefix("nyc_airbnb_")
        figures[f"parse_{short}_s"] = g["median"]
        figures[f"parse_{short}_bare_s"] = b["median"]
        figures[f"parse_{short}_vs_bare"] = g["median"] / b["median"]
        ratios.append(g["median"] / b["median"])
        say(f"parse {dag_id}: DagBag median {g['median']*1000:.0f} ms (min {g['min']*1000:.0f}) "
            f"vs bare {b['median']*1000:.0f} ms (min {b['min']*1000:.0f}): "
            f"{g['median']/b['median']:.2f}x")
    figures["parse_vs_bare"] = max(ratios)
    figures.update(processor_parse(dags, bare_dir, client, settings))
    return figures


def processor_parse(dags: Path, bare_dir: Path, client, settings) -> dict[str, float]:
    """``last_parse_duration`` of the dag-processor for the generated and the bare files."""
    import psycopg2

    for bare in bare_dir.glob("*_bare_dag.py"):
        (dags / bare.name).write_text(bare.read_text())
    for dag_id in (TRAINING, SCORING):
        client.wait_for_dag(f"{dag_id}_bare", timeout=120)
    time.sleep(2)
    url = settings.database_url(settings.airflow_db)
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT dag_id, last_parse_duration FROM dag")
        durations = dict(cur.fetchall())
    figures = {}
    for dag_id in (TRAINING, SCORING):
        short = dag_id.removeprefix("nyc_airbnb_")
        g, b = durations[dag_id], durations[f"{dag_id}_bare"]
        figures[f"processor_parse_{short}_s"] = g
        figures[f"processor_parse_{short}_bare_s"] = b
        say(f"dag-processor last_parse_duration {dag_id}: {g*1000:.0f} ms vs bare {b*1000:.0f} ms")
    figures["processor_cycle_s"] = durations[TRAINING] + durations[SCORING]
    return figures


# ------------------------------------------------------------------------------ 2.-3. runs
def kedro_run(args: list[str], data_root: Path, params: dict | None = None) -> float:
    started = time.monotonic()
    params = {"data_root": data_root, **(params or {})}
    subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "run", *args,
         "--params", ",".join(f"{k}={v}" for k, v in params.items())],
        cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KEDRO_LOGGING_CONFIG": str(REPO / "src/kedro_mlops/runtime/task_logging.yml")},
    )
    return time.monotonic() - started


IN_PROCESS_NODE = r'''
import json, sys, time
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, node_name, data_root, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params={"data_root": data_root}) as s:
    catalog = s.load_context().catalog
node = next(n for n in pipelines["data_processing"].nodes if n.name == node_name)
inputs = {name: catalog.load(name) for name in node.inputs}
times = []
for _ in range(repeat):
    started = time.perf_counter()
    node.run(inputs)
    times.append(time.perf_counter() - started)
print(json.dumps(times))
'''


def alternate_runs(client, state: Path, repeat: int, params: dict, label: str,
                   after_pair: Callable[[Path], None] | None = None
                   ) -> tuple[list[dict], list[float]]:
    """The training DAG and `kedro run` of the same pipeline on the same stack, both with
    ``params``, run after each other ``repeat`` times, which one goes first alternating."""
    dag_runs: list[dict] = []
    kedro_runs: list[float] = []
    for i in range(repeat):
        local = state / f"kedro-run-{i}"
        sides: list[tuple[str, Callable[[], None]]] = [
            ("dag", lambda: dag_runs.append({**run_dag(client, TRAINING, params),
                                             "rss": airflow_rss(state)})),
            ("kedro", lambda local=local: kedro_runs.append(
                kedro_run(["--pipeline", "training"], local, params))),
        ]
        for name, side in sides if i % 2 == 0 else sides[::-1]:
            side()
            say(f"training {name} run {i + 1}/{repeat}{label}: "
                f"{dag_runs[-1]['seconds'] if name == 'dag' else kedro_runs[-1]:.1f} s")
        if after_pair is not None:
            after_pair(local)
    return dag_runs, kedro_runs


def bench_runs(client, state: Path, repeat: int, params: dict
               ) -> tuple[dict[str, float], list[dict]]:
    """The training DAG against `kedro run` of the same pipeline, both with ``params``."""
    figures: dict[str, float] = {}
    node_cli: list[float] = []
    dag_runs, kedro_runs = alternate_runs(
        client, state, repeat, params, "",
        lambda local: node_cli.append(
            kedro_run(["--pipeline", "data_processing", "--nodes", NODE], local)))
    dag_s = stats([r["seconds"] for r in dag_runs])
    kedro_s = stats(kedro_runs)
    figures.update({
        "training_dag_s": dag_s["median"], "training_dag_min_s": dag_s["min"],
        "training_kedro_run_s": kedro_s["median"], "training_kedro_run_min_s": kedro_s["min"],
        "training_dag_vs_kedro_run": dag_s["median"] / kedro_s["median"],
    })
    parts = [breakdown(r) for r in dag_runs]
    for key in ("no_task_running_s", "node_functions_s", "node_task_overhead_s",
                "control_tasks_s"):
        figures[f"training_dag_{key}"] = statistics.median(p[key] for p in parts)
    overheads = [o for p in parts for o in p["overheads"]]
    figures["task_overhead_s"] = statistics.median(overheads)
    figures["task_overhead_max_s"] = max(overheads)
    # 2. one node, three ways
    tis = [t for r in dag_runs for t in r["tis"] if t.task_id == NODE]
    functions = [node_seconds(r["run"].run_id)[NODE] for r in dag_runs]
    in_process = last_json(subprocess.run(
        [sys.executable, "-c", IN_PROCESS_NODE, str(PROJECT), NODE, str(state / "kedro-run-0"),
         str(repeat)], check=True, capture_output=True, text=True, cwd=PROJECT).stdout)
    figures.update({
        "node_task_s": statistics.median(t.duration for t in tis),
        "node_task_queued_to_end_s": statistics.median(
            _instant(t.end_date) - _instant(t.raw["queued_when"]) for t in tis),
        "node_function_in_task_s": statistics.median(functions),
        "node_kedro_run_s": statistics.median(node_cli),
        "node_in_process_s": statistics.median(in_process),
    })
    return figures, dag_runs


# ------------------------------------------------------------------------------ 4. scoring
def bench_scoring(client, settings, repeat: int, rows: int) -> dict[str, float]:
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    options = {"key": settings.aws_access_key_id, "secret": settings.aws_secret_access_key,
               "client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}
    source = load_source()
    seconds = []
    for i in range(repeat):
        ds = (date(2026, 1, 1) + timedelta(days=i)).isoformat()
        write_batch(generate_batch(source, rows, seed=i), f"s3://{settings.bucket}", ds,
                    storage_options=options)
        result = run_dag(client, SCORING, {"batch_date": ds})
        seconds.append(result["seconds"])
        say(f"scoring DAG, {rows} rows on {ds}: {result['seconds']:.1f} s")
    s = stats(seconds)
    return {"scoring_dag_5k_s": s["median"], "scoring_dag_5k_min_s": s["min"]}


PREDICT_IN_PROCESS = r'''
import json, resource, sys, time
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_csv(sys.argv[2])
columns = model.metadata.get_input_schema().input_names()
started = time.perf_counter()
predictions = model.predict(frame[columns])
seconds = time.perf_counter() - started
assert len(predictions) == len(frame)
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def _mapped_span(result: dict[str, Any], task_id: str) -> float:
    """From the first start to the last end of a (mapped) task's instances."""
    tis = [t for t in result["tis"] if t.task_id == task_id]
    return max(_instant(t.end_date) for t in tis) - min(_instant(t.start_date) for t in tis)


def _scoring_peak_mb(run_id: str) -> float:
    import mlflow

    runs = mlflow.search_runs(experiment_names=["nyc_airbnb_scoring"], output_format="list",
                              filter_string=f"tags.`airflow.run_id` = '{run_id}'")
    client = mlflow.MlflowClient()
    history = client.get_metric_history(runs[0].info.run_id, "task.score_batch.peak_rss_mb")
    return max(m.value for m in history)


def bench_throughput(client, settings, sizes: list[int], repeat: int, state: Path
                     ) -> dict[str, float]:
    """Rows/s of the scoring task, of ``model.predict`` in-process and of
    ``mlflow models predict``, on the same generated rows (the champion of this stack)."""
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    options = {"key": settings.aws_access_key_id, "secret": settings.aws_secret_access_key,
               "client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}
    model_uri = "models:/nyc_airbnb_price@champion"
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    source, figures = load_source(), {}
    for index, rows in enumerate(sizes):
        ds = (date(2026, 3, 1) + timedelta(days=index)).isoformat()
        batch = generate_batch(source, rows, seed=rows)
        write_batch(batch, f"s3://{settings.bucket}", ds, n_files=2, storage_options=options)
        local = state / f"batch-{rows}.csv"
        batch.to_csv(local, index=False)
        del batch
        task, in_process, cli, peaks = [], [], [], []
        for i in range(repeat):
            result = run_dag(client, SCORING, {"batch_date": ds})
            task.append(rows / _mapped_span(result, "score_batch"))
            peaks.append(_scoring_peak_mb(result["run"].run_id))
            out = last_json(subprocess.run([sys.executable, "-c", PREDICT_IN_PROCESS, model_uri,
                                            str(local)], check=True, capture_output=True,
                                           text=True).stdout)
            in_process.append(rows / out["seconds"])
            started = time.monotonic()
            subprocess.run([mlflow_cli, "models", "predict", "-m", model_uri, "-i", str(local),
                            "-t", "csv", "-o", str(state / "predicted.json"),
                            "--env-manager", "local"],
                           check=True, capture_output=True, text=True)
            cli.append(rows / (time.monotonic() - started))
            say(f"scoring {rows} rows, run {i + 1}/{repeat}: task {task[-1]:.0f} rows/s, "
                f"in-process predict {in_process[-1]:.0f} rows/s, mlflow models predict "
                f"{cli[-1]:.0f} rows/s")
        key = f"{rows // 1000}k"
        figures.update({
            f"scoring_task_rows_per_s_{key}": statistics.median(task),
            f"predict_in_process_rows_per_s_{key}": statistics.median(in_process),
            f"mlflow_models_predict_rows_per_s_{key}": statistics.median(cli),
            f"scoring_task_peak_rss_mb_{key}": max(peaks),
        })
    return figures


def bench_fanout(client, settings, rows: int, counts: list[int], prefix: str
                 ) -> dict[str, float]:
    """One day of ``rows`` rows in 4 files, scored by 1, 2, ... mapped ``score_batch`` tasks."""
    from nyc_airbnb.batches import generate_batch, load_source, write_batch

    options = {"key": settings.aws_access_key_id, "secret": settings.aws_secret_access_key,
               "client_kwargs": {"endpoint_url": settings.s3_endpoint_url}}
    ds = "2026-04-01"
    write_batch(generate_batch(load_source(), rows, seed=4), f"s3://{settings.bucket}", ds,
                n_files=max(counts), storage_options=options)
    spans = {}
    for count in counts:
        result = run_dag(client, f"{SCORING}_fan{count}", {"batch_date": ds})
        spans[count] = _mapped_span(result, "score_batch")
        say(f"{prefix}fan-out {count}: score_batch {spans[count]:.1f} s "
            f"({rows / spans[count]:.0f} rows/s), DAG run {result['seconds']:.1f} s")
    figures = {f"{prefix}fanout_{c}_score_s": spans[c] for c in counts}
    figures.update({f"{prefix}fanout_{c}_speedup": spans[counts[0]] / spans[c]
                    for c in counts[1:]})
    return figures


def bench_celery(client, state: Path, repeat: int) -> dict[str, float]:
    """The training DAG on two Celery workers against `kedro run` on the same stack,
    alternating as on the LocalExecutor; and each node task's overhead."""
    results, kedro_runs = alternate_runs(client, state, repeat, {}, " (2 Celery workers)")
    runs = stats([r["seconds"] for r in results])
    kedro_s = stats(kedro_runs)
    overheads = [o for r in results for o in breakdown(r)["overheads"]]
    return {"celery_training_dag_s": runs["median"],
            "celery_training_kedro_run_s": kedro_s["median"],
            "celery_training_dag_vs_kedro_run": runs["median"] / kedro_s["median"],
            "celery_task_overhead_s": statistics.median(overheads),
            "celery_task_overhead_max_s": max(overheads)}


def celery_rss(state: Path) -> dict[str, float]:
    """RSS (MB) of the Celery workers of this stack: main processes and pool processes."""
    import psutil

    home, out = str(state / "airflow"), {}
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            cmd = " ".join(proc.info["cmdline"] or [])
            # Celery renames its processes ("[celeryd: bench1@host:MainProcess] ...")
            if "celery" in cmd and proc.environ().get("AIRFLOW_HOME") == home:
                out["rss_celery_workers_mb"] = (out.get("rss_celery_workers_mb", 0.0)
                                                + proc.memory_info().rss / 2**20)
    return out


# ------------------------------------------------------------------------------ memory
def airflow_rss(state: Path) -> dict[str, float]:
    """RSS (MB) of this stack's scheduler, its forkserver and its LocalExecutor workers."""
    import psutil

    home = str(state / "airflow")
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if ("scheduler" in " ".join(proc.info["cmdline"] or [])
                    and proc.environ().get("AIRFLOW_HOME") == home):
                break
        except psutil.Error:
            continue
    else:
        return {}
    out = {"rss_scheduler_mb": proc.memory_info().rss / 2**20}
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd, rss = " ".join(child.cmdline()), child.memory_info().rss / 2**20
            if "LocalExecutor" in cmd:
                out["rss_executor_workers_mb"] = out.get("rss_executor_workers_mb", 0.0) + rss
            elif "forkserver" in cmd:
                out["rss_forkserver_mb"] = rss
    return out


# ------------------------------------------------------------------------------ report
def machine() -> str:
    import psutil

    # "-dirty": the figures came from uncommitted code as well
    commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=REPO,
                            check=False, capture_output=True, text=True).stdout.strip() or "?"
    return (f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB; commit {commit}; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


ROWS = [
    ("parse_training_vs_bare", "x", "training DAG file parse (DagBag) / bare equivalent"),
    ("parse_scoring_vs_bare", "x", "scoring DAG file parse (DagBag) / bare equivalent"),
    ("parse_training_s", "s", "training DAG file parse, DagBag"),
    ("parse_training_bare_s", "s", "bare training DAG file parse, DagBag"),
    ("processor_parse_training_s", "s", "dag-processor last_parse_duration, training"),
    ("processor_parse_training_bare_s", "s", "dag-processor last_parse_duration, bare training"),
    ("processor_cycle_s", "s", "dag-processor: last_parse_duration summed over dags/"),
    ("task_overhead_s", "s", "node task duration - node function time (median over tasks)"),
    ("task_overhead_max_s", "s", "same, largest"),
    ("node_task_s", "s", f"{NODE}: Airflow task duration"),
    ("node_task_queued_to_end_s", "s", f"{NODE}: Airflow task queued -> end"),
    ("node_function_in_task_s", "s", f"{NODE}: node function inside the task"),
    ("node_kedro_run_s", "s", f"{NODE}: kedro run --nodes (new process)"),
    ("node_in_process_s", "s", f"{NODE}: node function called in-process"),
    ("training_dag_s", "s", "training DAG trigger -> success (median)"),
    ("training_kedro_run_s", "s", "kedro run --pipeline training, one process (median)"),
    ("training_dag_vs_kedro_run", "x", "training DAG / kedro run"),
    ("training_dag_no_task_running_s", "s", "  of the DAG run: no task running (scheduling)"),
    ("training_dag_node_functions_s", "s", "  sum of node functions"),
    ("training_dag_node_task_overhead_s", "s", "  sum of node task overheads"),
    ("training_dag_control_tasks_s", "s", "  start/log model/gate/end tasks"),
    ("scoring_dag_5k_s", "s", "scoring DAG, 5,000-row day (median)"),
    *[(f"{kind}_rows_per_s_{k}", "rows/s", f"{what}, {k} rows")
      for k in ("2k", "20k", "200k", "2000k")
      for kind, what in (("scoring_task", "score_batch task(s), first start -> last end"),
                         ("predict_in_process", "model.predict in-process, same rows"),
                         ("mlflow_models_predict", "mlflow models predict (CLI), same file"))],
    *[(f"scoring_task_peak_rss_mb_{k}", "MB", f"score_batch task peak RSS, {k} rows")
      for k in ("2k", "20k", "200k", "2000k")],
    *[(f"{p}fanout_{c}_score_s", "s", f"{e}: score_batch with {c} mapped task(s)")
      for p, e in (("", "LocalExecutor"), ("celery_", "2 Celery workers")) for c in FANOUT],
    *[(f"{p}fanout_{c}_speedup", "x", f"{e}: speed-up of {c} mapped tasks over 1")
      for p, e in (("", "LocalExecutor"), ("celery_", "2 Celery workers")) for c in FANOUT[1:]],
    ("celery_training_dag_s", "s", "training DAG on 2 Celery workers (median)"),
    ("celery_training_kedro_run_s", "s", "kedro run --pipeline training on the Celery stack (median)"),
    ("celery_training_dag_vs_kedro_run", "x", "training DAG on Celery / kedro run on the same stack"),
    ("celery_task_overhead_s", "s", "Celery node task duration - node function time (median)"),
    ("celery_task_overhead_max_s", "s", "same, largest"),
    ("rss_celery_workers_mb", "MB", "2 Celery workers with their pool processes, summed"),
    ("task_peak_rss_max_mb", "MB", "largest peak RSS of a node task (pages shared with its worker included)"),
    ("rss_scheduler_after_first_run_mb", "MB", "scheduler RSS after the first training run"),
    ("rss_executor_workers_after_first_run_mb", "MB",
     "LocalExecutor workers RSS, summed, after the first training run"),
    ("rss_scheduler_mb", "MB", "scheduler RSS after the runs"),
    ("rss_forkserver_mb", "MB", "forkserver (preloaded) RSS"),
    ("rss_executor_workers_mb", "MB", "LocalExecutor workers RSS, summed"),
]


def render_table(figures: dict[str, float]) -> str:
    lines = ["| figure | value | what |", "| --- | ---: | --- |"]
    for key, unit, what in ROWS:
        if key in figures:
            value = figures[key]
            text = (f"{value:.2f}x" if unit == "x" else
                    f"{value:.2f} {unit}" if unit == "s" else f"{value:,.0f} {unit}")
            lines.append(f"| `{key}` | {text} | {what} |")
    return "\n".join(lines)


README = REPO / "README.md"
README_START = "<!-- bench:start (generated by `make bench` from benchmarks/results.json; do not edit) -->"
README_END = "<!-- bench:end -->"


def readme_block(f: dict[str, float]) -> str:
    """The README's figures, all from results.json (a test fails when the README is stale)."""
    rows = [
        ("a node task beyond its node function (median, largest)",
         f"{f['task_overhead_s']:.2f} s, {f['task_overhead_max_s']:.2f} s"),
        ("training DAG vs one-process `kedro run` (LocalExecutor)",
         (f"{f['training_dag_s']:.1f} s vs {f['training_kedro_run_s']:.1f} s: "
          f"{f['training_dag_vs_kedro_run']:.2f}x")),
    ]
    if "celery_training_dag_s" in f:
        against = (f" vs {f['celery_training_kedro_run_s']:.1f} s"
                   if "celery_training_kedro_run_s" in f else "")
        rows.append(("training DAG on 2 Celery workers vs `kedro run` on that stack",
                     (f"{f['celery_training_dag_s']:.1f} s{against}: "
                      f"{f['celery_training_dag_vs_kedro_run']:.2f}x; node task beyond its "
                      f"function {f['celery_task_overhead_s']:.2f} s")))
    rows += [
        ("scoring DAG, 5,000-row day", f"{f['scoring_dag_5k_s']:.1f} s"),
        ("DAG file parse (DagBag) vs the same DAG on EmptyOperators",
         (f"training {f['parse_training_vs_bare']:.2f}x, scoring "
          f"{f['parse_scoring_vs_bare']:.2f}x; dag-processor over dags/ "
          f"{f['processor_cycle_s']:.2f} s")),
        *throughput_rows(f),
        ("RSS: forkserver, LocalExecutor workers, scheduler",
         (f"{f.get('rss_forkserver_mb', 0):.0f} MB, "
          f"{f.get('rss_executor_workers_mb', 0):.0f} MB "
          f"({f.get('rss_executor_workers_after_first_run_mb', 0):.0f} MB after the first "
          f"run), {f.get('rss_scheduler_mb', 0):.0f} MB")),
    ]
    lines = ["| figure | measured |", "| --- | --- |"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines)


def throughput_rows(f: dict[str, float]) -> list[tuple[str, str]]:
    rows = []
    for key in ("2000k", "200k", "20k", "2k"):
        if f"scoring_task_rows_per_s_{key}" in f:
            rows.append(((f"scoring {key} rows (rows/s): task(s), model.predict in-process, "
                          "`mlflow models predict`"),
                         (f"{f[f'scoring_task_rows_per_s_{key}']:,.0f}, "
                          f"{f[f'predict_in_process_rows_per_s_{key}']:,.0f}, "
                          f"{f[f'mlflow_models_predict_rows_per_s_{key}']:,.0f}; task peak "
                          f"{f[f'scoring_task_peak_rss_mb_{key}']:,.0f} MB")))
            break
    for prefix, executor in (("", "LocalExecutor"), ("celery_", "2 Celery workers")):
        speedups = [(c, f[f"{prefix}fanout_{c}_speedup"]) for c in FANOUT[1:]
                    if f"{prefix}fanout_{c}_speedup" in f]
        if speedups:
            rows.append((f"fan-out speed-up over 1 scoring task, {executor}",
                         ", ".join(f"{c} tasks {x:.2f}x" for c, x in speedups)))
    return rows


def write_readme(figures: dict[str, float]) -> None:
    text = README.read_text()
    start = text.index(README_START) + len(README_START)
    end = text.index(README_END)
    README.write_text(text[:start] + "\n" + readme_block(figures) + "\n" + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one run of each comparison, to keep the script working (tests)")
    parser.add_argument("--write", action="store_true",
                        help="write benchmarks/results.json and benchmarks/RESULTS.md")
    parser.add_argument("--output", type=Path, help="also write the figures (JSON) here")
    parser.add_argument("--scoring-rows", type=int, default=5000,
                        help="rows of the scoring day timed end to end (default 5000)")
    parser.add_argument("--scoring-sizes", type=lambda t: [int(x) for x in t.split(",")],
                        default=[20_000, 200_000, 2_000_000],
                        help="batch sizes for rows/s: task vs predict vs mlflow models predict")
    parser.add_argument("--fanout-rows", type=int, default=2_000_000,
                        help="rows of the day scored by 1, 2 and 4 mapped tasks")
    parser.add_argument("--heavy-repeat", type=int, default=1,
                        help="runs of each throughput size (default 1: minutes each at 2M)")
    parser.add_argument("--executors", default="local,celery",
                        help="local (always) and celery: also the training DAG on two Celery "
                             "workers (needs Redis, MLOPS_BENCH_CELERY_BROKER_URL)")
    parser.add_argument("--readme-only", action="store_true",
                        help="only rewrite the README's figures from benchmarks/results.json")
    args = parser.parse_args(argv)
    # stopped from outside (a CI limit, kill): stop the stack and drop its databases first
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.readme_only:
        write_readme(json.loads(RESULTS_JSON.read_text()))
        return 0
    repeat = 1 if args.quick else args.repeat
    heavy = 1 if args.quick else args.heavy_repeat
    sizes = [2000] if args.quick else args.scoring_sizes
    fanout_rows = 8000 if args.quick else args.fanout_rows
    figures: dict[str, float] = {}
    measured_on = machine()  # the code as the stack starts, whatever is committed meanwhile
    with tempfile.TemporaryDirectory(prefix="kedro-mlops-bench-") as tmp:
        state = Path(tmp)
        say(f"starting a stack of its own under {state}")
        with bench_stack(state) as (settings, client, dags):
            figures.update(bench_parse(dags, client, settings, 1 if args.quick else repeat))
            # --quick: a small model on both sides, to keep the script working in little time
            runs, dag_runs = bench_runs(client, state, repeat, QUICK_TRAINING if args.quick else {})
            figures.update(runs)
            first_rss = dag_runs[0]["rss"]
            figures.update({f"{k.removesuffix('_mb')}_after_first_run_mb": v
                            for k, v in first_rss.items()})
            figures["task_peak_rss_max_mb"] = max(task_peaks(r["run"].run_id) for r in dag_runs)
            figures.update(bench_scoring(client, settings, repeat, args.scoring_rows))
            figures.update(bench_throughput(client, settings, sizes, heavy, state))
            fanout = list(FANOUT[:2] if args.quick else FANOUT)
            figures.update(bench_fanout(client, settings, fanout_rows, fanout, ""))
            with contextlib.suppress(Exception):
                figures.update(airflow_rss(state))
        if "celery" in args.executors:
            say("starting a CeleryExecutor stack with two workers")
            with bench_stack(state / "celery", "celery") as (celery, client, _):
                # its training runs make this stack's champion, which the fan-out scores with
                figures.update(bench_celery(client, state / "celery", repeat))
                figures.update(bench_fanout(client, celery, fanout_rows, fanout, "celery_"))
                with contextlib.suppress(Exception):
                    figures.update(celery_rss(state / "celery"))
    figures = {k: round(v, 4) for k, v in figures.items()}
    table = render_table(figures)
    print(table)
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    if args.write:
        RESULTS_JSON.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        RESULTS_MD.write_text(
            "# Benchmark results\n\n"
            f"`make bench` ({repeat} runs of each side, alternating; medians unless named "
            f"min/max). {measured_on}.\n\n{table}\n")
        write_readme(figures)
        say(f"wrote {RESULTS_JSON.relative_to(REPO)}, {RESULTS_MD.relative_to(REPO)} and "
            "the README's figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
