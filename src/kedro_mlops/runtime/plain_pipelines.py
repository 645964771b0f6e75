"""A pipeline registry that serves a project's pipelines with every ``PipelineML`` demoted.

Node tasks run one node of a pipeline. Filtering a kedro-mlflow ``PipelineML`` rebuilds a
``PipelineML`` from the slice, whose consistency check fails (the slice leaves the inference
pipeline with free inputs), and kedro-mlflow's hook would log a model after every such run. Node
tasks therefore run the training nodes as a plain ``Pipeline``; the model is logged once, by a task
of its own (see ``model_registry.log_and_register_model``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from kedro.framework.project import pipelines
from kedro.pipeline import Pipeline

_project_registry: str | None = None


def register_pipelines() -> dict[str, Pipeline]:
    if _project_registry is None:
        raise RuntimeError("pipelines are loaded outside plain_pipelines.serving()")
    registered = importlib.import_module(_project_registry).register_pipelines()
    return {name: demote(pipeline) for name, pipeline in registered.items()}


def demote(pipeline: Pipeline) -> Pipeline:
    """The same nodes as a plain ``Pipeline`` (a ``PipelineML``'s nodes are its training nodes)."""
    training = getattr(pipeline, "training", None)
    return Pipeline(training.nodes) if isinstance(training, Pipeline) else pipeline


@contextmanager
def serving(package_name: str) -> Iterator[None]:
    """Serve ``package_name``'s pipelines, demoted, through ``kedro.framework.project.pipelines``
    while the block runs; then the registry Kedro served before (the project's own, once
    ``configure_project`` ran), so that a warm worker's next task or a caller in the same
    process does not get demoted pipelines it did not ask for.

    Enter after ``configure_project(package_name)`` and before a ``KedroSession`` runs.
    """
    global _project_registry
    before = (_project_registry, pipelines._pipelines_module)  # Kedro has no public getter
    _project_registry = f"{package_name}.pipeline_registry"
    pipelines.configure(__name__)
    try:
        yield
    finally:
        _project_registry = before[0]
        pipelines.configure(before[1])
