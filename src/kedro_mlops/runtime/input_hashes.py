"""Tag the MLflow run with the sha256 of each source file a pipeline reads (its raw data).

Registered in every Kedro session through the ``kedro.hooks`` entry point of this package, so a
plain ``kedro run`` and every Airflow node task do it alike. A source is a free input of the whole
registered pipeline (no node makes it) backed by one file; the node task that loads it hashes
the file at the path Kedro resolved and records ``input.<dataset>.sha256`` and
``input.<dataset>.path`` on the active run: ``kedro-mlops-lineage`` reads them to say which bytes
a model was trained on. Nothing happens without an active run (tracking disabled).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from kedro.framework.hooks import hook_impl

log = logging.getLogger(__name__)

TAG_PREFIX = "input."
_BLOCK = 1 << 20


def sha256_of(fs, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _source_inputs(run_params: dict[str, Any], pipeline) -> set[str]:
    from kedro.framework.project import pipelines

    names = run_params.get("pipeline_names") or ["__default__"]
    # the task runs a one-node slice: its other inputs were made by upstream tasks
    whole = set().union(*(pipelines[name].inputs() for name in names if name in pipelines))
    return {n for n in pipeline.inputs() & whole if not n.startswith("params:")
            and n != "parameters"}


class InputHashes:
    # trylast: after kedro-mlflow's before_pipeline_run, which starts the run of a `kedro run`
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        from kedro_mlops.runtime.datasets import fsspec_path

        if mlflow.active_run() is None:
            return
        tags = {}
        for name in sorted(_source_inputs(run_params, pipeline)):
            dataset = catalog.get(name)
            if dataset is None or not hasattr(dataset, "_filepath"):
                continue  # not one file (a prefix of CSVs, a model in the registry...)
            fs, path = fsspec_path(dataset)
            try:
                tags[f"{TAG_PREFIX}{name}.sha256"] = sha256_of(fs, path)
            except OSError as err:  # the dataset's own load says it better
                log.warning("Input %s not hashed: %s", name, err)
                continue
            tags[f"{TAG_PREFIX}{name}.path"] = fs.unstrip_protocol(path)
            log.info("Input %s: sha256 %s (%s)", name, tags[f"{TAG_PREFIX}{name}.sha256"],
                     tags[f"{TAG_PREFIX}{name}.path"])
        if tags:
            mlflow.set_tags(tags)


input_hashes = InputHashes()
