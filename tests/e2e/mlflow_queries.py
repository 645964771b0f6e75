"""MLflow look-ups the Airflow end-to-end tests share (asserting on what a DAG run left)."""

from __future__ import annotations


def runs_of_dag_run(dag_id: str, run_id: str, experiment: str):
    """Every MLflow run tagged with this Airflow DAG run (the tests expect exactly one)."""
    import mlflow

    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`airflow.dag_id` = '{dag_id}' and tags.`airflow.run_id` = '{run_id}'",
    )


def model_versions(name: str):
    """All versions of a registered model; none when the model was never registered."""
    import mlflow

    try:
        return mlflow.MlflowClient().search_model_versions(f"name='{name}'")
    except mlflow.exceptions.MlflowException:
        return []
