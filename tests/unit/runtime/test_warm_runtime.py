"""The warm task runtime: what an executor worker imports before it forks tasks, and what not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_mlops.runtime.warm_runtime import (
    catalog_dataset_types,
    configured_projects,
    remember_absent,
)

REPO = Path(__file__).resolve().parents[3]
NYC = REPO / "kedro_project"
TINY = REPO / "tests" / "fixtures" / "tiny_project"


def test_the_catalog_types_include_the_wrapped_ones():
    types = catalog_dataset_types(NYC)
    assert {"pandas.ParquetDataset", "pickle.PickleDataset", "json.JSONDataset"} <= types
    # nested under kedro-mlflow's MlflowArtifactDataset: `dataset: {type: ...}`
    assert "matplotlib.MatplotlibDataset" in types
    assert "kedro_mlflow.io.artifacts.MlflowArtifactDataset" in types


def test_warm_projects_are_a_path_list():
    assert configured_projects("") == []
    assert configured_projects(f"{NYC}:{TINY}") == [NYC, TINY]


PRELOAD = r"""
import json, sys, threading
from pathlib import Path
import botocore.session, psutil
from airflow.sdk.execution_time.supervisor import WatchedSubprocess
from kedro_mlops.runtime.warm_runtime import preload
report = preload([Path(p) for p in sys.argv[1:]])
print(json.dumps({
    "report": report,
    "threads": [t.name for t in threading.enumerate()],
    "connections": len(psutil.Process().net_connections()),
    "children": len(psutil.Process().children()),
    "modules": sorted(sys.modules),
    "supervisor_wait": WatchedSubprocess._service_subprocess.__module__,
    "marked_absent": sorted(m for m, v in sys.modules.items() if v is None),
    "botocore_loader_shared": botocore.session.create_loader()
                              is botocore.session.create_loader(),
}))
"""


def _preload_in_fresh_process(tmp_path: Path, *projects: Path) -> dict:
    """Run PRELOAD in a new interpreter with a bare environment; what it reports."""
    out = subprocess.run([sys.executable, "-c", PRELOAD, *map(str, projects)],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true",
                              "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "AIRFLOW_HOME": str(tmp_path / "airflow")})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_preload_imports_the_project_and_opens_nothing_that_a_fork_would_share(tmp_path):
    result = _preload_in_fresh_process(tmp_path, NYC, TINY)
    modules = set(result["modules"])
    # the libraries every task needs
    assert {"kedro.framework.session", "kedro_mlflow.framework.hooks.mlflow_hook",
            "mlflow.pyfunc", "pandas", "sklearn", "kedro_mlops.runtime.session",
            "airflow.dag_processing.dagbag"} <= modules
    # both projects' node code (through their pipeline registries) and their dataset classes
    assert {"nyc_airbnb.pipelines.training.nodes", "nyc_airbnb.pipelines.scoring.nodes",
            "tiny.nodes", "kedro_datasets.pandas.parquet_dataset",
            "kedro_datasets.matplotlib.matplotlib_dataset"} <= modules
    assert result["report"]["project_items"] > 10
    # the worker supervises the tasks it forks: it waits on an exiting one, not on a timer
    assert result["supervisor_wait"] == "kedro_mlops.runtime.supervisor_exit"
    # MLflow's per-request probes for Databricks and Spark, none installed here, fail at once
    assert {"dbruntime", "pyspark"} <= set(result["marked_absent"])
    # every task's S3 clients read botocore's models from one loader, filled before the fork
    assert result["botocore_loader_shared"] is True
    # imports only: no thread, connection or process would be inherited by a fork
    assert result["threads"] == ["MainThread"]
    assert result["connections"] == 0
    assert result["children"] == 0


def test_a_broken_project_does_not_stop_the_worker(tmp_path):
    broken = tmp_path / "broken"
    (broken / "conf" / "base").mkdir(parents=True)
    (broken / "conf" / "base" / "catalog.yml").write_text("a: [unclosed\n")
    (broken / "pyproject.toml").write_text("[tool.kedro]\npackage_name = 'nope'\n"
                                           "project_name = 'nope'\nkedro_init_version = '1.7.0'\n")
    result = _preload_in_fresh_process(tmp_path, broken, TINY)
    assert "tiny.nodes" in result["modules"]  # the next project was still warmed


def test_celery_workers_import_the_preload_on_top_of_airflows_settings():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    from kedro_mlops.runtime.celery_config import CELERY_CONFIG

    assert CELERY_CONFIG["imports"] == ("kedro_mlops.runtime.task_preload",)
    assert {k: v for k, v in CELERY_CONFIG.items() if k != "imports"} == DEFAULT_CELERY_CONFIG


BOOTSTRAP_AFTER_PRELOAD = r"""
import json, sys
from pathlib import Path
from kedro.framework import project
from mlflow.utils import requirements_utils
from kedro_mlops.runtime import session
from kedro_mlops.runtime.warm_runtime import preload
first, last = Path(sys.argv[1]), Path(sys.argv[2])
preload([first, last])
configured = project.settings._wrapped
after_preload = project.PACKAGE_NAME
session.bootstrap(last)  # a task of the project the worker configured last: nothing to redo
skipped = project.settings._wrapped is configured
session.bootstrap(first)  # a task of the other project: Kedro is configured for it
print(json.dumps({"after_preload": after_preload, "skipped": skipped,
                  "rebuilt": project.settings._wrapped is not configured,
                  "now": project.PACKAGE_NAME,
                  "mlflow_package_map": requirements_utils._PACKAGES_TO_MODULES is not None}))
