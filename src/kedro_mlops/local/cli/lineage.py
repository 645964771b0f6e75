"""Where a prediction came from: partition -> scoring run -> model version -> training run.

    kedro-mlops-lineage 2026-11-27                 # the day's partition
    kedro-mlops-lineage 2026-11-27 --id 30525727   # one listing of it
    kedro-mlops-lineage 2026-11-27 --json          # the same chain as JSON

The partition file is the start: every row carries its model version and the MLflow run that
scored it (a re-scored day names the run that wrote the current file). The scoring run records
the alias it resolved (``model.alias``: what the alias pointed at then, whatever it points at
now); the version names its training run, which carries the git commit, the sha256 of its input
files (``input.<dataset>.sha256``), the Airflow DAG run's URL, params and metrics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from typing import Any

from kedro_mlops.local.cli.common import UserError, run, tracking_client, use_stack_environment
from kedro_mlops.local.parquet_read import read_parquet
from kedro_mlops.runtime.dag_run_tracking import GIT_COMMIT_TAG, RUN_URL_TAG
from kedro_mlops.runtime.input_hashes import TAG_PREFIX as INPUT_TAG_PREFIX

PARTITION_COLUMNS = ["model_name", "model_version", "scoring_run_id"]
NO_AIRFLOW = "not recorded: the run was not started by Airflow (a plain `kedro run`)"


def lake_root(given: str | None) -> str:
    from kedro_mlops.config import lake_root as deployment_lake_root

    return (given or deployment_lake_root()).rstrip("/")


def _filesystem(root: str):
    import fsspec

    protocol = root.split("://", 1)[0] if "://" in root else "file"
    options = {}
    if protocol == "s3" and os.environ.get("AWS_ENDPOINT_URL"):
        options["client_kwargs"] = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}
    return fsspec.filesystem(protocol, **options)


def partition_dates(fs, root: str) -> list[str]:
    files = fs.glob(f"{root}/predictions/ds=*/predictions.parquet")
    return sorted(f.rsplit("/", 2)[-2].removeprefix("ds=") for f in files)


def _check_date(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise UserError(f"the date must be YYYY-MM-DD (a partition ds=...), got {value!r}") from None


def read_partition(root: str, ds: str, listing_id: int | None) -> dict[str, Any]:
    fs = _filesystem(root)
    path = f"{root}/predictions/ds={ds}/predictions.parquet"
    try:
        exists = fs.exists(path)
        dates = [] if exists else partition_dates(fs, root)
    except OSError as err:
        raise UserError(f"cannot read the lake at {root} ({err}): set --lake-root or "
                        "MLOPS_LAKE_ROOT, and AWS_ENDPOINT_URL for an S3 server") from None
    if not exists:
        raise UserError(
            f"no scoring run wrote partition {ds}; partitions with runs: "
            f"{', '.join(dates) if dates else 'none'} (under {root}/predictions/)"
        )
    if listing_id is None:
        frame = read_parquet(fs, path, columns=PARTITION_COLUMNS)
    else:
        frame = read_parquet(fs, path, filters=[("id", "==", listing_id)])
    partition: dict[str, Any] = {"date": ds, "path": fs.unstrip_protocol(path)}
    if listing_id is not None:
        if frame.empty:
            raise UserError(f"listing {listing_id} is not in partition {ds} ({path}): give an "
                            "id that was scored that day")
        row = frame.iloc[0]
        partition["listing"] = {"id": listing_id,
                                "predicted_price": float(row["predicted_price"])}
    else:
        partition["rows"] = len(frame)
    sources = frame[PARTITION_COLUMNS].drop_duplicates().astype(str)
    partition["sources"] = sources.to_dict("records")
    return partition


def _run_summary(client, run_id: str) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_run(run_id)
    except MlflowException:
        return {"run_id": run_id, "missing": "no such MLflow run (deleted?)"}
    tags = found.data.tags
    experiment = client.get_experiment(found.info.experiment_id)
    airflow = ({"dag_id": tags.get("airflow.dag_id"), "run_id": tags.get("airflow.run_id"),
                "url": tags.get(RUN_URL_TAG)} if tags.get("airflow.dag_id") else None)
    return {
        "run_id": run_id,
        "run_name": found.info.run_name,
        "experiment": experiment.name,
        "status": found.info.status,
        "started": dt.datetime.fromtimestamp(found.info.start_time / 1000, dt.UTC).isoformat(
            timespec="seconds"),
        "airflow": airflow,
        "git_commit": tags.get(GIT_COMMIT_TAG),
        "tags": tags,
        "params": dict(sorted(found.data.params.items())),
        "metrics": dict(sorted((k, v) for k, v in found.data.metrics.items()
                               if not k.startswith("task."))),
    }


def _model(client, name: str, version: str, scoring: dict[str, Any]) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        return {"name": name, "version": version, "missing": "no such version in the registry"}
    tags = scoring.get("tags", {})
    recorded = tags.get("model.version") == str(version) and tags.get("model.name") == name
    return {
        "name": name,
        "version": version,
        "alias_when_scored": tags.get("model.alias") if recorded else None,
        "aliases_now": sorted(found.aliases),
        "gate": found.description or found.tags.get("promotion.decision"),
        "training_run_id": found.run_id,
    }


def training_inputs(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    inputs: dict[str, dict[str, str]] = {}
    for key, value in tags.items():
        if key.startswith(INPUT_TAG_PREFIX):
            name, _, field = key.removeprefix(INPUT_TAG_PREFIX).rpartition(".")
            inputs.setdefault(name, {})[field] = value
    return dict(sorted(inputs.items()))


def lineage(root: str, ds: str, listing_id: int | None = None) -> dict[str, Any]:
    client = tracking_client()
    partition = read_partition(root, ds, listing_id)
    chains = []
    for source in partition["sources"]:
        scoring = _run_summary(client, source["scoring_run_id"])
        model = _model(client, source["model_name"], source["model_version"], scoring)
        training = (_run_summary(client, model["training_run_id"])
                    if model.get("training_run_id") else None)
        if training and "tags" in training:
            training["inputs"] = training_inputs(training["tags"])
        chains.append({"scoring_run": scoring, "model": model, "training_run": training})
    for chain in chains:  # every tag is in the JSON of the runs themselves; keep the chain short
        for run_info in (chain["scoring_run"], chain["training_run"]):
            if run_info:
                run_info.pop("tags", None)
    return {"partition": {k: v for k, v in partition.items() if k != "sources"},
            "chains": chains}


def _airflow_line(run_info: dict[str, Any]) -> str:
    airflow = run_info.get("airflow")
    if not airflow:
        return NO_AIRFLOW
    url = airflow.get("url") or "(no URL: AIRFLOW__API__BASE_URL was unset)"
    return f"{airflow['dag_id']} / {airflow['run_id']}  {url}"


def _pairs(values: dict[str, Any], width: int = 96) -> list[str]:
    lines, line = [], ""
    for key, value in values.items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        item = f"{key}={shown}"
        if line and len(line) + 2 + len(item) > width:
            lines.append(line)
            line = ""
        line = f"{line}  {item}" if line else item
    return [*lines, line] if line else lines or ["(none)"]


def _experiment_line(run_info: dict[str, Any]) -> str:
    return (f"   experiment   {run_info['experiment']}, {run_info['status']}, started "
            f"{run_info['started']}")


def render(result: dict[str, Any]) -> str:
    partition = result["partition"]
    out = [f"Partition      ds={partition['date']}  {partition['path']}"]
    if "listing" in partition:
        listing = partition["listing"]
        out.append(f"Listing        {listing['id']}: predicted_price "
                   f"{listing['predicted_price']:.2f}")
    else:
        out.append(f"Rows           {partition['rows']:,}")
    for chain in result["chains"]:
        scoring, model, training = chain["scoring_run"], chain["model"], chain["training_run"]
        out.append(f"<- Scoring run {scoring['run_id']}")
        if "missing" in scoring:
            out.append(f"   {scoring['missing']}")
        else:
            out += [_experiment_line(scoring), f"   Airflow      {_airflow_line(scoring)}"]
        alias = model.get("alias_when_scored")
        out.append(f"<- Model       {model['name']} v{model['version']}")
        if "missing" in model:
            out.append(f"   {model['missing']}")
            continue
        out += [
            f"   resolved     {'@' + alias + ' pointed at it when scored' if alias else 'no alias recorded (the version was given)'}",
            f"   aliases now  {', '.join('@' + a for a in model['aliases_now']) or 'none'}",
            f"   gate         {model['gate'] or 'no decision recorded (not gated)'}",
        ]
        out.append(f"<- Training run {model['training_run_id']}")
        if not training or "missing" in training:
            out.append(f"   {training['missing'] if training else 'unknown'}")
            continue
        out += [_experiment_line(training),
                f"   git commit   {training['git_commit'] or 'not recorded'}",
                f"   Airflow      {_airflow_line(training)}"]
        inputs = training.get("inputs") or {}
        if not inputs:
            out.append("   data         no input hash recorded")
        for name, info in inputs.items():
            out.append(f"   data         {name} sha256 {info.get('sha256', '?')}  "
                       f"{info.get('path', '')}")
        out += [f"   params       {line}" if i == 0 else f"                {line}"
                for i, line in enumerate(_pairs(training["params"]))]
        out += [f"   metrics      {line}" if i == 0 else f"                {line}"
                for i, line in enumerate(_pairs(training["metrics"]))]
    return "\n".join(out)


def _listing_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a listing id is an integer, got {value!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 too; one line, no usage block
        raise UserError(f"{message} (see --help)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kedro-mlops-lineage",
        description="Print where a prediction partition (or one listing of it) came from: the "
        "scoring run, the model version and the alias that pointed at it, the training run, its "
        "git commit, training data hash, Airflow DAG run, params and metrics.",
        epilog="With MLFLOW_TRACKING_URI exported, MLflow and S3 come from the environment as it "
        "is (AWS keys; AWS_ENDPOINT_URL for an S3 server other than AWS); without it, from the "
        "local stack's settings. The lake is MLOPS_LAKE_ROOT, else s3://$MLOPS_BUCKET.",
    )
    p.add_argument("date", help="the partition's day, YYYY-MM-DD (predictions/ds=<date>/)")
    p.add_argument("--id", type=_listing_id, dest="listing_id", help="a listing id of that day")
    p.add_argument("--lake-root", help="where predictions/ lives (default: $MLOPS_LAKE_ROOT, "
                   "else s3://$MLOPS_BUCKET)")
    p.add_argument("--json", action="store_true", help="print the chain as JSON")
    return p


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    ds = _check_date(args.date)
    use_stack_environment()
    result = lineage(lake_root(args.lake_root), ds, args.listing_id)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
