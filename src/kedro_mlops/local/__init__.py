"""Local tooling around the deployment, never imported by a DAG file or a task: the service stack
(``stack``: PostgreSQL, S3, MLflow, Airflow), its ``settings``, a REST client of Airflow
(``airflow_client``), the demo of the example project (``demo``) and read-only commands over
what the runs recorded (``cli``: ``kedro-mlops-runs``, ``kedro-mlops-lineage``)."""
