"""Benchmark of batch scoring: the chunked path of the scoring pipeline vs the whole batch at once.

    python benchmarks/scoring.py [--rows 50000,200000] [--chunk-rows 50000] [--files 2] [--repeat 1]

Run from the repository root in the project's environment (``make benchmark``). Nothing is timed
against a limit: the script prints figures and ratios measured in this one run.

1. The model (in a child process): the project's data_processing + training nodes run in-process
   (Kedro SequentialRunner, in-memory catalog, the project's parameters) on the shipped 20,000
   listings, and the inference pipeline is saved, once, in a temporary directory as an MLflow
   pyfunc model exactly as kedro-mlflow logs it (``KedroPipelineModel`` with the PipelineML's
   signature and input example). No MLflow server, S3 or Airflow is needed. The same child
   generates one batch per size with ``nyc_airbnb.batches.generate_batch`` and writes it as CSV
   part files with ``write_batch``.
2. Each path then runs in its own fresh Python process, so that its peak RSS (``ru_maxrss``) is
   its own (this orchestrating process imports only the standard library: a child's
   ``ru_maxrss`` starts from its parent's peak at spawn time):

   - chunked (what the scoring pipeline does): ``ChunkedCSVDataset.load()`` -> ``check_batch`` ->
     ``score_batch`` -> ``AtomicParquetDataset.save`` (the batch is read twice: once to check
     all of it, once to score it, one chunk at a time);
   - whole: every part file read with ``pd.read_csv`` (the dataset's read arguments: all columns
     as text, UTF-8) and concatenated, ``validate_model_input`` on the whole frame, one
     ``model.predict`` call (the loaded pyfunc model, as ``score_batch`` calls it),
     ``DataFrame.to_parquet``.

   Both processes import the same modules, load the same model and warm it up on the model's
   two-row input example before the baseline RSS is taken; the wall time covers reading,
   checking, predicting and writing, not the start-up. The two outputs must hold the same ids
   with the same predictions (checked after the measurement).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "kedro_project"
BATCH_DATE = "2019-07-08"
MODEL_NAME = "nyc_airbnb_price"
MODEL_VERSION = "1"  # what check_batch and score_batch compare; any value, the same in both
PATHS = ("chunked", "whole")
NOTES = """\
startup s: imports + model load + warm-up, not in wall s; baseline MB: peak RSS after it;
read+check s: chunked: check_batch (reads the whole batch once); whole: read_csv + validation;
score+write s: chunked: score_batch + AtomicParquetDataset.save (reads the batch again);
  whole: model.predict + to_parquet; wall s = read+check s + score+write s;
cpu s: user + system CPU seconds of the process (all threads) during wall s;
growth MB: peak MB - baseline MB; c = chunked, w = whole;
peak c/w, growth c/w: chunked / whole (below 1: chunked needs less memory);
speed w/c: rows/s of whole / rows/s of chunked (above 1: whole is faster);
cpu c/w: CPU seconds of chunked / whole (less sensitive than wall time to other work);
max |diff|: largest difference between the two paths' predictions of the same rows."""


# --------------------------------------------------------------------------- helpers


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KB


