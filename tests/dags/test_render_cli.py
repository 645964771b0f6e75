"""The renderer on a project shaped like a public Kedro starter, and its command lines
(`python -m kedro_mlops.render`, the Kedro plugin's `kedro mlops render`, the console script
`kedro-mlops-render`): one clear message and exit status 2 for bad input, defaults and one notice
per assumption for what a project leaves out, `--check`, `--help`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dag_helpers import CONTROL_TASKS, dag_edges, load_dag, pipeline_edges

from kedro_mlops.render.dag_files import check, dag_file_name, render

FIXTURES = Path(__file__).parents[1] / "fixtures"
STARTER = FIXTURES / "starter_project"
TINY = FIXTURES / "tiny_project"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    return subprocess.run([sys.executable, "-m", "kedro_mlops.render", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture
def starter(tmp_path) -> Path:
    """A copy of the starter project that a test may break."""
    return shutil.copytree(STARTER, tmp_path / "starter_project")


# --- __default__ and environments: the files kedro-airflow writes ----------------------------

def test_the_default_pipeline_renders_to_kedro_airflows_file_name(tmp_path):
    (path,) = render(STARTER, ["__default__"], tmp_path)
    assert path == tmp_path / "starter_dag.py"  # not starter___default___dag.py
    assert sorted(p.name for p in tmp_path.iterdir()) == ["starter_dag.py"]
    dag = load_dag(path)
    assert dag.dag_id == "starter"
    edges = pipeline_edges(STARTER, "__default__")
    from kedro.framework.project import pipelines

    # nodes without `name=` (Kedro's generated names), and a dotted, dashed one: valid task ids
    node_names = {n.name for n in pipelines["__default__"].nodes}
    assert len(node_names) == 7 and sum("__" in name for name in node_names) == 5
    assert "data_science.train-model.v1" in node_names
    assert set(dag.task_ids) - CONTROL_TASKS == node_names
    assert dag_edges(dag, exclude=CONTROL_TASKS) == edges
    assert dag.owner == "starter"


def test_an_environment_is_in_the_file_names_and_its_airflow_yml_is_used(tmp_path):
    paths = render(STARTER, ["__default__", "data_processing"], tmp_path, env="prod")
    assert [p.name for p in paths] == ["starter_prod_dag.py", "starter_prod_data_processing_dag.py"]
    assert [p.name for p in paths] == [
        dag_file_name("starter", "__default__", "prod"),
        dag_file_name("starter", "data_processing", "prod"),
    ]
    assert load_dag(paths[1]).default_args["retries"] == 3  # conf/prod/airflow.yml


# --- bad input: one message naming the input and the fix, status 2, no traceback -------------

def _break_nothing(project: Path) -> None:
    pass


def _refuse_memory_datasets(project: Path) -> None:
    with (project / "conf/base/airflow.yml").open("a") as conf:
        conf.write("  memory_datasets: refuse\n")  # in the `default` section


def _unnamed_partial_node(project: Path) -> None:
    """Kedro names an unnamed node of a functools.partial `partial(func)__<hash>`."""
    pipeline = project / "src/starter/pipelines/reporting/pipeline.py"
    code = pipeline.read_text().replace("node(top_rows,", "node(partial(top_rows),")
    pipeline.write_text("from functools import partial\n" + code)


@pytest.mark.parametrize(
    ("project_change", "args", "message"),
    [
        pytest.param(
            _refuse_memory_datasets, ["--pipelines", "data_science"],
            "pass from one node to another in memory",
            id="memory-datasets",
        ),
        pytest.param(
            _break_nothing, ["--pipelines", "__default__,trainning"],
            "--pipelines: no pipeline named 'trainning' in the project's pipeline_registry.py. "
            "Registered pipelines: __default__, data_processing, data_science, reporting.",
            id="unknown-pipeline",
        ),
        pytest.param(
            _break_nothing, ["--pipelines", "__default__", "--env", "prdo"],
            "--env prdo: the project has no configuration environment 'prdo'",
            id="unknown-env",
        ),
        pytest.param(
            _unnamed_partial_node, ["--pipelines", "reporting"],
            "these node names cannot be Airflow task ids (letters, digits, _ . - only, at most "
            "250 characters): 'partial(top_rows)__",
            id="invalid-task-id",
        ),
    ],
)
def test_bad_input_is_one_message_and_status_2(starter, tmp_path, project_change, args, message):
    project_change(starter)
    target = tmp_path / "dags"
    result = run_cli("--project", starter, "--target", target, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("python -m kedro_mlops.render: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert not target.exists()  # nothing written


def test_the_memory_dataset_message_names_the_datasets_and_the_catalog_fix(starter, tmp_path):
    _refuse_memory_datasets(starter)
    result = run_cli("--project", starter, "--pipelines", "data_science", "--target", tmp_path)
    assert result.returncode == 2
    assert "pipeline 'data_science': data_science.X_test, data_science.X_train" in result.stderr
    assert "Declare each of them in conf/base/catalog.yml" in result.stderr
    assert "filepath: ${runtime_params:data_root, data}/data_science.X_test.pkl" in result.stderr


def test_an_unknown_airflow_yml_key_is_one_message_and_status_2(starter, tmp_path):
    with (starter / "conf/base/airflow.yml").open("a") as conf:
        conf.write("reporting:\n  schedul: '@daily'\n")
    result = run_cli("--project", starter, "--pipelines", "reporting", "--target", tmp_path / "d")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "python -m kedro_mlops.render: error: airflow.yml, section 'reporting': unknown key "
        "'schedul' (did you mean 'schedule'?). Allowed keys: ")
    assert "Traceback" not in result.stderr and not (tmp_path / "d").exists()


@pytest.mark.parametrize("project", ["missing", "not_kedro"])
def test_a_folder_that_is_not_a_kedro_project_is_one_message(tmp_path, project):
    path = tmp_path / project
    if project == "not_kedro":
        path.mkdir()
        (path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    result = run_cli("--project", path, "--pipelines", "__default__", "--target", tmp_path / "d")
    assert result.returncode == 2
    assert f"error: --project {path}" in result.stderr
    assert "Pass the folder of the Kedro project" in result.stderr
    assert "Traceback" not in result.stderr


# --- what a project leaves out: defaults, and one notice per assumption ------------------------

NO_AIRFLOW_YML = ("note: no airflow.yml in conf/base or conf/local: DAG '{dag}' renders with "
                  "defaults (schedule None, retries 1, owner airflow, tags [kedro]); see "
                  "README.md, 'Airflow DAGs'")
NO_MLFLOW_YML = ("note: no mlflow.yml in conf/base or conf/local: the tasks use kedro-mlflow's "
                 "defaults, the MLflow experiment 'starter' (the package name) on the tracking "
                 "server of $MLFLOW_TRACKING_URI")


def test_a_project_without_airflow_yml_renders_with_defaults_and_says_so(starter, tmp_path):
    (starter / "conf/base/airflow.yml").unlink()
    target = tmp_path / "dags"
    result = run_cli("--project", starter, "--pipelines", "__default__,reporting",
                     "--target", target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"rendered {target / 'starter_dag.py'}",
                                          f"rendered {target / 'starter_reporting_dag.py'}"]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    # the starter has no mlflow.yml either: kedro-mlflow's default experiment is named
    assert notes[:2] == [NO_AIRFLOW_YML.format(dag="starter"),
                         NO_AIRFLOW_YML.format(dag="starter_reporting")]
    assert notes[2].startswith(NO_MLFLOW_YML)
    # and the datasets each DAG run keeps apart from other runs, one notice per DAG
    assert len(notes) == 5
    for note, dag in zip(notes[3:], ["starter", "starter_reporting"], strict=True):
        assert note.startswith(f"note: DAG '{dag}': each DAG run keeps these datasets apart "
                               "from other runs")
    assert ("    report: remapped (path relative to the project) -> "
            "<run data root>/data/08_reporting/report.pkl") in result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    dag = load_dag(target / "starter_dag.py")
    assert dag.schedule is None and type(dag.timetable).__name__ == "NullTimetable"
    assert dag.owner == "airflow" and dag.default_args["retries"] == 1
    assert dag.tags == {"kedro"} and dict(dag.params) == {}


def test_a_section_for_neither_default_nor_the_pipeline_is_a_notice(starter, tmp_path):
    (starter / "conf/base/airflow.yml").write_text("data_processing:\n  retries: 4\n")
    notes = []
    (path,) = render(starter, ["reporting"], tmp_path, notify=notes.append)
    assert notes[0] == ("airflow.yml has no 'default' or 'reporting' section: DAG "
                        "'starter_reporting' renders with defaults (schedule None, retries 1, "
                        "owner airflow, tags [kedro]); see README.md, 'Airflow DAGs'")
    assert load_dag(path).default_args["retries"] == 1


def test_a_version_key_in_the_catalog_is_a_notice(starter, tmp_path):
    # Kedro drops it before the dataset is built: a pin that silently never applies
    catalog = starter / "conf/base/catalog.yml"
    catalog.write_text(catalog.read_text().replace(
        "companies:\n", "companies:\n  version: ${runtime_params:model_version, null}\n", 1))
    notes = []
    render(starter, ["reporting"], tmp_path, notify=notes.append)
    (note,) = [n for n in notes if "'version'" in n]
    assert note.startswith("catalog entries 'companies' set 'version', which Kedro removes")
    assert "model_version" in note


def test_a_pipeline_ml_without_a_registered_model_name_registers_under_the_dag_id(tmp_path):
    # the tiny project's __default__ is its PipelineML, without a section in airflow.yml
    notes = []
    default, training = render(TINY, ["__default__", "training"], tmp_path, notify=notes.append)
    assert notes == [
        ("pipeline '__default__' is a kedro-mlflow PipelineML without registered_model_name in "
        "airflow.yml: its model is registered as 'tiny' (the DAG id); set registered_model_name "
        "in the '__default__' section of airflow.yml to choose the name")
    ]  # the tiny project has an mlflow.yml and conf/local: nothing else is assumed
    assert load_dag(default).get_task("log_and_register_model").model_name == "tiny"
    assert load_dag(training).get_task("log_and_register_model").model_name == "tiny_scale"


def test_a_project_without_conf_local_renders_and_gets_the_folder(starter, tmp_path):
    """Kedro refuses to load a project without the folder of its env, `local` included (a git
    clone of a starter lacks the empty folder): rendering creates conf/local/.gitkeep."""
    shutil.rmtree(starter / "conf/local")
    target = tmp_path / "dags"
    checked = run_cli("--project", starter, "--pipelines", "__default__", "--target", target,
                      "--check")
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout == f"missing: {target / 'starter_dag.py'}\n"
    assert checked.stderr.startswith(
        "note: no conf/local folder: rendered as if it were empty (Kedro cannot load the project "
        "without it, nor run the DAG's tasks); rendering without --check creates "
        "conf/local/.gitkeep\n")
    assert not (starter / "conf/local").exists() and not target.exists()  # --check writes nothing

    result = run_cli("--project", starter, "--pipelines", "__default__", "--target", target)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(
        "note: no conf/local folder: created conf/local/.gitkeep (Kedro cannot load the project "
        "without it, nor run the DAG's tasks; git keeps no empty folder: commit the file)\n")
    assert (starter / "conf/local/.gitkeep").is_file()
    assert load_dag(target / "starter_dag.py").owner == "starter"  # conf/base/airflow.yml read
    again = run_cli("--project", starter, "--pipelines", "__default__", "--target", target,
                    "--check")
    assert again.returncode == 0 and "conf/local folder" not in again.stderr


def test_an_unknown_env_is_still_refused_when_conf_local_is_missing(starter, tmp_path):
    shutil.rmtree(starter / "conf/local")
    result = run_cli("--project", starter, "--pipelines", "__default__", "--env", "staging",
                     "--target", tmp_path / "d")
    assert result.returncode == 2
    assert "--env staging: the project has no configuration environment 'staging'" in result.stderr
    assert "Known environments: prod." in result.stderr
    assert not (starter / "conf/local").exists()


# --- --check -----------------------------------------------------------------------------------

def test_check_lists_stale_and_missing_files_without_touching_the_target(tmp_path):
    target = tmp_path / "dags"
    default, processing = render(STARTER, ["__default__", "data_processing"], target)
    assert check(STARTER, ["__default__", "data_processing"], target) == []

    default.write_text(default.read_text() + "# edited by hand\n")
    processing.unlink()
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    result = run_cli("--project", STARTER, "--pipelines", "__default__,data_processing",
                     "--target", target, "--check")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"stale: {target / 'starter_dag.py'}",
        f"missing: {target / 'starter_data_processing_dag.py'}",
    ]
    assert "out of date" in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before


def test_check_passes_when_up_to_date_and_never_creates_the_target(tmp_path):
    target = tmp_path / "dags"
    render(STARTER, ["reporting"], target)
    ok = run_cli("--project", STARTER, "--pipelines", "reporting", "--target", target, "--check")
    assert (ok.returncode, ok.stdout) == (0, f"{target} is up to date\n")

    assert check(STARTER, ["reporting"], tmp_path / "none") == [
        (tmp_path / "none" / "starter_reporting_dag.py", "missing")
    ]
    assert not (tmp_path / "none").exists()


# --- --help ------------------------------------------------------------------------------------

def test_help_describes_every_option():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--project", "--pipelines", "--target", "--env", "--project-relpath",
                   "--check", "--verbose"):
        assert option in result.stdout
    assert "__default__" in result.stdout and "Exit status" in result.stdout
    from kedro_mlops.render.cli import _parser

    for action in _parser()._actions:
        assert action.help, f"{action.option_strings} has no help"


# --- `kedro mlops render` (the Kedro plugin) and `kedro-mlops-render` (the console script) -----
# Run as a user runs them: the real executables of the venv, in a copy of the tiny project.

BIN = Path(sys.executable).parent
KEDRO, SCRIPT = BIN / "kedro", BIN / "kedro-mlops-render"


def run_in(cwd: Path, *command: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    return subprocess.run(list(map(str, command)), cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, check=False)


@pytest.fixture
def tiny(tmp_path) -> Path:
    return shutil.copytree(TINY, tmp_path / "tiny_project")


def _rename_a_node(project: Path) -> None:
    registry = project / "src/tiny/pipeline_registry.py"
    registry.write_text(registry.read_text().replace('name="summarize"', 'name="summarise"'))


def test_kedro_mlops_render_writes_the_dag_and_check_sees_a_pipeline_change(tiny):
    # kedro airflow create's defaults: the __default__ pipeline, into airflow_dags/
    result = run_in(tiny, KEDRO, "mlops", "render")
    assert result.returncode == 0, result.stderr
    dag_file = tiny / "airflow_dags" / "tiny_dag.py"
    # Kedro's own start-up logging shares stdout; the command's lines are whole lines
    assert f"rendered {dag_file}" in result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    dag = load_dag(dag_file)
    assert {"prep.make_numbers", "summarize"} <= set(dag.task_ids)

    checked = run_in(tiny, KEDRO, "mlops", "render", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "airflow_dags is up to date" in checked.stdout.splitlines()

    _rename_a_node(tiny)
    stale = run_in(tiny, KEDRO, "mlops", "render", "--check")
    assert stale.returncode == 1, stale.stderr
    assert "stale: airflow_dags/tiny_dag.py" in stale.stdout.splitlines()
    assert stale.stderr.splitlines()[-1] == ("airflow_dags is out of date: run the same command "
                                             "without --check and commit the result")
    assert "Traceback" not in stale.stderr


def _elsewhere(tiny: Path) -> Path:
    folder = tiny.parent / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("where", "args", "message"),
    [
        pytest.param(lambda tiny: tiny, ["--pipelines", "__default__,trainning"],
                     "--pipelines: no pipeline named 'trainning' in the project's "
                     "pipeline_registry.py. Registered pipelines: __default__, training.",
                     id="unknown-pipeline"),
        pytest.param(lambda tiny: tiny / "src", ["--env", "prdo"],  # from a folder inside it
                     "--env prdo: the project has no configuration environment 'prdo'",
                     id="unknown-env"),
        pytest.param(_elsewhere, [],
                     "is not in a Kedro project (no pyproject.toml with a [tool.kedro] section "
                     "here or in a folder above). Run the command in the project's folder, or "
                     "use `kedro-mlops-render --project PATH`.",
                     id="not-a-kedro-project"),
        pytest.param(lambda tiny: tiny, ["--project", "."],
                     "--project .: this command renders the Kedro project it runs in. Run it in "
                     "that project's folder without --project, or use `kedro-mlops-render "
                     "--project .`.",
                     id="project-option"),
    ],
)
def test_kedro_mlops_render_bad_input_is_one_line_and_status_2(tiny, where, args, message):
    cwd = where(tiny)
    result = run_in(cwd, KEDRO, "mlops", "render", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("kedro mlops render: error: ") and message in line
    assert "Traceback" not in result.stdout + result.stderr
    assert not (cwd / "airflow_dags").exists()


def test_kedro_mlops_render_help_describes_every_option_but_project(tiny):
    from kedro_mlops.render.cli import OPTIONS

    result = run_in(tiny, KEDRO, "mlops", "render", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: kedro mlops render [OPTIONS]" in result.stdout
    for option in OPTIONS:  # the option, with the start of its help text on its line
        shown = " ".join(filter(None, [option.flags[-1], option.metavar]))
        assert (shown in result.stdout) == (option.dest != "project"), shown
        if option.dest != "project":
            line = next(line for line in result.stdout.splitlines()
                        if line.lstrip().startswith((shown, f"{option.flags[0]}, {shown}")))
            assert " ".join(option.help.split()[:3]) in line
    words = " ".join(result.stdout.split())  # click wraps the help text
    assert "[default: __default__]" in words and "[default: airflow_dags]" in words
    assert "Exit status" in result.stdout


def test_the_console_script_renders_checks_and_refuses_bad_input(tiny, tmp_path):
    args = ["--project", tiny, "--pipelines", "training", "--target", "dags"]
    result = run_in(tmp_path, SCRIPT, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"rendered {tmp_path / 'dags' / 'tiny_training_dag.py'}\n"
    assert load_dag(tmp_path / "dags" / "tiny_training_dag.py").dag_id == "tiny_training"
    assert run_in(tmp_path, SCRIPT, *args, "--check").stdout == "dags is up to date\n"

    _rename_a_node(tiny)
    stale = run_in(tmp_path, SCRIPT, *args, "--check")
    assert (stale.returncode, stale.stdout) == (1, "stale: dags/tiny_training_dag.py\n")

    bad = run_in(tmp_path, SCRIPT, "--project", tmp_path / "dags", "--target", "d")
    assert bad.returncode == 2
    assert bad.stderr == (f"kedro-mlops-render: error: --project {tmp_path / 'dags'} is not a "
                          "Kedro project: it has no pyproject.toml with a [tool.kedro] section. "
                          "Pass the folder of the Kedro project (the one holding its "
                          "pyproject.toml, created by `kedro new`).\n")

    helped = run_in(tmp_path, SCRIPT, "--help")
    assert helped.stdout.startswith("usage: kedro-mlops-render ")
    assert "--project" in helped.stdout and "Exit status" in helped.stdout
