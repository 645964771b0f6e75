"""`make bench --quick`: the benchmark script runs end to end against a stack of its own.

Nothing here is timed: the test keeps the script working (every comparison runs once and
yields its figures), it does not judge them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FIGURES = {
    "parse_vs_bare", "parse_training_vs_bare", "parse_scoring_vs_bare", "processor_cycle_s",
    "task_overhead_s", "node_task_s", "node_function_in_task_s", "node_kedro_run_s",
    "node_in_process_s", "training_dag_s", "training_kedro_run_s", "training_dag_vs_kedro_run",
    "training_dag_no_task_running_s", "training_dag_node_functions_s", "scoring_dag_5k_s",
    "rss_forkserver_mb", "task_peak_rss_max_mb", "scoring_task_rows_per_s_2k",
    "predict_in_process_rows_per_s_2k", "mlflow_models_predict_rows_per_s_2k",
    "fanout_1_score_s", "fanout_2_score_s", "fanout_2_speedup",
}


def test_every_comparison_runs_once_and_reports_its_figures(tmp_path, system_postgres):
    out = tmp_path / "figures.json"
    result = subprocess.run(
        # the LocalExecutor legs; the Celery stack (two more workers) is left to `make bench`
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--executors", "local",
         "--output", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=1200, check=False,
        env={**os.environ, "MLOPS_BENCH_POSTGRES_URL": system_postgres})
    assert result.returncode == 0, result.stderr[-4000:]
    figures = json.loads(out.read_text())
    assert FIGURES <= set(figures), FIGURES - set(figures)
    assert all(value > 0 for key, value in figures.items() if key in FIGURES)
    # the ratios are the ratios of the printed figures
    assert figures["training_dag_vs_kedro_run"] == pytest.approx(
        figures["training_dag_s"] / figures["training_kedro_run_s"], rel=1e-3)
    assert "| `task_overhead_s` |" in result.stdout
    # the committed results are not touched without --write
    assert "wrote benchmarks/results.json" not in result.stderr