def _vm_hwm_mb() -> float | None:
    """The kernel's high-water mark of this process's own memory map (Linux), in MB.

    ``ru_maxrss`` also counts the memory of the parent at the moment it spawned this process
    (the kernel carries it across fork + exec); VmHWM does not. The two agree when the parent is
    small, which is why the orchestrating process imports neither pandas nor the project.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quiet() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    warnings.filterwarnings("ignore")
    for name in ("kedro", "kedro_mlflow", "mlflow", "nyc_airbnb", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _project_params() -> dict[str, Any]:
    from kedro.config import OmegaConfigLoader
    from nyc_airbnb.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(PROJECT / "conf"), **CONFIG_LOADER_ARGS)
    return loader["parameters"]


# --------------------------------------------------------------------------- the model


def build_model(workdir: Path) -> dict[str, Any]:
    """Train on the shipped listings in-process and save the inference pipeline as kedro-mlflow
    would log it (an MLflow pyfunc model) under ``workdir/model``; write the model reference
    (signature + training profile) and the listing schema parameters next to it."""
    import mlflow.pyfunc
    import pandas as pd
    from kedro.io import DataCatalog
    from kedro.runner import SequentialRunner
    from kedro_datasets.pickle import PickleDataset
    from kedro_mlflow.mlflow import KedroPipelineModel
    from nyc_airbnb.batches import default_source_path
    from nyc_airbnb.model_contract import model_signature
    from nyc_airbnb.pipelines.data_processing import create_pipeline as data_processing
    from nyc_airbnb.pipelines.training import create_pipeline as training_pipeline_ml
    from nyc_airbnb.pipelines.training import create_training_pipeline
    from nyc_airbnb.pipelines.training.pipeline import FITTED_OBJECTS

    _quiet()
    started = time.perf_counter()
    params = _project_params()
    param_inputs = {f"params:{k}": v for k, v in params.items()}
    fitted_dir = workdir / "fitted"

    def catalog(memory: dict[str, Any]) -> DataCatalog:
        result = DataCatalog()
        for name, value in memory.items():
            result[name] = value
        for name in FITTED_OBJECTS:  # persisted: the pyfunc model packages them as artifacts
            result[name] = PickleDataset(filepath=str(fitted_dir / f"{name}.pkl"))
        return result

    raw = pd.read_csv(default_source_path(), encoding="utf-8")
    reference = json.loads((PROJECT / "data" / "01_raw" / "price_reference.json").read_text())
    training = (data_processing() + create_training_pipeline()).to_outputs(
        *FITTED_OBJECTS, "feature_profile"
    )
    outputs = SequentialRunner().run(
        training,
        catalog({"raw_listings": raw, "price_reference": reference, **param_inputs}),
    )
    profile = outputs["feature_profile"].load()
    trained = time.perf_counter()

    pipeline_ml = training_pipeline_ml()
    model = KedroPipelineModel(
        pipeline=pipeline_ml.inference,
        catalog=catalog(param_inputs),
        input_name=pipeline_ml.input_name,
    )
    artifacts = model.extract_pipeline_artifacts(parameters_saving_folder=workdir / "params")
    kwargs = dict(pipeline_ml.log_model_kwargs)
    for key in ("name", "extra_pip_requirements", "code_paths"):
        # code_paths: the workers import the installed nyc_airbnb (the same source) rather than
        # a copy; requirements: only metadata, and inferring them is slow
        kwargs.pop(key, None)
    mlflow.pyfunc.save_model(
        path=str(workdir / "model"), python_model=model, artifacts=artifacts,
        pip_requirements=["mlflow"], **kwargs,
    )
    model_reference = {
        "name": MODEL_NAME,
        "alias": "benchmark",
        "version": MODEL_VERSION,
        "run_id": None,
        "inputs": {spec["name"]: spec["type"] for spec in model_signature().inputs.to_dict()},
        "profile": profile,
    }
    (workdir / "model_reference.json").write_text(json.dumps(model_reference))
    (workdir / "listing_schema.json").write_text(json.dumps(params["listing_schema"]))
    return {
        "train_rows": int(profile["rows"]),
        "train_seconds": trained - started,
        "package_seconds": time.perf_counter() - trained,
        "max_iter": params["model"]["hist_gradient_boosting"]["max_iter"],
        "tfidf_features": params["features"]["name_tfidf"]["max_features"],
    }


# --------------------------------------------------------------------------- one measured run


def run_worker(path: str, batch_dir: Path, workdir: Path, chunk_rows: int, output: Path,
               result_file: Path, compare_with: Path | None = None) -> None:
    """In a fresh process: load the model, warm it up, then score the batch one way and record
    wall time and peak RSS."""
    _quiet()
    started = time.perf_counter()
    import mlflow.pyfunc
    import pandas as pd
    import pyarrow.parquet as pq
    from nyc_airbnb.datasets import (
        AtomicParquetDataset,
        ChunkedCSVDataset,
        ParquetPartsDataset,
        RegisteredModel,
    )
    from nyc_airbnb.model_contract import model_input_example
    from nyc_airbnb.pipelines.scoring.nodes import check_batch, publish_predictions, score_batch
    from nyc_airbnb.validation import (
        ID_COLUMN,
        MODEL_INPUT_COLUMNS,
        PREDICTION_COLUMN,
        validate_model_input,
    )

    _quiet()  # again: importing kedro configures logging
    model_reference = json.loads((workdir / "model_reference.json").read_text())
    schema_params = json.loads((workdir / "listing_schema.json").read_text())
    registered = RegisteredModel(
        model=mlflow.pyfunc.load_model(str(workdir / "model")), name=MODEL_NAME,
        alias=model_reference["alias"], version=MODEL_VERSION, run_id=None,
    )
    registered.predict(model_input_example())  # warm-up: first-call imports and caches
    gc.collect()
    startup = time.perf_counter() - started
    baseline = _peak_rss_mb()
    scoring_run = {"run_id": "benchmark"}

    cpu_begin = _cpu_seconds()
    begin = time.perf_counter()
    chunks = None
    if path == "chunked":
        batch = ChunkedCSVDataset(str(batch_dir), chunk_rows=chunk_rows).load()
        checked = check_batch(batch, model_reference, schema_params)
        checked_at = time.perf_counter()
        scored = score_batch(batch, registered, checked, scoring_run)
        chunks = 0

        def counted(frames):
            nonlocal chunks
            for frame in frames:
                chunks += 1
                yield frame

        # as the pipeline with one part: score_batch writes its part, publish_predictions
        # streams the parts into the day's file
        parts = ParquetPartsDataset(f"{output}.parts")
        parts.save(counted(scored))
        AtomicParquetDataset(str(output)).save(publish_predictions(parts.load()))
    else:
        files = sorted(p for p in batch_dir.glob("*.csv") if not p.name.startswith(("_", ".")))
        frame = pd.concat(
            [pd.read_csv(p, dtype="string", encoding="utf-8") for p in files], ignore_index=True
        )
        validated = validate_model_input(frame, schema_params, dataset="scoring_batch")
        checked_at = time.perf_counter()
        predictions = pd.DataFrame(registered.predict(validated[MODEL_INPUT_COLUMNS]))
        pd.DataFrame(
            {
                ID_COLUMN: validated[ID_COLUMN].to_numpy(dtype="int64"),
                PREDICTION_COLUMN: predictions[PREDICTION_COLUMN].to_numpy(dtype="float64"),
                "model_name": registered.name,
                "model_version": registered.version,
                "scoring_run_id": scoring_run["run_id"],
            }
        ).to_parquet(output, index=False)
    end = time.perf_counter()
    cpu = _cpu_seconds() - cpu_begin
    peak = _peak_rss_mb()
    result = {
        "path": path,
        "rows": pq.ParquetFile(output).metadata.num_rows,
        "chunks": chunks,
        "startup_seconds": startup,
        "seconds": end - begin,
        "check_seconds": checked_at - begin,
        "score_seconds": end - checked_at,
        "cpu_seconds": cpu,
        "baseline_mb": baseline,
        "peak_mb": peak,
        "vm_hwm_mb": _vm_hwm_mb(),
    }
    if compare_with is not None:  # after the measurement: not in its time or memory
        result["max_abs_diff"] = same_predictions(compare_with, output)
    result_file.write_text(json.dumps(result))


def same_predictions(first: Path, second: Path) -> float:
    """Largest absolute difference between the predictions of two output files (ids must match)."""
    import numpy as np
    import pandas as pd

    a = pd.read_parquet(first, columns=["id", "predicted_price"])
    b = pd.read_parquet(second, columns=["id", "predicted_price"])
    if not np.array_equal(a["id"].to_numpy(), b["id"].to_numpy()):
        raise ValueError(f"{first} and {second} do not hold the same ids in the same order")
    return float(np.max(np.abs(a["predicted_price"].to_numpy() - b["predicted_price"].to_numpy())))


# --------------------------------------------------------------------------- preparation


def prepare(workdir: Path, sizes: list[int], n_files: int, seed: int, result_file: Path) -> None:
    """In a child process: the model, then one batch of CSV part files per size."""
    info = build_model(workdir)
    from nyc_airbnb.batches import generate_batch, load_source, partition_url, write_batch

    source = load_source()
    info["batches"] = {}
    for n_rows in sizes:
        lake = workdir / f"lake-{n_rows}"
        batch = generate_batch(source, n_rows, seed=seed)
        written = write_batch(batch, str(lake), BATCH_DATE, n_files=min(n_files, n_rows))
        info["batches"][str(n_rows)] = {
            "dir": partition_url(str(lake), BATCH_DATE),
            "files": len(written),
            "mb": sum(Path(f).stat().st_size for f in written) / 1024**2,
        }
    result_file.write_text(json.dumps(info))


def child(args: list[str], result_file: Path, env: dict[str, str] | None = None
          ) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh Python process and return what it wrote."""
    command = [sys.executable, str(Path(__file__).resolve()), *args, "--result", str(result_file)]
    env = {**os.environ, "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
           "KEDRO_DISABLE_TELEMETRY": "true", **(env or {})}
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env,
                          cwd=REPO)
    if done.returncode != 0 or not result_file.exists():
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-8000:])
        raise SystemExit(f"{' '.join(args[:2])} failed (exit code {done.returncode}): "
                         "its output is above")
    return json.loads(result_file.read_text())


