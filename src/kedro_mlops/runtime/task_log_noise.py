"""Third-party lines a task's log leaves out or demotes, so that its real warnings stand out.

- Kedro 1.7 (each config load) and kedro-mlflow (each session) call
  ``OmegaConf.register_new_resolver``, deprecated since OmegaConf 2.4: a warning the user can do
  nothing about, which every task (a process of its own) printed again. Left out, only this
  message from those two packages.
- A task resumes its DAG run's MLflow run before Kedro starts. kedro-mlflow reports that at
  WARNING, six lines per task, one asking the user to close the run by hand (the DAG's
  ``end_mlflow_run`` does). Kept, as INFO.

``quiet()`` is called when ``kedro_mlops.runtime.session`` is imported, in every task (a warm
worker's tasks inherit it from the worker). In code, not in ``task_logging.yml``: Kedro refuses
a logging config that names a filter class (its ``()`` key).
"""

from __future__ import annotations

import logging
import warnings

#: how kedro-mlflow's hook (mlflow_hook.py) words a run that was active before the session
RESUMED_RUN = (
    "The mlflow run ",
    "mlflow_config.",
    "A mlflow run was already active",
    "The run '",
)
KEDRO_MLFLOW_HOOK = "kedro_mlflow.framework.hooks.mlflow_hook"


class ResumedRunIsInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(RESUMED_RUN):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet() -> None:
    warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated",
                            category=UserWarning, module=r"kedro(_mlflow)?\.")
    hook = logging.getLogger(KEDRO_MLFLOW_HOOK)
    if not any(isinstance(f, ResumedRunIsInfo) for f in hook.filters):
        hook.addFilter(ResumedRunIsInfo())
