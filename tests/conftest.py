"""Settings every test process shares."""

import os
import sys
import tempfile

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
# Parsing DAG files reads Airflow's config; keep the tests off ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-tests-"))

# MLflow's process-wide state: (module, attribute) pairs and the variables behind them
_MLFLOW_GLOBALS = (
    ("mlflow.tracking._tracking_service.utils", "_tracking_uri"),
    ("mlflow.tracking._model_registry.utils", "_registry_uri"),
    ("mlflow.tracking.fluent", "_active_experiment_id"),
)
_MLFLOW_VARS = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME",
                "MLFLOW_EXPERIMENT_ID")


@pytest.fixture(autouse=True, scope="module")
def _restore_mlflow_globals():
    """A KedroSession created in the test process lets kedro-mlflow's hook point MLflow's
    process-wide tracking URI at that test's server; left there, every later module's MLflow
    queries would go to a stopped or foreign server instead of its own stack's."""
    saved = {(mod, attr): getattr(sys.modules[mod], attr)
             for mod, attr in _MLFLOW_GLOBALS if mod in sys.modules}
    saved_vars = {var: os.environ.get(var) for var in _MLFLOW_VARS}
    yield
    for mod, attr in _MLFLOW_GLOBALS:
        if mod in sys.modules:
            setattr(sys.modules[mod], attr, saved.get((mod, attr)))
    for var, value in saved_vars.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


#: a test's user property ``(SUMMARY + title, row)`` is one row of a table printed at the end of
#: the run (a report reaches the terminal summary from a pytest-xdist worker too; a module global
#: of the test's process would not)
SUMMARY = "summary: "


def pytest_terminal_summary(terminalreporter):
    tables: dict[str, list[dict[str, str]]] = {}
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            if report.when != "call":
                continue
            for name, row in report.user_properties:
                if name.startswith(SUMMARY):
                    rows = tables.setdefault(name.removeprefix(SUMMARY), [])
                    rows.append({**row, "result": report.outcome})
    _print_file_seconds(terminalreporter)
    for title, rows in tables.items():
        columns = list(dict.fromkeys(column for row in rows for column in row))
        widths = {c: max(len(c), *(len(row.get(c, "")) for row in rows)) for c in columns}
        terminalreporter.section(title)
        for row in [dict(zip(columns, columns)), *rows]:
            terminalreporter.write_line("  ".join(row.get(c, "").ljust(widths[c])
                                                  for c in columns).rstrip())


def _print_file_seconds(terminalreporter):
    """Each file's time (set-up, calls and tear-down of its tests, on whichever worker ran it):
    where a slow run's minutes went, and the figures to refresh ``FILE_SECONDS`` with."""
    seconds: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", "")
            if nodeid and getattr(report, "when", None) in ("setup", "call", "teardown"):
                path = nodeid.split("::", 1)[0]
                seconds[path] = seconds.get(path, 0.0) + report.duration
    if not seconds:
        return
    terminalreporter.section("seconds per test file")
    for path, total in sorted(seconds.items(), key=lambda item: -item[1])[:25]:
        terminalreporter.write_line(f"{total:8.1f}  {path}")


#: packages whose files share one Airflow stack (a package-scoped fixture): each is one unit of
#: work, handed whole to one pytest-xdist worker, so that its files run one after the other on
#: the stack started once for them (see pytest_xdist_make_scheduler)
SHARED_STACK_PACKAGES = ("tests/e2e/dag_runs",)


def work_unit(nodeid: str) -> str:
    """The file of a test, or the shared-stack package that holds it."""
    path = nodeid.split("::", 1)[0]
    return next((p for p in SHARED_STACK_PACKAGES if path.startswith(p + "/")), path)


#: work units (test files, shared-stack packages) by their time in a `make test` (seconds, 2
#: cores, two workers; the table 'seconds per test file' that ends the run, a package the sum of
#: its files): `make test` hands whole units to two pytest-xdist workers in this order (`--dist
#: loadfile --no-loadscope-reorder`), so that no long unit starts last while the other worker
#: idles. A unit not listed runs after these, in collection order; a stale figure costs balance
#: only.
FILE_SECONDS = {
    "tests/e2e/dag_runs": 623,
    "tests/ui/test_ui.py": 319,
    "tests/e2e/test_bench_quick.py": 285,
    "tests/faults/test_faults.py": 198,
    "tests/e2e/test_lineage.py": 101,
    "tests/dags/test_render_cli.py": 84,
    "tests/e2e/test_kedro_tracking.py": 73,
    "tests/e2e/test_celery.py": 73,
    "tests/e2e/test_secrets.py": 49,
    "tests/e2e/test_serving.py": 41,
    "tests/e2e/test_docker_fab_auth.py": 37,
    "tests/e2e/test_docker_mlflow_auth.py": 28,
    "tests/unit/runtime/test_warm_runtime.py": 26,
    "tests/e2e/test_stack.py": 20,
    "tests/compose/test_compose.py": 17,
    "tests/unit/kedro_project/test_nyc_scoring.py": 15,
    "tests/unit/runtime/test_scheduler_plugin.py": 13,
}


def pytest_collection_modifyitems(items):
    rank = {unit: i for i, unit in enumerate(sorted(FILE_SECONDS, key=FILE_SECONDS.get,
                                                    reverse=True))}
    # stable: a unit's tests keep their order (a package's files in name order)
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with each shared-stack package as one unit instead of its files."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadWorkUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return LoadWorkUnitScheduling(config, log)