# --------------------------------------------------------------------------- report


def machine_facts() -> list[str]:
    from importlib.metadata import version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024**2:.1f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    machine = (f"machine: {os.cpu_count()} CPUs ({usable} usable), {cpu}{memory}, "
               f"{platform.system()} {platform.release()}")
    software = ", ".join(
        f"{name} {version(name)}"
        for name in ("pandas", "numpy", "scikit-learn", "pyarrow", "mlflow", "kedro")
    )
    return [machine, f"python {platform.python_version()}, {software}"]


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def table(headers: list[str], rows: list[list[str]], left: int = 0) -> str:
    """Aligned text table: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats of one measurement: times from the fastest run, memory from the largest peak."""
    fastest = min(runs, key=lambda run: run["seconds"])
    largest = max(runs, key=lambda run: run["peak_mb"])
    memory = ("baseline_mb", "peak_mb", "vm_hwm_mb")
    return {**fastest, **{key: largest[key] for key in memory}, "repeats": len(runs)}


def report(results: list[dict[str, Any]]) -> str:
    figures = []
    ratios = []
    for result in results:
        chunked, whole = result["chunked"], result["whole"]
        for name, run in (("chunked", chunked), ("whole", whole)):
            figures.append([
                f"{result['rows']:,}", name,
                f"{run['startup_seconds']:.1f}", f"{run['baseline_mb']:.0f}",
                f"{run['check_seconds']:.2f}", f"{run['score_seconds']:.2f}",
                f"{run['seconds']:.2f}", f"{run['cpu_seconds']:.2f}",
                f"{run['rows'] / run['seconds']:,.0f}",
                f"{run['peak_mb']:.0f}", f"{run['peak_mb'] - run['baseline_mb']:.0f}",
            ])
        growth_c = chunked["peak_mb"] - chunked["baseline_mb"]
        growth_w = whole["peak_mb"] - whole["baseline_mb"]
        ratios.append([
            f"{result['rows']:,}",
            f"{chunked['peak_mb']:.0f}", f"{whole['peak_mb']:.0f}",
            f"{growth_c:.0f}", f"{growth_w:.0f}",
            f"{chunked['peak_mb'] / whole['peak_mb']:.2f}",
            f"{growth_c / growth_w:.2f}" if growth_w > 0 else "n/a",
            f"{chunked['rows'] / chunked['seconds']:,.0f}",
            f"{whole['rows'] / whole['seconds']:,.0f}",
            f"{chunked['seconds'] / whole['seconds']:.2f}",
            f"{chunked['cpu_seconds'] / whole['cpu_seconds']:.2f}",
            f"{result['max_abs_diff']:.1e}",
        ])
    return "\n\n".join([
        table(["rows", "path", "startup s", "baseline MB", "read+check s", "score+write s",
               "wall s", "cpu s", "rows/s", "peak MB", "growth MB"], figures, left=2),
        table(["rows", "peak MB c", "peak MB w", "growth MB c", "growth MB w", "peak c/w",
               "growth c/w", "rows/s c", "rows/s w", "speed w/c", "cpu c/w", "max |diff|"],
              ratios),
    ])


