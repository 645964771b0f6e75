"""One typed plan per DAG, built between reading a Kedro project and rendering it.

The plan says which tasks the DAG has (a node task per Kedro node, the control tasks around them,
TaskGroups, mapped tasks), how they depend on each other, its trigger params, and for every
dataset the nodes read or write, where it lives while a DAG run runs:

- ``stays``: where the catalog says. Raw inputs (no node writes them), external datasets (S3,
  databases, absolute paths outside the project) and anything already under the run's data root
  (``${runtime_params:data_root}``).
- ``persisted``: a ``MemoryDataset`` (or an undeclared dataset) that one node task writes and
  another reads: a ``RunScopedDataset`` under the run's data root (Parquet for pandas frames,
  pickle otherwise), since tasks run in separate processes, possibly on separate machines.
- ``remapped``: a dataset whose file is relative to the project (``data/02_intermediate/x.pq``):
  the same dataset type, at the same relative path under the run's data root, so that concurrent
  runs and other workers never share or miss the project folder's copy.
- ``scratch``: the local file of a kedro-mlflow ``MlflowArtifactDataset`` relative to the
  project (a plot, a report): ``mlflow.log_artifact`` needs a local file, and its durable copy is
  the DAG run's MLflow run, so it is written under the task's own scratch folder (two runs at
  once would otherwise overwrite each other's file before uploading it) and read back from the
  MLflow run by a task that loads it.

The renderer prints the plan into the DAG file; each task builds the same placements at run time
(``dataset_placements``) and overrides its catalog with them (``kedro_mlops.runtime.session.kedro_session``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kedro_mlops.read.errors import InvalidTaskId, MemoryDatasetBetweenTasks, RenderError
from kedro_mlops.read.project import DEFAULT_PIPELINE

# Airflow's rule for task ids (airflow.sdk.definitions._internal.node.validate_key)
TASK_ID = re.compile(r"^[\w.-]{1,250}$")

STAYS, PERSISTED, REMAPPED, SCRATCH = "stays", "persisted", "remapped", "scratch"
START, WAIT, END, LOG_MODEL, PROMOTE = "start", "wait", "end", "log_model", "promote"
CONTROL_TASK_IDS = {START: "start_mlflow_run", WAIT: "wait_for_files", END: "end_mlflow_run",
                    LOG_MODEL: "log_and_register_model", PROMOTE: "evaluate_and_promote"}
#: airflow.yml ``wait_for_files``: required and optional keys
WAIT_FOR_FILES_KEYS = ({"path", "timeout_seconds"}, {"poke_interval_seconds"})
#: airflow.yml: what to do with a MemoryDataset between tasks / a path relative to the project
DATASET_POLICIES = {"memory_datasets": ("persist", "refuse"), "relative_paths": ("remap", "refuse")}
#: every key a section of airflow.yml may hold: kedro-airflow's, read by the template, and ours
AIRFLOW_KEYS = frozenset({
    "description", "schedule", "start_date", "catchup", "max_active_runs", "tags", "params",
    "owner", "retries", "retry_delay_seconds", "retry_exponential_backoff", "pool",
    "runtime_params", "pin_model_alias", "registered_model_name", "promotion", "outlets",
    "fan_out", "wait_for_files", *DATASET_POLICIES,
})
FORCE_PROMOTION_PARAM = {
    "default": False,
    "type": "boolean",
    "description": "Make the new model version champion whatever its score on the held-out data",
}
#: the path keys Kedro makes absolute against the project (kedro.framework.context)
_PATH_KEYS = ("filepath", "path")


def dag_id(package_name: str, pipeline_name: str) -> str:
    """The DAG id the template gives the DAG of a pipeline: ``<package>[_<pipeline>]``."""
    return package_name if pipeline_name == DEFAULT_PIPELINE else f"{package_name}_{pipeline_name}"


class InvalidAirflowConfig(RenderError):
    pass


class RelativePathBetweenTasks(RenderError):
    pass


#: what a dataset is, as the placement rules see it, and how the mapping says it
KINDS = {
    "raw": "raw input: no node writes it",
    "memory": "MemoryDataset between tasks",
    "memory_unread": "MemoryDataset no task reads",
    "relative": "path relative to the project",
    "mlflow_artifact": "MLflow artifact's local file relative to the project",
    "under_root": "under the run's data root",
    "external": "external",
}


@dataclass(frozen=True)
class DatasetPlacement:
    name: str
    placement: str  # STAYS, PERSISTED, REMAPPED or SCRATCH
    kind: str  # a key of KINDS
    #: under the run's data root (PERSISTED: the stem of the file, REMAPPED: the relative path)
    #: or, for SCRATCH, under the task's scratch folder
    relative_path: str | None = None
    crosses_tasks: bool = False

    @property
    def why(self) -> str:
        return KINDS[self.kind]

    def location(self, data_root: str) -> str | None:
        if self.relative_path is None:
            return None
        return f"{data_root.rstrip('/')}/{self.relative_path}"

    def describe(self) -> str:
        where = {PERSISTED: "<run data root>/" + (self.relative_path or "") + ".{parquet,pkl}",
                 REMAPPED: "<run data root>/" + (self.relative_path or ""),
                 SCRATCH: "<task scratch folder>/" + (self.relative_path or "")
                 + ", uploaded to the run's MLflow run"}
        return f"{self.name}: {self.placement} ({self.why})" + (
            f" -> {where[self.placement]}" if self.placement in where else "")


@dataclass(frozen=True)
class FanOut:
    index_param: str
    count_param: str


@dataclass(frozen=True)
class TaskRef:
    """One end of an edge: a node task by its node name, or a control task by its variable
    name in the DAG file (``start``, ``end``, ...), which no node name can be mistaken for."""

    name: str
    control: bool = False


@dataclass(frozen=True)
class NodeTask:
    node_name: str
    task_id: str
    group: str | None
    mapped: FanOut | None = None
    outlets: tuple[str, ...] = ()


@dataclass(frozen=True)
class DagPlan:
    dag_id: str
    pipeline_name: str
    is_ml: bool
    gate: bool
    #: control tasks by their variable name in the DAG file (START, END, LOG_MODEL, PROMOTE)
    control_tasks: dict[str, str]
    groups: list[str]
    tasks: list[NodeTask]
    edges: list[tuple[TaskRef, TaskRef]]
    #: the chain after the node tasks, e.g. [LOG_MODEL, PROMOTE, END]
    tail: list[str]
    params: dict[str, dict[str, Any]]
    datasets: list[DatasetPlacement] = field(default_factory=list)

    @property
    def moved(self) -> list[DatasetPlacement]:
        return [d for d in self.datasets if d.placement != STAYS]

    def mapping_lines(self) -> list[str]:
        return [d.describe() for d in self.moved]


# --- datasets ----------------------------------------------------------------------------------

def _dataset_config(catalog, name: str) -> dict[str, Any] | None:
    """The catalog's resolved config of ``name`` (explicit or from a pattern), None if neither."""
    if name not in catalog:
        return None
    return dict(catalog.config_resolver.resolve_pattern(name) or {})


