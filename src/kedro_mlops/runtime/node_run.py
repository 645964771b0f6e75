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


class OneRequestForTheNodesParams:
    """kedro-mlflow logs a node's parameters with one request to the MLflow server each (99
    per training DAG run here, 11 ms apiece); this logs them in one batch instead, with the
    names and values kedro-mlflow would give them (its flattening and renaming), and skips its
    own loop for this node.

    Its loop is skipped by lowering the hook's ``_is_mlflow_enabled`` flag for the node's
    duration (kedro-mlflow reads it there, and at the pipeline's end, when it is restored); a
    kedro-mlflow without that flag, or a value longer than MLflow's limit (kedro-mlflow's
    ``long_params_strategy`` decides those), is left to kedro-mlflow as before.
    """

    def __init__(self, hook_manager) -> None:
        self._hook_manager = hook_manager
        self._suspended = None

    def _kedro_mlflow_hook(self):
        try:
            from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook
        except ImportError:
            return None
        if not self._hook_manager.is_registered(mlflow_hook):
            return None  # the project turned kedro-mlflow's hooks off
        if getattr(mlflow_hook, "_is_mlflow_enabled", None) is not True:
            return None  # tracking off for this pipeline, or a kedro-mlflow we do not know
        return mlflow_hook

    # before kedro-mlflow's own before_node_run
    @hook_impl(tryfirst=True)
    def before_node_run(self, node, inputs) -> None:
        from kedro_mlflow.framework.hooks.utils import _flatten_dict
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

        hook = self._kedro_mlflow_hook()
        if hook is None or mlflow.active_run() is None:
            return
        params = {(name[len("params:"):] if name != "parameters" else name): value
                  for name, value in inputs.items()
                  if name.startswith("params:") or name == "parameters"}
        if hook.flatten:
            params = _flatten_dict(d=params, recursive=hook.recursive, sep=hook.sep)
        params = {hook.sanitize_param_name(k): v for k, v in params.items()}
        if any(len(str(v)) > MAX_PARAM_VAL_LENGTH for v in params.values()):
            return
        if params:
            mlflow.log_params(params)
        hook._is_mlflow_enabled = False
        self._suspended = hook

    def _restore(self) -> None:
        if self._suspended is not None:
            self._suspended._is_mlflow_enabled = True
            self._suspended = None

    @hook_impl
    def after_node_run(self) -> None:
        self._restore()

    @hook_impl
    def on_node_error(self) -> None:
        self._restore()


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
            # Kedro has no public way to add a hook to one session
            session._hook_manager.register(ReuseTheActiveRun())
            session._hook_manager.register(OneRequestForTheNodesParams(session._hook_manager))
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
