"""scoring pipeline: a dated batch of raw-schema listings -> checked -> scored -> reported.

    scoring_batch (CSV files) --check_batch--> batch_check
    scoring_batch_part        --score_batch--> scored_parts (one part per task)
    scored_parts              --publish_predictions--> scored_batch (Parquet, one file per day)
    scored_batch              --report_scoring--> metrics, drift plot + HTML

`score_batch` can run as several tasks (runtime params batch_part / batch_parts: each scores
every n-th file of the day); `publish_predictions` joins their parts into the day's file.
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import check_batch, publish_predictions, report_scoring, score_batch


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                check_batch,
                inputs=["scoring_batch", "scoring_model_reference", "params:listing_schema"],
                outputs="batch_check",
                name="check_batch",
            ),
            node(
                score_batch,
                inputs=[
                    "scoring_batch_part",
                    "scoring_model",
                    "batch_check",
                    "scoring_run",
                ],
                outputs="scored_parts",
                name="score_batch",
            ),
            node(
                publish_predictions,
                inputs="scored_parts",
                outputs="scored_batch",
                name="publish_predictions",
            ),
            node(
                report_scoring,
                inputs=[
                    "scored_batch",
                    "batch_check",
                    "scoring_model_reference",
                    "params:scoring.drift",
                ],
                outputs=["scoring_metrics", "drift_report_plot", "drift_report_html"],
                name="report_scoring",
            ),
        ]
    )