def _is_memory(catalog, name: str, config: Mapping[str, Any] | None) -> bool:
    """From the config when there is one, without building the dataset: every task computes
    this for every dataset of the pipeline, and most are never used by that task."""
    from kedro.io import MemoryDataset
    from kedro.io.core import parse_dataset_definition

    if name not in catalog:  # Kedro's runner makes it a MemoryDataset
        return True
    if not config:  # added to the catalog as an object (a hook, a test)
        return isinstance(catalog.get(name), MemoryDataset)
    return issubclass(parse_dataset_definition(dict(config))[0], MemoryDataset)


def _project_relative(config: Mapping[str, Any] | None, project_path: Path) -> str | None:
    """The path of a file dataset relative to the project folder (where Kedro puts a relative
    path), or None when it lives elsewhere."""
    for key in _PATH_KEYS:
        value = (config or {}).get(key)
        if not isinstance(value, str) or "://" in value and not value.startswith("file://"):
            continue
        path = PurePosixPath(value.removeprefix("file://"))
        try:
            return str(path.relative_to(PurePosixPath(project_path.as_posix())))
        except ValueError:
            return None
    return None


def _is_mlflow_artifact(config: Mapping[str, Any] | None) -> bool:
    """A kedro-mlflow ``MlflowArtifactDataset`` (whose wrapped dataset's file is local)."""
    from kedro.io.core import parse_dataset_definition

    if not config or not isinstance(config.get("dataset"), Mapping):
        return False
    try:
        from kedro_mlflow.io.artifacts import MlflowArtifactDataset
    except ImportError:  # no kedro-mlflow: no such dataset either
        return False
    try:
        kind = parse_dataset_definition(dict(config))[0]
    except Exception:  # noqa: BLE001 - an unloadable type fails in Kedro's catalog, named there
        return False
    return isinstance(kind, type) and issubclass(kind, MlflowArtifactDataset)


