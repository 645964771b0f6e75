"""Airflow operators that run a Kedro project's nodes (the cheap half, imported by DAG files).

Rendering (``kedro_mlops.render``) turns each Kedro node into one ``KedroNodeOperator``; what a task does
when it runs lives in ``session``, ``mlflow_run``, ``node_run``, ``model_alias``,
``model_registry`` and ``promotion``, each imported only then.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from airflow.sdk import BaseOperator

from kedro_mlops.config import KedroProject

log = logging.getLogger(__name__)

START_TASK_ID = "start_mlflow_run"
END_TASK_ID = "end_mlflow_run"
LOG_MODEL_TASK_ID = "log_and_register_model"
PROMOTION_TASK_ID = "evaluate_and_promote"


TASK_LOGGING = os.path.join(os.path.dirname(__file__), "task_logging.yml")


PINNED_XCOM_KEY = "pinned_runtime_params"


def _map_index(context: Any) -> int:
    index = getattr(context.get("ti"), "map_index", None)
    return -1 if index is None else int(index)


def _call(
    project: KedroProject,
    pipeline_name: str,
    context: Any,
    runtime_params: dict[str, Any] | None = None,
    pinned: bool = False,
):
    # Before Kedro is imported: it reads its logging config then.
    os.environ.setdefault("KEDRO_LOGGING_CONFIG", TASK_LOGGING)
    from kedro_mlops.runtime.session import DagRunCall

    merged = dict(runtime_params or {})
    if pinned:
        merged.update(
            context["ti"].xcom_pull(task_ids=START_TASK_ID, key=PINNED_XCOM_KEY) or {}
        )
    return DagRunCall(
        project=project,
        pipeline_name=pipeline_name,
        dag_id=context["dag_run"].dag_id,
        run_id=context["dag_run"].run_id,
        params=dict(context["params"]),
        declared=frozenset(context["dag"].params.keys()),
        runtime_params=merged,
        map_index=_map_index(context),
    )


def _mlflow_run_id(context: Any) -> str:
    run_id = context["ti"].xcom_pull(task_ids=START_TASK_ID)
    if not run_id:
        raise RuntimeError(
            f"No MLflow run id in the XCom of '{START_TASK_ID}': that task must succeed first."
        )
    return run_id


def _fail_fast_unless_retryable(run) -> Any:
    """Run ``run``; an error that is not retryable (``kedro_mlops.runtime.errors``) fails the
    task at once instead of using up its retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from kedro_mlops.runtime.errors import is_retryable

    try:
        return run()
    except Exception as error:
        if is_retryable(error):
            raise
        raise AirflowFailException(f"{type(error).__name__}: {error} (not retried)") from error


class _KedroProjectOperator(BaseOperator):
    """Base of the operators of a rendered Kedro DAG.

    ``runtime_params`` are Kedro runtime params the DAG sets for every task (airflow.yml
    ``runtime_params``); their values are Airflow templates, e.g. ``"{{ ds }}"``.
    """

    ui_color = "#ffc900"
    template_fields = ("runtime_params",)

    # No __init__ here: Airflow wraps the __init__ of every class of an operator, and each
    # wrapper deep-copies the DAG's params, so a third level would cost every task of a DAG file
    # at parse time (a third of the training DAG's parse, `make bench`). Each operator's own
    # __init__ (its signature is what `.partial()` checks) calls BaseOperator's, then this.
    def _bind(self, project: KedroProject, pipeline_name: str,
              runtime_params: dict[str, Any] | None) -> None:
        self.project = project
        self.pipeline_name = pipeline_name
        self.runtime_params = dict(runtime_params or {})

    def pre_execute(self, context: Any) -> None:
        # Before execute imports Kedro, which reads its logging config when first imported.
        os.environ.setdefault("KEDRO_LOGGING_CONFIG", TASK_LOGGING)
        # DAG files import no Kedro: if it is here, the executor worker preloaded it.
        log.info("Task runtime: %s", "warm (Kedro preloaded by the executor worker)"
                 if "kedro.framework.session" in sys.modules
                 else "cold (Kedro imported by this task; see kedro_mlops.runtime.warm_runtime)")
        super().pre_execute(context)

    def _call(self, context: Any, pinned: bool = True):
        return _call(self.project, self.pipeline_name, context, self.runtime_params, pinned)


