"""Run one Kedro node as one Airflow task, inside the DAG run's MLflow run."""

from __future__ import annotations

import time

import mlflow
from kedro.framework.hooks import hook_impl

from kedro_mlops.runtime.errors import error_metrics
from kedro_mlops.runtime.node_timing import node_timer
from kedro_mlops.runtime.session import DagRunCall, kedro_session


def _peak_rss_mb() -> float:
    import resource

    # Linux reports kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ReuseTheActiveRun:
    """kedro-mlflow reopens its run before every node, as a nested run when the project's
    mlflow.yml says ``run.nested: true`` (its template's default): three calls to the MLflow
    server per node task that only push the DAG run's run, already active in this thread, on
    MLflow's run stack a second time. Not nested, kedro-mlflow finds it active and goes on.
    """

    # after kedro-mlflow's own after_context_created, which builds the config from mlflow.yml
    @hook_impl(trylast=True)
    def after_context_created(self, context) -> None:
        config = getattr(context, "mlflow", None)
        if config is not None and mlflow.active_run() is not None:
            config.tracking.run.nested = False


def run_node(call: DagRunCall, node_name: str, mlflow_run_id: str) -> None:
    """Run one Kedro node inside the DAG run's MLflow run, leaving that run open.

    Records the node's wall time and the task's peak memory as metrics of the run; when the node
    fails with an error that carries ``metrics`` (e.g. rows rejected by a data check), those are
    recorded too, so the failed run shows them in the MLflow UI.
    """
    started = time.perf_counter()
    mlflow.start_run(run_id=mlflow_run_id)
    try:
        with kedro_session(call) as session:
            session._hook_manager.register(ReuseTheActiveRun())  # no public way for one session
            session.run(pipeline_names=[call.pipeline_name], node_names=[node_name])
        figures = {
            f"task.{node_name}.seconds": time.perf_counter() - started,
            f"task.{node_name}.peak_rss_mb": _peak_rss_mb(),
        }
        if node_name in node_timer.seconds:
            figures[f"task.{node_name}.node_seconds"] = node_timer.seconds[node_name]
        # mapped copies of a node log the same names, one step each
        mlflow.log_metrics(figures, step=max(call.map_index, 0))
    except Exception as error:
        figures = error_metrics(error)
        if figures:
            mlflow.log_metrics(figures)
        raise
    finally:
        # The DAG run is not over: hand the run back to the next task still RUNNING.
        mlflow.end_run(status="RUNNING")
