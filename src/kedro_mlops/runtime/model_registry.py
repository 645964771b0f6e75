"""The model of a training DAG run: logged and registered once, by a task of its own.

Node tasks run a kedro-mlflow ``PipelineML``'s training nodes as a plain pipeline
(``plain_pipelines``); this task logs its inference pipeline as one MLflow model with the
artifacts the training tasks wrote under the run's data root, and registers one version.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

import mlflow

from kedro_mlops.runtime import dag_run_tracking, pip_requirements
from kedro_mlops.runtime.datasets import fsspec_path
from kedro_mlops.runtime.session import DagRunCall, kedro_session

log = logging.getLogger(__name__)


def _project_pipeline(call: DagRunCall):
    registry = importlib.import_module(f"{call.project.package_name}.pipeline_registry")
    return registry.register_pipelines()[call.pipeline_name]


def _materialize(names, remote_catalog, local_catalog) -> None:
    """Copy the files behind ``names`` from the run's data root to a local one.

    kedro-mlflow's ``KedroPipelineModel`` records each artifact by its local path, so artifacts
    that tasks wrote to S3 are brought next to the logging process first.
    """
    for name in names:
        remote_fs, remote_path = fsspec_path(remote_catalog[name])
        _, local_path = fsspec_path(local_catalog[name])
        Path(local_path).parent.mkdir(parents=True, exist_ok=True)
        remote_fs.get(remote_path, local_path)


def _input_sample(catalog, input_name: str):
    """A few rows of the model's input, when the catalog can load it (as kedro-mlflow does)."""
    if input_name not in catalog:
        return None
    return catalog.load(input_name).head(5)


def _requirements_key(call, client, model_name, model, artifacts, kwargs) -> str | None:
    """The key of the model's pip requirements; when a version was inferred under it, its list
    goes into ``kwargs`` (MLflow then infers nothing). None: the project set its own."""
    if "pip_requirements" in kwargs or "conda_env" in kwargs:
        return None
    extra = list(kwargs.get("extra_pip_requirements") or [])
    key = pip_requirements.requirements_key(
        model, artifacts, kwargs.get("code_paths") or [], call.project.package_name, extra)
    cached = key and pip_requirements.cached_requirements(client, model_name, key)
    if cached:
        kwargs.pop("extra_pip_requirements", None)  # already in the list
        kwargs["pip_requirements"] = cached
    return key


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
            key = _requirements_key(call, client, model_name, model, artifacts, kwargs)
            mlflow.start_run(run_id=mlflow_run_id)
            try:
                with pip_requirements.inference_watch() as clean:
                    info = mlflow.pyfunc.log_model(
                        python_model=model, artifacts=artifacts, signature=signature, **kwargs
                    )
                if key and not clean():
                    key = None
            finally:
                mlflow.end_run(status="RUNNING")
    tags = {"mlflow_run_id": mlflow_run_id, **version_tags}
    if key:
        tags[pip_requirements.KEY_TAG] = key
    version = mlflow.register_model(info.model_uri, model_name, tags=tags)
    log.info("Registered %s version %s from run %s", model_name, version.version, mlflow_run_id)
    return version.version