def dataset_placements(pipeline, catalog, project_path: Path, data_root: str,
                       policies: Mapping[str, str] | None = None) -> list[DatasetPlacement]:
    """Where each dataset of ``pipeline`` lives during a DAG run whose data root is
    ``data_root``; the same rules at render time and when a task runs."""
    policies = {"memory_datasets": "persist", "relative_paths": "remap", **(policies or {})}
    produced = {out for node in pipeline.nodes for out in node.outputs}
    consumed = {inp for node in pipeline.nodes for inp in node.inputs}
    placements = []
    for name in sorted(produced | consumed):
        if name.startswith("params:") or name == "parameters":
            continue
        crosses = name in produced and name in consumed
        config = _dataset_config(catalog, name)
        paths = [str(config[k]) for k in _PATH_KEYS if config and k in config]
        rel = _project_relative(config, Path(project_path))
        if name not in produced:
            kind, placement = "raw", STAYS
        elif _is_mlflow_artifact(config) and (
                local := _project_relative(config["dataset"], Path(project_path))) is not None:
            kind, placement, rel = "mlflow_artifact", SCRATCH, local
        elif _is_memory(catalog, name, config):
            kind = "memory" if crosses else "memory_unread"
            persist = crosses and policies["memory_datasets"] == "persist"
            placement, rel = (PERSISTED, name) if persist else (STAYS, None)
        elif any(path.startswith(data_root) for path in paths):
            kind, placement, rel = "under_root", STAYS, None
        elif rel is not None:
            kind = "relative"
            placement = REMAPPED if policies["relative_paths"] == "remap" else STAYS
        else:
            kind, placement = "external", STAYS
        placements.append(DatasetPlacement(name, placement, kind,
                                           rel if placement != STAYS else None, crosses))
    return placements


def _refuse_memory_datasets(by_pipeline: dict[str, list[str]]) -> None:
    lines = "\n".join(f"    pipeline '{p}': {', '.join(ds)}" for p, ds in by_pipeline.items())
    example = next(iter(by_pipeline.values()))[0]
    raise MemoryDatasetBetweenTasks(
        "these datasets pass from one node to another in memory (MemoryDataset, or not in "
        "the catalog), but every node runs as its own Airflow task, in its own process, and "
        "airflow.yml says `memory_datasets: refuse`:\n"
        f"{lines}\n"
        "Declare each of them in conf/base/catalog.yml as a file dataset under the run's "
        "data root, e.g.\n"
        f"    {example}:\n"
        "      type: pickle.PickleDataset\n"
        f"      filepath: ${{runtime_params:data_root, data}}/{example}.pkl\n"
        "or remove `memory_datasets: refuse` to let the deployment persist them per run."
    )


def _refuse_relative_paths(pipeline_name: str, names: list[str]) -> None:
    raise RelativePathBetweenTasks(
        f"pipeline '{pipeline_name}': these datasets are written to a path relative to the "
        f"project folder, shared by concurrent DAG runs and missing on another worker, and "
        f"airflow.yml says `relative_paths: refuse`: {', '.join(names)}. Root each filepath at "
        "the run's data root in the catalog (filepath: ${runtime_params:data_root, data}/...), "
        "or remove `relative_paths: refuse` to let the deployment remap them per run."
    )


# --- airflow.yml -------------------------------------------------------------------------------

