"""Real faults during real DAG runs: processes SIGKILLed, servers stopped, connections cut.

Each test breaks one thing while a run of the tiny training DAG is at a known point (a node task
hung right before it saves its output, see ``tests/fault_plugin``), then asserts the exact end
state in Airflow (run and task tries), MLflow (runs, model versions in PostgreSQL) and S3 (the
objects under the run's data root).
"""

from __future__ import annotations

import os
import pickle
import signal

import psutil
import pytest
from e2e.conftest import wait_until
from e2e.fault_switch import arm, fired, hung_pid, release
from e2e.mlflow_queries import model_versions, runs_of_dag_run
from e2e.task_tries import service_log_lines, tries_logs

from kedro_mlops.local.stack.s3 import s3_client

from .conftest import DAG_ID, HEARTBEAT_TIMEOUT, ORPHAN_CHECK_INTERVAL

pytestmark = pytest.mark.e2e

EXPERIMENT = "tiny"
MODEL = "tiny_scale"
NODE = "prep.fit_scale"
#: every object the DAG run hands between its tasks, under its data root
OUTPUTS = ("numbers.parquet", "scale.pkl", "scaled.parquet")


def _hang_in_node(stack, run_id: str, target_max: float) -> tuple[object, int]:
    """Trigger a run whose NODE stops right before it saves its output; the fault, the pid."""
    hang = arm(stack.faults, DAG_ID, run_id, NODE, "hang_in_node")
    stack.airflow.trigger(DAG_ID, {"target_max": target_max}, run_id=run_id)
    return hang, hung_pid(hang, timeout=300)


def _tries(stack, run_id: str) -> dict[str, list[str]]:
    """Each task's tries, as the state each one ended in."""
    return {ti.task_id: [t.state for t in stack.airflow.task_tries(DAG_ID, run_id, ti.task_id)]
            for ti in stack.airflow.task_instances(DAG_ID, run_id)}


def _one_finished_run(run_id: str, target_max: float):
    """The DAG run's single MLflow run, FINISHED, with the result of its last task."""
    (mlflow_run,) = runs_of_dag_run(DAG_ID, run_id, EXPERIMENT)
    assert mlflow_run.info.status == "FINISHED"
    assert mlflow_run.data.metrics["summary.y_max"] == pytest.approx(target_max)
    (version,) = [v for v in model_versions(MODEL) if v.run_id == mlflow_run.info.run_id]
    assert version.tags["airflow.run_id"] == run_id
    return mlflow_run, version


def _objects(stack, mlflow_run) -> dict[str, bytes]:
    """Every object under the run's data root, by name relative to it."""
    prefix = mlflow_run.data.tags["data_root"].removeprefix(f"s3://{stack.settings.bucket}/")
    s3 = s3_client(stack.settings)
    listing = s3.list_objects_v2(Bucket=stack.settings.bucket, Prefix=prefix + "/")
    return {o["Key"].removeprefix(prefix + "/"):
            s3.get_object(Bucket=stack.settings.bucket, Key=o["Key"])["Body"].read()
            for o in listing.get("Contents", [])}


def _assert_outputs_whole(objects: dict[str, bytes], target_max: float) -> None:
    """One object per output, each complete: the scale loads and scales the numbers to target."""
    import io

    import pandas as pd

    assert sorted(objects) == sorted(OUTPUTS)
    numbers = pd.read_parquet(io.BytesIO(objects["numbers.parquet"]))
    scale = pickle.loads(objects["scale.pkl"])
    assert scale == pytest.approx(target_max / numbers["x"].max())
    assert pd.read_parquet(io.BytesIO(objects["scaled.parquet"]))["y"].max() == \
        pytest.approx(target_max)


def _first_try_except(stack, run_id: str, tries: dict[str, list[str]], task: str,
                      first: list[str]) -> None:
    """``task`` took the tries ``first``, every other task one try, which succeeded; if not, the
    message shows the failed tries of each task that differs: their logs and the scheduler's
    lines on them."""
    expected = {t: first if t == task else ["success"] for t in tries}
    if tries == expected:
        return
    failed = [(t, -1, n) for t, states in tries.items() if states != expected[t]
              for n, state in enumerate(states, 1) if state != "success"]
    scheduler_log = stack.components["airflow-scheduler"].process.log_path
    assert tries == expected, "\n".join(
        [str(tries), tries_logs(stack.airflow, DAG_ID, run_id, failed)]
        + [service_log_lines(scheduler_log, t) for t, _, _ in failed])