# --------------------------------------------------------------------------- main


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated row counts, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"row counts must be >= 1, got {text!r}")
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/scoring.py",
        description="Chunked scoring pipeline vs whole-batch scoring: wall time, rows/s, peak RSS.",
    )
    parser.add_argument("--rows", type=_sizes, default=_sizes("50000,200000"),
                        help="batch sizes, comma-separated (default 50000,200000)")
    parser.add_argument("--chunk-rows", type=int, default=50_000,
                        help="rows per chunk of the chunked path (default 50000, as the catalog)")
    parser.add_argument("--files", type=int, default=2,
                        help="CSV part files per batch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="batch generation seed (default 0)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each path per size, each in a fresh process; times are the "
                        "fastest run's, memory the largest peak (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (model, batches, outputs)")
    # internal: the steps that run in child processes
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--batch-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compare-with", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if min(args.chunk_rows, args.files, args.repeat) < 1:
        raise SystemExit("--chunk-rows, --files and --repeat must be at least 1")
    if args.prepare:
        prepare(args.workdir, args.rows, args.files, args.seed, args.result)
        return 0
    if args.worker:
        run_worker(args.worker, args.batch_dir, args.workdir, args.chunk_rows, args.output,
                   args.result, args.compare_with)
        return 0

    # The orchestrator imports only the standard library and stays small: a child's ru_maxrss
    # includes its parent's peak at spawn time (see _vm_hwm_mb).
    started = time.perf_counter()
    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="scoring-benchmark-"))
    results = []
    try:
        print(f"working directory: {workdir}", flush=True)
        info = child(["--prepare", "--workdir", str(workdir),
                      "--rows", ",".join(map(str, args.rows)), "--files", str(args.files),
                      "--seed", str(args.seed)], workdir / "prepare.json",
                     # training is not measured: one OpenMP thread keeps the gradient boosting
                     # fit from crawling when other work shares the cores (the scoring processes
                     # keep the default, as in production)
                     env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        print(f"model: trained on {info['train_rows']:,} rows in {info['train_seconds']:.1f}s "
              f"(HistGradientBoosting max_iter {info['max_iter']}, TF-IDF "
              f"{info['tfidf_features']} features), saved as an MLflow pyfunc model in "
              f"{info['package_seconds']:.1f}s", flush=True)
        for n_rows in args.rows:
            batch = info["batches"][str(n_rows)]
            print(f"{n_rows:,} rows: {batch['files']} CSV file(s), {batch['mb']:.1f} MB",
                  flush=True)
            runs: dict[str, list[dict[str, Any]]] = {path: [] for path in PATHS}
            max_abs_diff = None
            for repeat in range(args.repeat):
                for path in PATHS:  # alternated, so that a change of load affects both
                    output = workdir / f"{path}-{n_rows}.parquet"
                    compare = (["--compare-with", str(workdir / f"{PATHS[0]}-{n_rows}.parquet")]
                               if path != PATHS[0] and repeat == 0 else [])
                    run = child(["--worker", path, "--batch-dir", batch["dir"],
                                 "--workdir", str(workdir), "--chunk-rows", str(args.chunk_rows),
                                 "--output", str(output), *compare],
                                output.with_suffix(f".{repeat}.json"))
                    if run["rows"] != n_rows:
                        raise SystemExit(f"the {path} run wrote {run['rows']} rows, not {n_rows}")
                    max_abs_diff = run.get("max_abs_diff", max_abs_diff)
                    runs[path].append(run)
                    chunks = f", {run['chunks']} chunks" if run["chunks"] is not None else ""
                    print(f"  {path:<7}  wall {run['seconds']:6.2f}s  "
                          f"cpu {run['cpu_seconds']:6.2f}s  peak RSS {run['peak_mb']:5.0f} MB"
                          f"{chunks}", flush=True)
            results.append({"rows": n_rows, "max_abs_diff": max_abs_diff,
                            **{path: combine(runs[path]) for path in PATHS}})
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("\n".join(machine_facts()))
    print(f"load average (1/5/15 min) at start {load_before}, at end {load_average()}")
    print(f"chunk_rows {args.chunk_rows:,}; {args.files} CSV part file(s) per batch; "
          f"{args.repeat} run(s) of each path per size; "
          f"total {time.perf_counter() - started:.0f}s")
    print()
    print(report(results))
    print()
    print(NOTES)
    inherited = [
        f"{r['rows']:,} {path}" for r in results for path in PATHS
        if r[path]["vm_hwm_mb"] is not None and r[path]["peak_mb"] > 1.05 * r[path]["vm_hwm_mb"]
    ]
    if inherited:
        print(f"warning: ru_maxrss exceeds the process's own VmHWM by over 5% in "
              f"{', '.join(inherited)}: it may include the parent's memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
