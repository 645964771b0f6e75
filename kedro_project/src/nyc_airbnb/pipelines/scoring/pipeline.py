"""scoring pipeline: a dated batch of raw-schema listings -> checked -> scored -> reported.

    scoring_batch (CSV files) --check_batch--> batch_check
                              --score_batch--> scored_batch (Parquet, one file per date)
                                               --report_scoring--> metrics, drift plot + HTML
"""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import check_batch, report_scoring, score_batch


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
                    "scoring_batch",
                    "scoring_model",
                    "params:listing_schema",
                    "batch_check",
                    "scoring_run",
                ],
                outputs="scored_batch",
                name="score_batch",
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
