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
CONTROL_TASKS = {"start_mlflow_run", "end_mlflow_run", "log_and_register_model",
                 "evaluate_and_promote"}
RESULTS_JSON = REPO / "benchmarks" / "results.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"

os.environ.setdefault("DO_NOT_TRACK", "1")
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
    from kedro_mlops.airflow_client import AirflowClient
    from kedro_mlops.render import render
    from kedro_mlops.settings import Settings
    from kedro_mlops.stack import (
        ProcessComponent,
        core_components,
        free_port,
        start_services,
        stop_services,
    )
    from kedro_mlops.stack.airflow import service_specs
    from kedro_mlops.stack.postgres import drop_databases

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
    overrides = {} if executor == "local" else {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": CELERY_BROKER}
    specs = service_specs(settings, dags_folder=dags, overrides=overrides)
    if executor == "celery":
        from kedro_mlops.stack import ServiceSpec
        from kedro_mlops.stack.airflow import celery_worker_argv

        flush_celery_broker()
        specs += [ServiceSpec(
            name=f"airflow-celery-{name}",
            # two workers on one machine: their log servers would both want port 8793
            argv=[*celery_worker_argv(hostname=f"{name}@%h", concurrency=1), "--skip-serve-logs"],
            health=celery_ping(name), env=specs[0].env, cwd=state, start_timeout=120.0,
            stop_timeout=30.0,
        ) for name in CELERY_WORKERS]
    components = core_components(settings) + [ProcessComponent(spec, settings) for spec in specs]
    os.environ.update(settings.env())
    try:
        start_services(settings, components=components, progress=lambda m: None)
        with AirflowClient.for_local_stack(state, port=settings.airflow_port,
                                           progress=lambda m: None) as client:
            yield settings, client, dags
    finally:
        try:
            stop_services(settings, components=components, progress=lambda m: None)
        finally:
            drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])
            if executor == "celery":
                flush_celery_broker()


def run_dag(client, dag_id: str, conf: dict | None = None) -> dict[str, Any]:
    """Trigger, wait for success; the run's wall time and its task instances."""
    client.wait_for_dag(dag_id, timeout=180)
    client.unpause(dag_id)
    started = time.monotonic()
    run = client.trigger(dag_id, conf or {})
    run = client.wait_for_run(dag_id, run.run_id, timeout=900, poll=0.5)
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
def kedro_run(args: list[str], data_root: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(Path(sys.executable).with_name("kedro")), "run", *args,
         "--params", f"data_root={data_root}"],
        cwd=PROJECT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "KEDRO_LOGGING_CONFIG": str(REPO / "src/kedro_mlops/task_logging.yml")},
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


def bench_runs(client, state: Path, repeat: int) -> tuple[dict[str, float], list[dict]]:
    figures: dict[str, float] = {}
    dag_runs, kedro_runs, node_cli = [], [], []
    for i in range(repeat):
        local = state / f"kedro-run-{i}"
        sides: list[tuple[str, Callable[[], None]]] = [
            ("dag", lambda: dag_runs.append({**run_dag(client, TRAINING),
                                             "rss": airflow_rss(state)})),
            ("kedro", lambda local=local: kedro_runs.append(
                kedro_run(["--pipeline", "training"], local))),
        ]
        for name, side in sides if i % 2 == 0 else sides[::-1]:
            side()
            say(f"training {name} run {i + 1}/{repeat}: "
                f"{dag_runs[-1]['seconds'] if name == 'dag' else kedro_runs[-1]:.1f} s")
        node_cli.append(kedro_run(["--pipeline", "data_processing", "--nodes", NODE], local))
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


def bench_celery(client, repeat: int, kedro_run_s: float) -> dict[str, float]:
    """The training DAG on two Celery workers: trigger -> success and each task's overhead."""
    results = []
    for i in range(repeat):
        results.append(run_dag(client, TRAINING))
        say(f"training DAG on 2 Celery workers, run {i + 1}/{repeat}: "
            f"{results[-1]['seconds']:.1f} s")
    runs = stats([r["seconds"] for r in results])
    overheads = [o for r in results for o in breakdown(r)["overheads"]]
    return {"celery_training_dag_s": runs["median"],
            "celery_training_dag_vs_kedro_run": runs["median"] / kedro_run_s,
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

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=False,
                            capture_output=True, text=True).stdout.strip() or "?"
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
    ("celery_training_dag_s", "s", "training DAG on 2 Celery workers (median)"),
    ("celery_training_dag_vs_kedro_run", "x", "training DAG on Celery / kedro run"),
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
            text = f"{value:.2f}x" if unit == "x" else f"{value:.2f} {unit}" \
                if unit == "s" else f"{value:.0f} {unit}"
            lines.append(f"| `{key}` | {text} | {what} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each side (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="one run of each comparison, to keep the script working (tests)")
    parser.add_argument("--write", action="store_true",
                        help="write benchmarks/results.json and benchmarks/RESULTS.md")
    parser.add_argument("--output", type=Path, help="also write the figures (JSON) here")
    parser.add_argument("--scoring-rows", type=int, default=5000)
    parser.add_argument("--executors", default="local,celery",
                        help="local (always) and celery: also the training DAG on two Celery "
                             "workers (needs Redis, MLOPS_BENCH_CELERY_BROKER_URL)")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="kedro-mlops-bench-") as tmp:
        state = Path(tmp)
        say(f"starting a stack of its own under {state}")
        with bench_stack(state) as (settings, client, dags):
            figures.update(bench_parse(dags, client, settings, max(repeat, 3)))
            runs, dag_runs = bench_runs(client, state, repeat)
            figures.update(runs)
            first_rss = dag_runs[0]["rss"]
            figures.update({f"{k.removesuffix('_mb')}_after_first_run_mb": v
                            for k, v in first_rss.items()})
            figures["task_peak_rss_max_mb"] = max(task_peaks(r["run"].run_id) for r in dag_runs)
            figures.update(bench_scoring(client, settings, repeat, args.scoring_rows))
            with contextlib.suppress(Exception):
                figures.update(airflow_rss(state))
        if "celery" in args.executors:
            say("starting a CeleryExecutor stack with two workers")
            with bench_stack(state / "celery", "celery") as (_, client, _):
                figures.update(bench_celery(client, repeat, figures["training_kedro_run_s"]))
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
            f"min/max). {machine()}.\n\n{table}\n")
        say(f"wrote {RESULTS_JSON.relative_to(REPO)} and {RESULTS_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
