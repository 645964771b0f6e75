"""A pipeline registry that serves a project's pipelines with every ``PipelineML`` demoted.

Node tasks run one node of a pipeline. Filtering a kedro-mlflow ``PipelineML`` rebuilds a
``PipelineML`` from the slice, whose consistency check fails (the slice leaves the inference
pipeline with free inputs), and kedro-mlflow's hook would log a model after every such run. Node
tasks therefore run the training nodes as a plain ``Pipeline``; the model is logged once, by a task
of its own (see ``execution.log_and_register_model``).
"""

from __future__ import annotations

import importlib

from kedro.framework.project import pipelines
from kedro.pipeline import Pipeline

_project_registry: str | None = None


def register_pipelines() -> dict[str, Pipeline]:
    if _project_registry is None:
        raise RuntimeError("plain_pipelines.use_for() was not called before pipelines were loaded")
    registered = importlib.import_module(_project_registry).register_pipelines()
    return {name: demote(pipeline) for name, pipeline in registered.items()}


def demote(pipeline: Pipeline) -> Pipeline:
    """The same nodes as a plain ``Pipeline`` (a ``PipelineML``'s nodes are its training nodes)."""
    training = getattr(pipeline, "training", None)
    return Pipeline(training.nodes) if isinstance(training, Pipeline) else pipeline


def use_for(package_name: str) -> None:
    """Serve ``package_name``'s pipelines, demoted, through ``kedro.framework.project.pipelines``.

    Call after ``configure_project(package_name)`` and before a ``KedroSession`` runs.
    """
    global _project_registry
    _project_registry = f"{package_name}.pipeline_registry"
    pipelines.configure(__name__)