"""


def test_a_task_of_a_warm_project_finds_kedro_configured_for_it(tmp_path):
    out = subprocess.run([sys.executable, "-c", BOOTSTRAP_AFTER_PRELOAD, str(NYC), str(TINY)],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true",
                              "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                              "AIRFLOW_HOME": str(tmp_path / "airflow")})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"after_preload": "tiny", "skipped": True, "rebuilt": True,
                      "now": "nyc_airbnb", "mlflow_package_map": True}


def test_only_modules_that_are_not_installed_are_marked_missing(monkeypatch):
    monkeypatch.delitem(sys.modules, "kedro_mlops_no_such_module", raising=False)
    monkeypatch.delitem(sys.modules, "csv", raising=False)  # installed, not imported yet
    marked = remember_absent(["kedro_mlops_no_such_module", "csv", "json"])
    try:
        assert marked == ["kedro_mlops_no_such_module"]
        assert sys.modules["kedro_mlops_no_such_module"] is None
        with pytest.raises(ModuleNotFoundError):
            import kedro_mlops_no_such_module  # noqa: F401
        import csv  # noqa: F401  - still importable
    finally:
        sys.modules.pop("kedro_mlops_no_such_module", None)


def test_mlflow_requests_still_resolve_their_headers_with_the_probes_marked(monkeypatch):
    from mlflow.tracking.request_header.registry import resolve_request_headers

    before = resolve_request_headers()
    for name in ("dbruntime", "pyspark", "IPython", "ibis", "tqdm"):
        if name not in sys.modules:
            monkeypatch.setitem(sys.modules, name, None)
    assert resolve_request_headers() == before


SHARED_LOADER = r"""
import json, botocore.loaders, botocore.session
from kedro_mlops.runtime import botocore_loader
shared = botocore_loader.install()

read = []
load_file = botocore.loaders.JSONFileLoader.load_file

def recorded(self, path):
    data = load_file(self, path)
    if data is not None:  # a file that exists, read and parsed again
        read.append(path)
    return data

botocore.loaders.JSONFileLoader.load_file = recorded
sessions = [botocore.session.Session() for _ in range(2)]
client = sessions[0].create_client("s3", region_name="us-east-1",
                                   endpoint_url="http://127.0.0.1:1",
                                   aws_access_key_id="k", aws_secret_access_key="s")
request = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
print(json.dumps({
    "same": [s.get_component("data_loader") is shared for s in sessions],
    "url": request,
    "files_read": read,
    "own_data_path": botocore.session.create_loader("/nowhere") is not shared,
}))
"""


def test_s3_clients_of_a_warm_worker_read_botocores_models_from_one_loader(tmp_path):
    out = subprocess.run([sys.executable, "-c", SHARED_LOADER], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                                        "HOME": str(tmp_path)})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] == [True, True]
    # a working client, made without reading any of botocore's files again
    assert result["url"].startswith("http://127.0.0.1:1/b/k?")
    assert result["files_read"] == []
    assert result["own_data_path"] is True  # AWS_DATA_PATH: a loader of its own, as before
