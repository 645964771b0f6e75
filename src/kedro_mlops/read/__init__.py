"""Read a Kedro project as the renderer needs it: its metadata, catalog, pipelines, airflow.yml,
with kedro-mlflow's hooks off (rendering needs no tracking server)."""
