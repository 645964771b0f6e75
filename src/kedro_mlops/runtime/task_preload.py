"""Imported where Airflow forks task processes from, to warm them: see ``warm_runtime``.

Airflow's ``[scheduler] mp_forkserver_preload`` and Celery's ``imports`` setting can only name
modules to import, so the work is done on import, once per process.
"""

from kedro_mlops.runtime.warm_runtime import preload_and_report

preload_and_report()
