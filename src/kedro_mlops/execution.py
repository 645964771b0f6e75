"""What the Airflow tasks of a rendered Kedro DAG do when they run (the heavy half).

DAG files import only ``operators``; this module, with Kedro, MLflow and pandas behind it, is
imported inside a running task, so parsing a DAG file stays cheap.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io.core import get_filepath_str

from kedro_mlops import dag_run_tracking, plain_pipelines
from kedro_mlops.node_timing import node_timer
from kedro_mlops.project import KedroProject, lake_root, run_data_root
from kedro_mlops.run_catalog import RunScopedCatalog

log = logging.getLogger(__name__)

#: the tag kedro-mlflow sets, alone, from every node task's session
KEDRO_COMMAND_TAG = "kedro_command"
#: Trigger-form params for the deployment (a run note, the promotion gate) that never reach Kedro.
RUN_ANNOTATIONS = ("run_note", "force_promotion")


class InvalidRunParams(ValueError):
    """A trigger param that Kedro would not accept."""

    retryable = False


#: runtime params the deployment sets for every run (``kedro_session``): where the run's data is
DEPLOYMENT_PATHS = ("data_root", "lake_root")
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z]:/)")


def _leaves_its_folder(value: str) -> bool:
    """An absolute path, a URL (``s3://other-bucket``) or a path with a ``..`` segment: a value
    that, joined to a catalog path, would point outside the run's prefix."""
    text = value.strip().replace("\\", "/")
    return (text.startswith(("/", "~")) or bool(_URL_SCHEME.match(text))
            or ".." in text.split("/"))


def check_param_paths(params: Mapping[str, Any], runtime_params: Mapping[str, Any]) -> None:
    """Reject trigger params that would choose where a run reads or writes.

    Every path of a DAG run is rooted at the deployment's ``data_root`` / ``lake_root``; a param
    value is joined to those (``ds=<batch_date>``), so it may not be a path of its own. Runtime
    params of airflow.yml are checked too: they are rendered from trigger params.
    """
    owned = sorted(k for k in params if k in DEPLOYMENT_PATHS)
    if owned:
        raise InvalidRunParams(
            f"Trigger param(s) {', '.join(owned)} cannot be set: the deployment roots every run's "
            "data at its own prefix (MLOPS_RUNS_ROOT/<dag_id>/<run_id>, MLOPS_LAKE_ROOT). "
            "Remove them from the trigger params."
        )
    bad = [
        f"{key}={value!r}"
        for source in (params, runtime_params)
        for key, value in source.items()
        if key not in RUN_ANNOTATIONS and isinstance(value, str) and _leaves_its_folder(value)
    ]
    if bad:
        raise InvalidRunParams(
            f"Param(s) {', '.join(dict.fromkeys(bad))} would point outside this run's data "
            "(an absolute path, a URL or a '..' segment): a DAG param cannot choose where a run "
            "reads or writes. Give a plain value (e.g. batch_date=2026-11-27)."
        )


@dataclass(frozen=True)
class DagRunCall:
    """What a task knows about the DAG run it belongs to."""

    project: KedroProject
    pipeline_name: str
    dag_id: str
    run_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    #: params the DAG declares (its trigger form); Airflow checks them against their schema
    declared: frozenset[str] = frozenset()
    #: Kedro runtime params set by the DAG itself (airflow.yml ``runtime_params``, rendered by
    #: Airflow) and pinned by its first task (the model version): not in the trigger form
    runtime_params: Mapping[str, Any] = field(default_factory=dict)
    #: index of this task among the mapped copies of a fanned-out node (-1: not mapped)
    map_index: int = -1

    @property
    def data_root(self) -> str:
        return run_data_root(self.dag_id, self.run_id)


def kedro_runtime_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Trigger params as Kedro runtime params: ``model.max_depth`` → ``{"model": {"max_depth"}}``."""
    nested: dict[str, Any] = {}
    for key, value in params.items():
        if key in RUN_ANNOTATIONS:
            continue
        *parents, leaf = key.split(".")
        target = nested
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return nested


@contextmanager
def kedro_session(call: DagRunCall, data_root: str | None = None) -> Iterator[KedroSession]:
    bootstrap_project(call.project.project_path)
    plain_pipelines.use_for(call.project.package_name)
    runtime_params = {
        **kedro_runtime_params(call.params),
        **call.runtime_params,
        "data_root": data_root or call.data_root,
        "lake_root": lake_root(),
    }
    with KedroSession.create(
        project_path=call.project.project_path,
        env=call.project.env,
        conf_source=call.project.conf_source,
        runtime_params=runtime_params,
    ) as session:
        # Kedro has no public way to add a hook to one session; this one moves the datasets
        # the plan places under the run's data root (kedro_mlops.run_catalog).
        session._hook_manager.register(RunScopedCatalog(
            call.pipeline_name, call.project.project_path, runtime_params["data_root"]))
        yield session


def load_context(call: DagRunCall):
    """The project's KedroContext for this call.

    kedro-mlflow creates the project's experiment when a context loads; two DAG runs starting
    at once (a backfill next to the scheduled run, two triggers) both try, and the loser gets
    RESOURCE_ALREADY_EXISTS: by then the experiment exists, so loading again finds it. Every
    first load of a DAG run goes through here (the params check, the experiment's name).
    """
    from mlflow.exceptions import MlflowException

    try:
        with kedro_session(call) as session:
            return session.load_context()
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    with kedro_session(call) as session:
        return session.load_context()


def experiment_name(context, package_name: str) -> str:
    """The experiment of the project's kedro-mlflow config (mlflow.yml; without one, the package
    name). A project that turns kedro-mlflow's hooks off (``DISABLE_HOOKS_FOR_PLUGINS``) has no
    such config: its DAG runs go to the experiment kedro-mlflow's default would choose."""
    config = getattr(context, "mlflow", None)  # set by kedro-mlflow's hook from mlflow.yml
    return config.tracking.experiment.name if config is not None else package_name


def validate_params(call: DagRunCall) -> None:
    """Reject trigger params Kedro does not know, naming each, before any work is done.

    Checked against the project's parameters as configured, without the trigger params (Kedro
    merges runtime params into parameters, so any key would look known there).
    """
    check_param_paths(call.params, call.runtime_params)
    undeclared = [k for k in call.params if k not in call.declared and k not in RUN_ANNOTATIONS]
    if not undeclared:
        return
    bare = DagRunCall(call.project, call.pipeline_name, call.dag_id, call.run_id, params={},
                      runtime_params=call.runtime_params)
    known = load_context(bare).params
    unknown = []
    for key in undeclared:
        node: Any = known
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                unknown.append(key)
                break
            node = node[part]
    if unknown:
        raise InvalidRunParams(
            f"Unknown Kedro parameter(s) in the trigger params: {', '.join(sorted(unknown))}. "
            "Each key must be a param of the DAG's trigger form or name a parameter of the "
            "project's parameters*.yml (dotted for nested keys, e.g. 'model.max_depth')."
        )


def pin_model_version(
    call: DagRunCall, mlflow_run_id: str, model_name: str, alias_param: str
) -> dict[str, str]:
    """Resolve ``models:/<model_name>@<alias>`` once for the whole DAG run.

    Tags the version on the DAG run's MLflow run and returns the tags; the deployment hands the
    version to every later task (runtime param ``model_version``). Fails at once, naming the alias and how to
    get a model, when the registry has none.
    """
    from mlflow.exceptions import MlflowException

    alias = str(call.params.get(alias_param) or "champion")
    try:
        version = mlflow.MlflowClient().get_model_version_by_alias(model_name, alias)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise NoModelForAlias(
            f"No model version answers to 'models:/{model_name}@{alias}' in the MLflow Model "
            f"Registry ({err.message}). To get one: run the training DAG (the gate makes the "
            f"first version champion), or `make demo`; or point the alias at a version in the "
            f"MLflow UI (Models > {model_name} > version > Aliases)."
        ) from err
    log.info("models:/%s@%s is version %s (run %s) for this whole DAG run",
             model_name, alias, version.version, version.run_id)
    tags = {
        "model.name": model_name,
        "model.alias": alias,
        "model.version": str(version.version),
        "model.run_id": str(version.run_id),
    }
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_tag(mlflow_run_id, key, value)
    return tags


class NoModelForAlias(LookupError):
    """The registry has no version under this alias: retrying will not make one appear."""

    retryable = False


def start_dag_run(call: DagRunCall, dag_run_state=None) -> str:
    """Find or create this DAG run's MLflow run, after checking the trigger params.

    With ``dag_run_state`` (Airflow's state of another DAG run of this DAG, by run id), it
    then closes the MLflow runs that earlier DAG runs left RUNNING (see ``mlflow_sweep``).
    """
    validate_params(call)
    name = experiment_name(load_context(call), call.project.package_name)
    tags = {
        "kedro.pipeline": call.pipeline_name,
        "kedro.env": call.project.env,
        # Node tasks running side by side each have kedro-mlflow write this tag with a single
        # set_tag, which the MLflow server does as look-up-then-insert: two first writes collide
        # on the tag's key (a duplicate-key error failing one task). Created here with the run,
        # their writes are updates of one row.
        KEDRO_COMMAND_TAG: f"kedro run --pipelines={call.pipeline_name}",
    }
    # e.g. runtime.batch_date: which day a scoring run scored, searchable in the MLflow UI
    tags.update({f"runtime.{k}": str(v) for k, v in call.runtime_params.items()})
    note = call.params.get("run_note")
    if note:
        tags["mlflow.note.content"] = str(note)
    commit = os.environ.get("MLOPS_GIT_COMMIT")
    if commit:
        tags[dag_run_tracking.GIT_COMMIT_TAG] = commit
    run_id = dag_run_tracking.find_or_create_run(name, call.dag_id, call.run_id, tags)
    mlflow.MlflowClient().set_tag(run_id, "data_root", call.data_root)
    if dag_run_state is not None:
        from kedro_mlops.mlflow_sweep import close_abandoned_runs

        close_abandoned_runs(name, call.dag_id, call.run_id, dag_run_state)
    return run_id


def _peak_rss_mb() -> float:
    import resource

    # Linux reports kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_node(call: DagRunCall, node_name: str, mlflow_run_id: str) -> None:
    """Run one Kedro node inside the DAG run's MLflow run, leaving that run open.

    Records the node's wall time and the task's peak memory as metrics of the run; when the node
    fails with an error that carries ``metrics`` (e.g. rows rejected by a data check), those are
    recorded too, so the failed run shows them in the MLflow UI.
    """
    import time

    started = time.perf_counter()
    mlflow.start_run(run_id=mlflow_run_id)
    try:
        with kedro_session(call) as session:
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
        figures = _error_metrics(error)
        if figures:
            mlflow.log_metrics(figures)
        raise
    finally:
        # The DAG run is not over: hand the run back to the next task still RUNNING.
        mlflow.end_run(status="RUNNING")


def _error_metrics(error: BaseException) -> dict[str, float]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        metrics = getattr(current, "metrics", None)
        if isinstance(metrics, Mapping) and metrics:
            return {str(k): float(v) for k, v in metrics.items()}
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return {}


def finish_dag_run(mlflow_run_id: str) -> None:
    dag_run_tracking.end_run(mlflow_run_id, "FINISHED")


def fail_dag_run(call: DagRunCall, reason: str) -> str | None:
    return dag_run_tracking.fail_dag_run(call.dag_id, call.run_id, reason)


# --- the model: logged and registered once per DAG run ----------------------------------------


def _project_pipeline(call: DagRunCall):
    registry = importlib.import_module(f"{call.project.package_name}.pipeline_registry")
    return registry.register_pipelines()[call.pipeline_name]


def _fsspec_path(dataset) -> tuple[Any, str]:
    return dataset._fs, get_filepath_str(dataset._filepath, dataset._protocol)


def _materialize(names, remote_catalog, local_catalog) -> None:
    """Copy the files behind ``names`` from the run's data root to a local one.

    kedro-mlflow's ``KedroPipelineModel`` records each artifact by its local path, so artifacts
    that tasks wrote to S3 are brought next to the logging process first.
    """
    for name in names:
        remote_fs, remote_path = _fsspec_path(remote_catalog[name])
        _, local_path = _fsspec_path(local_catalog[name])
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        remote_fs.get(remote_path, local_path)


def _input_sample(catalog, input_name: str):
    """A few rows of the model's input, when the catalog can load it (as kedro-mlflow does)."""
    if input_name not in catalog:
        return None
    return catalog.load(input_name).head(5)


def existing_model_version(model_name: str, mlflow_run_id: str):
    versions = mlflow.MlflowClient().search_model_versions(
        f"name='{model_name}' and run_id='{mlflow_run_id}'"
    )
    return versions[0] if versions else None


def log_and_register_model(
    call: DagRunCall, mlflow_run_id: str, model_name: str, version_tags: Mapping[str, str]
) -> str:
    """Log the PipelineML's inference pipeline as one MLflow model and register one version.

    Idempotent: a retry after a successful registration returns the version it made.
    """
    from kedro_mlflow.mlflow import KedroPipelineModel
    from mlflow.models import infer_signature

    client = mlflow.MlflowClient()
    commit = client.get_run(mlflow_run_id).data.tags.get(dag_run_tracking.GIT_COMMIT_TAG)
    if commit:
        version_tags = {dag_run_tracking.GIT_COMMIT_TAG: commit, **version_tags}
    done = existing_model_version(model_name, mlflow_run_id)
    if done is not None:
        log.info("Run %s already registered %s v%s", mlflow_run_id, model_name, done.version)
        return done.version

    pipeline_ml = _project_pipeline(call)
    if not hasattr(pipeline_ml, "inference"):
        raise TypeError(
            f"Pipeline '{call.pipeline_name}' is not a kedro-mlflow PipelineML: "
            "there is no inference pipeline to log as a model."
        )
    artifact_names = sorted(
        n for n in pipeline_ml.inference.inputs() - {pipeline_ml.input_name}
        if not n.startswith("params:")
    )
    kwargs = dict(pipeline_ml.log_model_kwargs)
    signature = kwargs.pop("signature", "auto")
    with tempfile.TemporaryDirectory(prefix="kedro-model-") as tmp:
        with kedro_session(call) as remote_session:
            remote = remote_session.load_context().catalog
            if signature == "auto" or "input_example" not in kwargs:
                sample = _input_sample(remote, pipeline_ml.input_name)
                if signature == "auto":
                    signature = infer_signature(model_input=sample) if sample is not None else None
                if sample is not None:
                    kwargs.setdefault("input_example", sample)
        with kedro_session(call, data_root=str(Path(tmp) / "data")) as local_session:
            local = local_session.load_context().catalog
            _materialize(artifact_names, remote, local)
            model = KedroPipelineModel(
                pipeline=pipeline_ml.inference,
                catalog=local,
                input_name=pipeline_ml.input_name,
                **pipeline_ml.kpm_kwargs,
            )
            artifacts = model.extract_pipeline_artifacts(Path(tmp))
            mlflow.start_run(run_id=mlflow_run_id)
            try:
                info = mlflow.pyfunc.log_model(
                    python_model=model, artifacts=artifacts, signature=signature, **kwargs
                )
            finally:
                mlflow.end_run(status="RUNNING")
    version = mlflow.register_model(
        info.model_uri, model_name, tags={"mlflow_run_id": mlflow_run_id, **version_tags}
    )
    log.info("Registered %s version %s from run %s", model_name, version.version, mlflow_run_id)
    return version.version
