"""Read-only commands over what the deployment recorded in MLflow and the lake.

- ``kedro-mlops-lineage``: a prediction partition (or one listing of it) back to the scoring
  run, the model version and alias, the training run, its commit, data hash and DAG run.
- ``kedro-mlops-runs``: the last training runs side by side, in the terminal or as a file.
"""
