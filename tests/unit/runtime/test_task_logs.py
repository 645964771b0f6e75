"""What a task's log carries: its warnings are the ones to read."""

from __future__ import annotations

import os
import subprocess
import sys

from kedro_mlops.runtime.operators import TASK_LOGGING

CONFIG_LOAD = r"""
import sys, warnings
if sys.argv[2] == "task":
    import kedro_mlops.runtime.session  # what every task imports before Kedro loads config
from kedro.config import OmegaConfigLoader
with warnings.catch_warnings(record=True) as caught:
    OmegaConfigLoader(sys.argv[1])["parameters"]
    # kedro-mlflow's hook makes the same call at each session
    warnings.warn_explicit("register_new_resolver() is deprecated", UserWarning, "mlflow_hook.py",
                           1, module="kedro_mlflow.framework.hooks.mlflow_hook")
    warnings.warn_explicit("register_new_resolver() is deprecated", UserWarning, "nodes.py", 1,
                           module="my_project.nodes")
for w in caught:
    print("warning:", w.filename.rsplit("/", 1)[-1], str(w.message).splitlines()[0])
"""


def _warnings_of_a_config_load(tmp_path, process: str) -> list[str]:
    (tmp_path / "base").mkdir(exist_ok=True)
    (tmp_path / "base" / "parameters.yml").write_text("alpha: ${runtime_params:alpha, 1}\n")
    out = subprocess.run([sys.executable, "-c", CONFIG_LOAD, str(tmp_path), process],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("warning:")]  # not Kedro's logs


def test_kedros_resolver_deprecation_stays_out_of_task_logs(tmp_path):
    plain = _warnings_of_a_config_load(tmp_path, "plain")
    assert any(line.startswith("warning: omegaconf_config.py register_new_resolver() is deprecated")
               for line in plain)
    assert "warning: mlflow_hook.py register_new_resolver() is deprecated" in plain

    task = _warnings_of_a_config_load(tmp_path, "task")
    # only Kedro's own call is silenced: the same words from a user's module still show
    assert task == ["warning: nodes.py register_new_resolver() is deprecated"]


RESUMED_RUN = r"""
import logging
import kedro_mlops.runtime.session  # as a task: Kedro reads and checks task_logging.yml
from kedro.framework import project
project.LOGGING.configure(project.LOGGING.data)  # again, as each task of a warm worker does
hook = logging.getLogger("kedro_mlflow.framework.hooks.mlflow_hook")
# what kedro-mlflow's hook logs in every task, which resumes the DAG run's MLflow run
hook.warning("The mlflow run 4f2a is already active. Configuration is inferred from the "
             "environment, and mlflow.yml is ignored.")
hook.warning("mlflow_config.tracking.run.id='4f2a'")
hook.warning("A mlflow run was already active (run_id='4f2a') before the KedroSession was started. "
             "This run will be used for logging.")
hook.warning("The run '4f2a' was already opened before launching 'kedro run' so it is not closed. "
             "You should close it manually.")
# what it logs when something is wrong
hook.warning("Parameter 'notes' (value length 6001) is truncated to its 6000 first characters.")
"""


def test_kedro_mlflows_resumed_run_lines_are_info_and_its_warnings_stay():
    env = {**os.environ, "KEDRO_LOGGING_CONFIG": TASK_LOGGING}
    out = subprocess.run([sys.executable, "-c", RESUMED_RUN], capture_output=True, text=True,
                         check=True, env=env).stdout.splitlines()
    hook = "kedro_mlflow.framework.hooks.mlflow_hook"
    assert [line.split(" ", 1)[0] for line in out if hook in line] == [
        "INFO", "INFO", "INFO", "INFO", "WARNING"]
    assert out[-1].startswith(f"WARNING {hook}: Parameter 'notes'")
