"""The project's pipelines: data_processing, training (a kedro-mlflow PipelineML), scoring."""