def test_a_node_task_sigkilled_in_its_node_is_retried_into_the_same_run(fault_stack,
                                                                         record_fault):
    row = record_fault(f"SIGKILL task process of {NODE} mid-node")
    stack, run_id, target = fault_stack, "manual__sigkill_node", 3.0
    hang, pid = _hang_in_node(stack, run_id, target)
    os.kill(pid, signal.SIGKILL)

    run = stack.airflow.wait_for_run(DAG_ID, run_id, timeout=600)
    assert run.state == "success"
    tries = _tries(stack, run_id)
    _first_try_except(stack, run_id, tries, NODE, ["failed", "success"])
    killed_log = stack.airflow.task_log(DAG_ID, run_id, NODE, 1)
    assert "-9" in killed_log or "SIGKILL" in killed_log, killed_log[-2000:]
    mlflow_run, version = _one_finished_run(run_id, target)
    _assert_outputs_whole(_objects(stack, mlflow_run), target)
    assert fired(hang)
    row.update(airflow="run success; node try 1 failed, try 2 success",
               mlflow=f"1 run FINISHED, 1 version (v{version.version})",
               s3="3 outputs, each once, whole")


def test_the_scheduler_sigkilled_mid_run_and_restarted_completes_the_run(fault_stack,
                                                                         record_fault):
    row = record_fault("SIGKILL scheduler (+executor) mid-run, restart")
    stack, run_id, target = fault_stack, "manual__sigkill_scheduler", 4.0
    _, pid = _hang_in_node(stack, run_id, target)
    old_scheduler = stack.kill("airflow-scheduler")  # with its executor and task supervisors
    # the task process, orphaned, goes too: nothing is left to report its end
    wait_until(lambda: not psutil.pid_exists(pid), 30, f"orphaned task {pid} to exit")
    stack.start("airflow-scheduler")
    assert stack.pid("airflow-scheduler") != old_scheduler

    # the new scheduler takes over the dead one's task instance, finds the task gone (no
    # heartbeat), fails that try and retries it
    run = stack.airflow.wait_for_run(DAG_ID, run_id,
                                     timeout=300 + 2 * (HEARTBEAT_TIMEOUT + ORPHAN_CHECK_INTERVAL))
    assert run.state == "success"
    tries = _tries(stack, run_id)
    _first_try_except(stack, run_id, tries, NODE, ["failed", "success"])
    mlflow_run, version = _one_finished_run(run_id, target)
    _assert_outputs_whole(_objects(stack, mlflow_run), target)
    row.update(airflow="run success; orphaned node try 1 failed, try 2 success",
               mlflow=f"1 run FINISHED, 1 version (v{version.version})",
               s3="3 outputs, each once, whole")


def test_a_dag_run_that_died_without_its_callback_is_closed_by_the_next_run(fault_stack,
                                                                            record_fault):
    """The scheduler dies mid-run and the operator marks the stuck run failed in the REST API:
    no failure callback runs, so the next DAG run's first task closes its MLflow run."""
    row = record_fault("SIGKILL scheduler, run marked failed via API (no callback)")
    stack = fault_stack
    dead, after = "manual__died_without_callback", "manual__after_the_dead_run"
    _, pid = _hang_in_node(stack, dead, 5.0)
    stack.kill("airflow-scheduler")
    wait_until(lambda: not psutil.pid_exists(pid), 30, f"orphaned task {pid} to exit")
    stack.airflow.request("PATCH", f"/dags/{DAG_ID}/dagRuns/{dead}", json={"state": "failed"})
    (abandoned,) = runs_of_dag_run(DAG_ID, dead, EXPERIMENT)
    assert abandoned.info.status == "RUNNING"  # nothing else will ever close it
    stack.start("airflow-scheduler")

    stack.airflow.trigger(DAG_ID, {"target_max": 6.0}, run_id=after)
    assert stack.airflow.wait_for_run(DAG_ID, after, timeout=600).state == "success"
    _one_finished_run(after, 6.0)
    assert stack.airflow.get_run(DAG_ID, dead).state == "failed"
    import mlflow

    closed = mlflow.MlflowClient().get_run(abandoned.info.run_id)
    assert closed.info.status == "FAILED"
    assert closed.data.tags["airflow.swept_by_run_id"] == after
    assert f"DAG run {dead} ended 'failed'" in closed.data.tags["airflow.failure"]
    assert closed.info.end_time is not None
    assert [v for v in model_versions(MODEL) if v.run_id == abandoned.info.run_id] == []
    row.update(airflow="dead run failed; next run success",
               mlflow="dead run FAILED by the next run's first task",
               s3="-")