def _suggest(bad: str, allowed) -> str:
    close = difflib.get_close_matches(bad, list(allowed), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_airflow_config(airflow_config: Mapping[str, Any], pipeline_name: str) -> dict:
    """The merged ``default`` + ``<pipeline>`` section, after checking both sections' keys."""
    for section in ("default", pipeline_name):
        values = airflow_config.get(section) or {}
        if not isinstance(values, Mapping):
            raise InvalidAirflowConfig(
                f"airflow.yml, section '{section}': expected a mapping of settings, got "
                f"{type(values).__name__}.")
        for key in values:
            if key not in AIRFLOW_KEYS:
                raise InvalidAirflowConfig(
                    f"airflow.yml, section '{section}': unknown key '{key}'"
                    f"{_suggest(str(key), AIRFLOW_KEYS)}. Allowed keys: "
                    f"{', '.join(sorted(AIRFLOW_KEYS))}.")
        for key, allowed in DATASET_POLICIES.items():
            if key in values and values[key] not in allowed:
                raise InvalidAirflowConfig(
                    f"airflow.yml, section '{section}': {key}: {values[key]!r} is not one of "
                    f"{', '.join(allowed)}.")
    return {**(airflow_config.get("default") or {}), **(airflow_config.get(pipeline_name) or {})}


def _check_node_keys(section_name: str, key: str, names, node_names: list[str],
                     also: tuple[str, ...] = ()) -> None:
    allowed = [*node_names, *also]
    for name in names:
        if name not in allowed:
            raise InvalidAirflowConfig(
                f"airflow.yml, section '{section_name}': {key}: no node '{name}' in the "
                f"pipeline{_suggest(name, allowed)}. Allowed: {', '.join(sorted(allowed))}.")


def _check_wait_for_files(section_name: str, spec: Any) -> None:
    required, optional = WAIT_FOR_FILES_KEYS
    where = f"airflow.yml, section '{section_name}': wait_for_files"
    if not isinstance(spec, Mapping):
        raise InvalidAirflowConfig(
            f"{where} must be a mapping with {', '.join(sorted(required))} (and optionally "
            f"{', '.join(sorted(optional))}), not {spec!r}.")
    unknown = sorted(set(spec) - required - optional)
    if unknown:
        raise InvalidAirflowConfig(
            f"{where}: unknown key(s) {', '.join(unknown)}. Allowed: "
            f"{', '.join(sorted(required | optional))}.")
    missing = sorted(required - set(spec))
    if missing:
        raise InvalidAirflowConfig(f"{where}: {', '.join(missing)} missing.")
    for key in ("timeout_seconds", "poke_interval_seconds"):
        value = spec.get(key, 60)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise InvalidAirflowConfig(f"{where}.{key} must be a number of seconds > 0, "
                                       f"not {value!r}.")


def _check_promotion(section_name: str, promotion: Mapping[str, Any], produced: set[str],
                     datasets: set[str]) -> None:
    from kedro_mlops.runtime.promotion import METRICS, PromotionConfig, PromotionConfigError

    metric = promotion.get("metric", "mae")
    if metric not in METRICS:
        raise InvalidAirflowConfig(
            f"airflow.yml, section '{section_name}': promotion.metric: the gate computes no "
            f"metric '{metric}'{_suggest(str(metric), METRICS)}. Allowed values: "
            f"{', '.join(METRICS)}.")
    try:
        PromotionConfig.from_mapping(promotion)
    except PromotionConfigError as err:
        raise InvalidAirflowConfig(f"airflow.yml, section '{section_name}': {err}.") from None
    holdout = promotion["holdout_dataset"]
    if holdout not in produced:
        raise InvalidAirflowConfig(
            f"airflow.yml, section '{section_name}': promotion.holdout_dataset: no node of the "
            f"pipeline writes '{holdout}'{_suggest(holdout, produced)}. Allowed values: "
            f"{', '.join(sorted(produced))}.")
    raw = promotion.get("raw_dataset")
    if raw and raw not in datasets:
        raise InvalidAirflowConfig(
            f"airflow.yml, section '{section_name}': promotion.raw_dataset: the pipeline reads "
            f"no dataset '{raw}'{_suggest(raw, datasets)}. Allowed values: "
            f"{', '.join(sorted(datasets))}.")


# --- the plan ----------------------------------------------------------------------------------

def _task_id_and_group(node) -> tuple[str, str | None]:
    """The TaskGroup is the node's (outermost) Kedro namespace, not whatever precedes a dot in
    its name: ``add-calendar.v2`` without a namespace is a task of the DAG's root group."""
    if not node.namespace:
        return node.name, None
    group = node.namespace.split(".")[0]
    return node.name.removeprefix(group + "."), group


def build_plan(package_name: str, pipeline_name: str, pipeline, catalog, project_path: Path,
               airflow_config: Mapping[str, Any], data_root: str) -> DagPlan:
    """The plan of the DAG of ``pipeline``; raises a ``RenderError`` naming the bad input."""
    section = validate_airflow_config(airflow_config, pipeline_name)
    section_name = pipeline_name if airflow_config.get(pipeline_name) else "default"
    nodes = sorted(pipeline.nodes, key=lambda n: n.name)
    node_names = [n.name for n in nodes]
    bad = [n for n in node_names if not TASK_ID.match(n.split(".", 1)[-1])]
    if bad:
        raise InvalidTaskId(
            f"these node names cannot be Airflow task ids (letters, digits, _ . - only, at most "
            f"250 characters): {', '.join(repr(n) + f' (pipeline {pipeline_name!r})' for n in bad)}"
            ". Name the nodes: node(func, inputs, outputs, name=\"my_node\").")
    is_ml = hasattr(pipeline, "inference")
    promotion = section.get("promotion") if is_ml else None
    gate = bool(promotion)
    produced = {out for n in nodes for out in n.outputs}
    datasets = produced | {i for n in nodes for i in n.inputs if not i.startswith("params:")}
    if gate:
        _check_promotion(section_name, promotion, produced, datasets)
    fan_out = section.get("fan_out") or {}
    _check_node_keys(section_name, "fan_out", fan_out, node_names)
    outlets = section.get("outlets") or {}
    _check_node_keys(section_name, "outlets", outlets, node_names,
                     also=tuple(CONTROL_TASK_IDS.values()))

    groups: list[str] = []
    tasks = []
    for node in nodes:
        task_id, group = _task_id_and_group(node)
        if group and group not in groups:
            groups.append(group)
        spec = fan_out.get(node.name)
        tasks.append(NodeTask(
            node.name, task_id, group,
            FanOut(spec["index_param"], spec["count_param"]) if spec else None,
            tuple(a["name"] for a in outlets.get(node.name, [])),
        ))
    parents = {n.name: sorted(p.name for p in ps) for n, ps in pipeline.node_dependencies.items()}
    has_children = {p for ps in parents.values() for p in ps}
    sink = LOG_MODEL if is_ml else END
    waits = "wait_for_files" in section
    if waits:
        _check_wait_for_files(section_name, section["wait_for_files"])
    # with late data, the first nodes start once the day's files are there, not at once
    first = WAIT if waits else START
    edges = [(TaskRef(START, control=True), TaskRef(WAIT, control=True))] if waits else []
    for name in node_names:
        if not parents.get(name):
            edges.append((TaskRef(first, control=True), TaskRef(name)))
        edges.extend((TaskRef(parent), TaskRef(name)) for parent in parents.get(name, []))
        if name not in has_children:
            edges.append((TaskRef(name), TaskRef(sink, control=True)))
    tail = [LOG_MODEL, PROMOTE, END] if gate else [LOG_MODEL, END] if is_ml else []
    control = {k: v for k, v in CONTROL_TASK_IDS.items()
               if k in (START, END) or (k == LOG_MODEL and is_ml) or (k == PROMOTE and gate)
               or (k == WAIT and waits)}

    params = {key: dict(spec) for key, spec in (section.get("params") or {}).items()}
    for key, spec in params.items():
        if "default" not in spec:
            raise InvalidAirflowConfig(
                f"airflow.yml, section '{section_name}': params.{key} has no 'default': every "
                "trigger param needs one (Airflow refuses a DAG run without a value).")
    if gate and "force_promotion" not in params:
        params["force_promotion"] = dict(FORCE_PROMOTION_PARAM)

    policies = {k: section.get(k, allowed[0]) for k, allowed in DATASET_POLICIES.items()}
    placements = dataset_placements(pipeline, catalog, project_path, data_root, policies)
    if policies["memory_datasets"] == "refuse":
        memory = [d.name for d in placements if d.kind == "memory"]
        if memory:
            _refuse_memory_datasets({pipeline_name: memory})
    if policies["relative_paths"] == "refuse":
        relative = [d.name for d in placements if d.kind == "relative"]
        if relative:
            _refuse_relative_paths(pipeline_name, relative)
    return DagPlan(
        dag_id=dag_id(package_name, pipeline_name), pipeline_name=pipeline_name, is_ml=is_ml,
        gate=gate, control_tasks=control, groups=groups, tasks=tasks, edges=edges, tail=tail,
        params=params, datasets=placements,
    )

