"""Celery settings of the Airflow Celery workers: Airflow's defaults, plus the warm task runtime.

Named by ``[celery] celery_config_options`` (airflow.cfg). Celery imports the ``imports``
modules in each worker's main process before its prefork pool starts, so every pool process,
and every task process Airflow forks from one, starts with Kedro and the projects imported
(see ``kedro_mlops.runtime.warm_runtime``).
"""

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from kedro_mlops.runtime.warm_runtime import TASK_PRELOAD

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": (TASK_PRELOAD,)}
