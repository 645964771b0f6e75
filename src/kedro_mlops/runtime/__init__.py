"""What runs inside Airflow: the operators DAG files import (``operators``, cheap: no Kedro) and
what a task does when it runs, imported only then: a Kedro session for the DAG run
(``session``, ``params``), the DAG run's MLflow run (``mlflow_run``), one node (``node_run``),
the model (``model_alias``, ``model_registry``, ``promotion``), and the error contract they share
(``errors``). ``warm_runtime`` preloads all of it into the executor's workers."""