def test_s3_stopped_while_a_task_writes_then_started_again(fault_stack, record_fault):
    row = record_fault("S3 server stopped during a write, restarted")
    stack, run_id, target = fault_stack, "manual__s3_down_mid_write", 7.0
    hang, _ = _hang_in_node(stack, run_id, target)
    stack.stop("s3")
    release(hang)  # the node saves its output into the stopped server
    wait_until(lambda: {ti.task_id: ti.state for ti in stack.airflow.task_instances(
        DAG_ID, run_id)}.get(NODE) == "up_for_retry", 600, f"{NODE} to fail its first try")
    stack.start("s3")
    (mlflow_run,) = runs_of_dag_run(DAG_ID, run_id, EXPERIMENT)
    # the failed write left nothing a reader could take for the scale
    assert sorted(_objects(stack, mlflow_run)) == ["numbers.parquet"]

    run = stack.airflow.wait_for_run(DAG_ID, run_id, timeout=600)
    assert run.state == "success"
    failed_log = stack.airflow.task_log(DAG_ID, run_id, NODE, 1)
    assert stack.settings.s3_endpoint_url in failed_log, failed_log[-3000:]
    _first_try_except(stack, run_id, _tries(stack, run_id), NODE, ["failed", "success"])
    mlflow_run, version = _one_finished_run(run_id, target)
    _assert_outputs_whole(_objects(stack, mlflow_run), target)
    row.update(airflow="node try 1 failed naming the endpoint, try 2 success",
               mlflow=f"1 run FINISHED, 1 version (v{version.version})",
               s3="no partial object; 3 outputs whole")


def test_mlflow_database_connections_cut_and_server_restarted_mid_run(fault_stack,
                                                                     record_fault):
    from kedro_mlops.local.stack.postgres import _connect

    row = record_fault("mlflow DB connections terminated, MLflow restarted")
    stack, run_id, target = fault_stack, "manual__mlflow_db_cut", 8.0
    hang, _ = _hang_in_node(stack, run_id, target)
    admin = _connect(stack.settings.postgres_url, timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (stack.settings.mlflow_db,))
        (terminated,) = cur.fetchone()
    admin.close()
    assert terminated > 0  # the MLflow server held connections to its database
    release(hang)  # the node logs its metrics through the server's cut connections
    wait_until(lambda: {ti.task_id: ti.state for ti in stack.airflow.task_instances(
        DAG_ID, run_id)}.get(NODE) in ("success", "up_for_retry"), 600, f"{NODE} to end")
    stack.stop("mlflow")
    stack.start("mlflow")

    run = stack.airflow.wait_for_run(DAG_ID, run_id, timeout=600)
    assert run.state == "success"
    tries = _tries(stack, run_id)
    # the node logged through the cut connections on its first try (the server replaced them);
    # tasks that met the restart may have needed their retry, and each ended in success
    assert tries[NODE] == ["success"], tries
    assert all(t[-1] == "success" for t in tries.values()), tries
    mlflow_run, version = _one_finished_run(run_id, target)
    assert float(mlflow_run.data.params["target_max"]) == target
    assert f"task.{NODE}.seconds" in mlflow_run.data.metrics  # logged before the restart
    _assert_outputs_whole(_objects(stack, mlflow_run), target)
    row.update(airflow=f"run success; {sum(map(len, tries.values()))} tries for "
                       f"{len(tries)} tasks",
               mlflow=f"1 run FINISHED, 1 version (v{version.version})",
               s3="3 outputs, each once, whole")