class StartMlflowRunOperator(_KedroProjectOperator):
    """Checks the trigger params and opens (or finds again) the DAG run's MLflow run.

    It also marks FAILED the MLflow runs that earlier DAG runs of this DAG left RUNNING when
    Airflow says they are over (``kedro_mlops.runtime.mlflow_sweep``).

    With ``registered_model`` (``{"name": ..., "alias_param": ...}``) it also resolves the
    model's alias once for the whole DAG run: the version is tagged on the MLflow run and handed
    to every later task as the runtime param ``model_version``.
    """

    def __init__(self, *, project: KedroProject, pipeline_name: str,
                 runtime_params: dict[str, Any] | None = None,
                 registered_model: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._bind(project, pipeline_name, runtime_params)
        self.registered_model = registered_model

    def execute(self, context: Any) -> str:
        from kedro_mlops.runtime.mlflow_run import start_dag_run
        from kedro_mlops.runtime.model_alias import pin_model_version

        call = self._call(context, pinned=False)
        ti = context["ti"]

        def dag_run_state(run_id: str) -> str:
            # Airflow's own record, through the task's supervisor (Task SDK)
            return ti.get_dagrun_state(call.dag_id, run_id)

        run_id = _fail_fast_unless_retryable(lambda: start_dag_run(call, dag_run_state))
        if self.registered_model:
            # after the run exists, so that "no such model" is recorded on a FAILED MLflow run
            model = _fail_fast_unless_retryable(lambda: pin_model_version(
                call.params, run_id, self.registered_model["name"],
                self.registered_model.get("alias_param", "model_alias"),
            ))
            context["ti"].xcom_push(
                key=PINNED_XCOM_KEY, value={"model_version": model["model.version"]}
            )
        log.info("MLflow run of this DAG run: %s", run_id)
        return run_id


class KedroNodeOperator(_KedroProjectOperator):
    """Runs one Kedro node inside the DAG run's MLflow run."""

    def __init__(self, *, project: KedroProject, pipeline_name: str, node_name: str,
                 runtime_params: dict[str, Any] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._bind(project, pipeline_name, runtime_params)
        self.node_name = node_name

    def execute(self, context: Any) -> None:
        from kedro_mlops.runtime.fresh_stack import on_fresh_stack
        from kedro_mlops.runtime.node_run import run_node

        call = self._call(context)
        log.info("Kedro node '%s' of pipeline '%s'; data under %s",
                 self.node_name, self.pipeline_name, call.data_root)
        mlflow_run_id = _mlflow_run_id(context)
        _fail_fast_unless_retryable(
            lambda: on_fresh_stack(lambda: run_node(call, self.node_name, mlflow_run_id)))


class LogModelOperator(_KedroProjectOperator):
    """Logs the PipelineML's inference pipeline as one MLflow model and registers a version."""

    def __init__(self, *, project: KedroProject, pipeline_name: str, model_name: str,
                 runtime_params: dict[str, Any] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._bind(project, pipeline_name, runtime_params)
        self.model_name = model_name

    def execute(self, context: Any) -> str:
        from kedro_mlops.runtime.model_registry import log_and_register_model

        call = self._call(context)
        tags = {"airflow.dag_id": call.dag_id, "airflow.run_id": call.run_id}
        return log_and_register_model(call, _mlflow_run_id(context), self.model_name, tags)


class EvaluateAndPromoteOperator(_KedroProjectOperator):
    """Champion/challenger gate: scores the version this DAG run registered against the champion.

    The new version gets the alias ``challenger``; it becomes ``champion`` when there is none yet,
    when it beats the champion on this run's held-out data by the configured margin, or when the
    trigger param ``force_promotion`` is true. See ``kedro_mlops.runtime.promotion``.
    """

    ui_color = "#9fd3c7"

    def __init__(self, *, project: KedroProject, pipeline_name: str, model_name: str,
                 promotion: dict[str, Any], runtime_params: dict[str, Any] | None = None,
                 **kwargs) -> None:
        # one gate at a time across the DAG's runs: two concurrent trainings would otherwise
        # both compare with the same champion and both move the alias, the worse one last
        kwargs.setdefault("max_active_tis_per_dag", 1)
        super().__init__(**kwargs)
        self._bind(project, pipeline_name, runtime_params)
        self.model_name = model_name
        self.promotion = promotion

    def execute(self, context: Any) -> str:
        from kedro_mlops.runtime.promotion import FORCE_PARAM, evaluate_and_promote

        call = self._call(context)
        version = context["ti"].xcom_pull(task_ids=LOG_MODEL_TASK_ID)
        if not version:
            raise RuntimeError(
                f"No model version in the XCom of '{LOG_MODEL_TASK_ID}': that task must succeed "
                "first."
            )
        force = bool(call.params.get(FORCE_PARAM, False))
        tags = _fail_fast_unless_retryable(lambda: evaluate_and_promote(
            call, _mlflow_run_id(context), self.model_name, str(version), self.promotion, force,
        ))
        return tags["promotion.decision"]


class EndMlflowRunOperator(_KedroProjectOperator):
    """Marks the DAG run's MLflow run FINISHED once every node succeeded."""

    def __init__(self, *, project: KedroProject, pipeline_name: str,
                 runtime_params: dict[str, Any] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._bind(project, pipeline_name, runtime_params)

    def execute(self, context: Any) -> None:
        from kedro_mlops.runtime.mlflow_run import finish_dag_run

        finish_dag_run(_mlflow_run_id(context))


def on_task_failure(context: Any) -> None:
    ti = context["ti"]
    log.error(
        "Task '%s' of DAG run '%s' failed on try %s: %s. Its MLflow run stays RUNNING while "
        "retries remain, and is marked FAILED when the DAG run fails.",
        ti.task_id, context["dag_run"].run_id, ti.try_number, context.get("exception"),
    )


class MarkMlflowRunFailed:
    """DAG ``on_failure_callback``: the DAG run failed, so its MLflow run is FAILED too."""

    def __init__(self, project: KedroProject, pipeline_name: str) -> None:
        self.project = project
        self.pipeline_name = pipeline_name

    def __call__(self, context: Any) -> None:
        from kedro_mlops.runtime.mlflow_run import fail_dag_run

        dag_run = context["dag_run"]
        reason = context.get("reason") or "a task failed"
        run_id = fail_dag_run(_call(self.project, self.pipeline_name, context), str(reason))
        log.error("DAG run %s of %s failed (%s); MLflow run %s marked FAILED.",
                  dag_run.run_id, dag_run.dag_id, reason, run_id)


class WaitForFilesOperator(BaseOperator):
    """Waits for the files a run reads (late data), deferred: no worker slot is held meanwhile.

    ``path`` is formatted with ``lake_root`` and the DAG's runtime params once Airflow has
    rendered them, e.g. ``"{lake_root}/incoming/ds={batch_date}/"``. The task succeeds as soon
    as a file is there, and fails, not retried, naming the folder when ``timeout_seconds``
    passed first (airflow.yml ``wait_for_files``).
    """

    ui_color = "#c7d9f0"
    template_fields = ("runtime_params",)

    def __init__(self, *, path: str, timeout_seconds: float, poke_interval_seconds: float = 60,
                 runtime_params: dict[str, Any] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.timeout_seconds = timeout_seconds
        self.poke_interval_seconds = poke_interval_seconds
        self.runtime_params = dict(runtime_params or {})

    def _folder(self) -> str:
        from airflow.sdk.exceptions import AirflowFailException

        from kedro_mlops.config import lake_root

        names = {"lake_root": lake_root(), **self.runtime_params}
        try:
            return self.path.format(**names)
        except KeyError as missing:
            raise AirflowFailException(
                f"airflow.yml wait_for_files.path {self.path!r} names {{{missing.args[0]}}}, "
                f"which is neither lake_root nor a runtime param of the DAG: use one of "
                f"{', '.join('{' + n + '}' for n in sorted(names))}."
            ) from None

    def execute(self, context: Any) -> int:
        import time

        from kedro_mlops.runtime.file_sensor import FilesArrivedTrigger, files_under

        folder = self._folder()
        files = files_under(folder)
        if files:
            return self._arrived(folder, files)
        log.info("No file under %s yet: waiting up to %.0f s, deferred to the triggerer",
                 folder, self.timeout_seconds)
        self.defer(
            trigger=FilesArrivedTrigger(folder, time.time() + self.timeout_seconds,
                                        self.poke_interval_seconds),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        folder = self._folder()
        if event.get("status") != "arrived":
            raise AirflowFailException(
                f"No input file arrived under {folder} within {self.timeout_seconds:.0f} s "
                "(airflow.yml wait_for_files.timeout_seconds). Put the day's files there, then "
                "clear this task to wait again, or trigger the DAG with another batch_date."
            )
        return self._arrived(folder, event["files"])

    @staticmethod
    def _arrived(folder: str, files: list[str]) -> int:
        log.info("%d file(s) under %s: %s", len(files), folder, ", ".join(files[:10]))
        return len(files)
