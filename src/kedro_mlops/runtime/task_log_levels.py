"""Log lines a task demotes to INFO: WARNINGs about what the deployment does on purpose.

A task resumes its DAG run's MLflow run before Kedro starts. kedro-mlflow reports that at
WARNING, six lines per task, one of them asking the user to close the run by hand (the DAG's
``end_mlflow_run`` does). They stay in the log, as INFO, so that a task's real warnings stand
out. Set in ``task_logging.yml``.
"""

from __future__ import annotations

import logging

#: how kedro-mlflow's hook (mlflow_hook.py) words a run that was active before the session
RESUMED_RUN = (
    "The mlflow run ",
    "mlflow_config.",
    "A mlflow run was already active",
    "The run '",
)


class ResumedRunIsInfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(RESUMED_RUN):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True
