"""Render Airflow DAG files from the plans (``dag_files``), and the command lines that do it
(``cli``: ``python -m kedro_mlops.render``, ``kedro-mlops-render``, ``kedro mlops render``)."""
