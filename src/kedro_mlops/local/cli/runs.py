"""The last training runs side by side: params, metrics, model version, the gate's decision.

    kedro-mlops-runs                     # the last 5 runs of nyc_airbnb_training
    kedro-mlops-runs -n 10 --output runs.md     # or runs.html

One column per run, newest first. Params are those that differ between the runs shown
(``--all-params``: every one); metrics are all but the per-task timings (``task.*``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

from kedro_mlops.local.cli.common import UserError, run, tracking_client, use_stack_environment
from kedro_mlops.runtime.dag_run_tracking import GIT_COMMIT_TAG

DEFAULT_EXPERIMENT = "nyc_airbnb_training"
FORMATS = (".md", ".html")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _versions_by_run(client, model_name: str) -> dict[str, Any]:
    versions = client.search_model_versions(f"name='{model_name}'")
    return {v.run_id: v for v in versions}


def compare(experiment: str, model_name: str, last: int, all_params: bool = False):
    """(header, rows): header is one label per run; each row is (field, one value per run)."""
    import mlflow

    client = tracking_client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise UserError(f"no MLflow experiment named {experiment!r}; experiments: "
                        f"{', '.join(names) or 'none'} (set --experiment)")
    runs = mlflow.search_runs(experiment_ids=[found.experiment_id], max_results=last,
                              order_by=["attributes.start_time DESC"])
    if runs.empty:
        raise UserError(f"experiment {experiment!r} has no runs yet: train first (`make demo`, "
                        "or trigger the training DAG)")
    records = runs.to_dict("records")
    versions = _versions_by_run(client, model_name)

    def tag(record, key):
        value = record.get(f"tags.{key}")
        return None if value is None or (isinstance(value, float) and math.isnan(value)) \
            else value

    header = [r.get("tags.mlflow.runName") or r["run_id"][:8] for r in records]
    rows: list[tuple[str, list[Any]]] = [
        ("run id", [r["run_id"] for r in records]),
        ("started (UTC)", [r["start_time"].to_pydatetime().astimezone(dt.UTC).strftime(
            "%Y-%m-%d %H:%M") for r in records]),
        ("status", [r["status"] for r in records]),
        ("git commit", [(tag(r, GIT_COMMIT_TAG) or "")[:10] or None for r in records]),
        ("airflow run", [tag(r, "airflow.run_id") for r in records]),
        ("model version", [f"{model_name} v{versions[r['run_id']].version}"
                           if r["run_id"] in versions else None for r in records]),
        ("gate decision", [(versions[r["run_id"]].tags.get("promotion.decision")
                            if r["run_id"] in versions else None)
                           or tag(r, "promotion.decision") for r in records]),
    ]
    params = sorted(c for c in runs.columns if c.startswith("params."))
    for column in params:
        values = [r[column] for r in records]
        if all_params or len({_cell(v) for v in values}) > 1:
            rows.append((column, values))
    metrics = sorted(c for c in runs.columns
                     if c.startswith("metrics.") and not c.startswith("metrics.task."))
    rows += [(column, [r[column] for r in records]) for column in metrics]
    summaries = [(versions[r["run_id"]].description if r["run_id"] in versions else None)
                 or tag(r, "promotion.summary") for r in records]
    return header, rows, summaries


def as_text(header, rows) -> str:
    table = [["", *header], *[[field, *map(_cell, values)] for field, values in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in table)


def as_markdown(header, rows, summaries, title: str) -> str:
    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [f"# {title}", "", line(["", *header]), line(["---"] * (len(header) + 1))]
    out += [line([field, *map(_cell, values)]) for field, values in rows]
    out += ["", "## The gate's decisions", ""]
    out += [f"- **{name}**: {summary or 'not gated'}"
            for name, summary in zip(header, summaries, strict=True)]
    return "\n".join(out) + "\n"


def as_html(header, rows, summaries, title: str) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in ["", *header])
    body = "\n".join(
        "<tr><th>" + e(field) + "</th>" + "".join(f"<td>{e(_cell(v))}</td>" for v in values)
        + "</tr>" for field, values in rows)
    gate = "\n".join(f"<li><b>{e(name)}</b>: {e(summary or 'not gated')}</li>"
                     for name, summary in zip(header, summaries, strict=True))
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{e(title)}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}</style></head>\n"
            f"<body><h1>{e(title)}</h1>\n<table><tr>{head}</tr>\n{body}\n</table>\n"
            f"<h2>The gate's decisions</h2><ul>\n{gate}\n</ul></body></html>\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UserError(f"{message} (see --help)")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"-n is how many runs, a whole number >= 1, got {value!r}")
    return number


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kedro-mlops-runs",
        description="The last training runs side by side: params that differ, metrics, the "
        "registered model version and the promotion gate's decision.",
        epilog="MLflow comes from MLFLOW_TRACKING_URI, else the local stack's settings.",
    )
    p.add_argument("-n", "--last", type=_positive, default=5, help="how many runs (default 5)")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                   help=f"the MLflow experiment (default {DEFAULT_EXPERIMENT})")
    p.add_argument("--model", help="the registered model (default $MLOPS_MODEL_NAME, else "
                   "nyc_airbnb_price)")
    p.add_argument("--all-params", action="store_true", help="every param, not only those "
                   "that differ")
    p.add_argument("--output", type=Path, help="also write the table to this .md or .html file")
    return p


def _main(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.output is not None and args.output.suffix.lower() not in FORMATS:
        raise UserError(f"--output {args.output}: name a .md or .html file (e.g. runs.md)")
    use_stack_environment()
    from kedro_mlops.local.settings import Settings

    model = args.model or Settings.from_env().model_name
    header, rows, summaries = compare(args.experiment, model, args.last, args.all_params)
    print(as_text(header, rows))
    if args.output is not None:
        title = f"Last {len(header)} runs of {args.experiment}"
        writer = as_markdown if args.output.suffix.lower() == ".md" else as_html
        try:
            args.output.write_text(writer(header, rows, summaries, title), encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot write --output {args.output}: {err.strerror}") from None
        print(f"\nWritten to {args.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
