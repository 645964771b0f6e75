"""Helpers shared by the DAG tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CONTROL_TASKS = {"start_mlflow_run", "log_and_register_model", "evaluate_and_promote",
                 "end_mlflow_run", "wait_for_files"}


def load_dag(path: Path):
    spec = importlib.util.spec_from_file_location(f"dag_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def dag_edges(dag, exclude=frozenset()) -> set[tuple[str, str]]:
    return {
        (up, task.task_id)
        for task in dag.tasks
        if task.task_id not in exclude
        for up in task.upstream_task_ids
        if up not in exclude
    }


def pipeline_edges(project_path: Path, pipeline_name: str) -> set[tuple[str, str]]:
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    pipeline = pipelines[pipeline_name]
    return {
        (parent.name, child.name)
        for child, parents in pipeline.node_dependencies.items()
        for parent in parents
    }
