"""The committed benchmark figures: one source (benchmarks/results.json), never edited by hand.

`make bench` writes results.json, RESULTS.md and the README's figures together; these tests fail
when one of them was edited or left behind.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_hold_the_figures_the_issue_names():
    figures = json.loads((REPO / "benchmarks" / "results.json").read_text())
    assert {"task_overhead_s", "training_dag_vs_kedro_run", "parse_vs_bare",
            "scoring_dag_5k_s"} <= set(figures)
    assert all(isinstance(v, int | float) for v in figures.values())


def test_results_md_and_the_readme_show_results_json():
    bench = _bench()
    figures = json.loads((REPO / "benchmarks" / "results.json").read_text())
    assert bench.render_table(figures) in (REPO / "benchmarks" / "RESULTS.md").read_text(), \
        "benchmarks/RESULTS.md is stale: run `make bench`"
    readme = (REPO / "README.md").read_text()
    start = readme.index(bench.README_START) + len(bench.README_START)
    assert readme[start:readme.index(bench.README_END)].strip() == bench.readme_block(figures), \
        "the README's figures are stale: run `python benchmarks/bench.py --readme-only`"
