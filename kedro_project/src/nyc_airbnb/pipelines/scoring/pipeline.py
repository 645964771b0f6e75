"""scoring pipeline: batch CSV of raw-schema listings -> scored CSV (id, prediction, model version)."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import score_listings


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                score_listings,
                inputs=["scoring_listings", "champion_model", "params:listing_schema"],
                outputs="scored_listings",
                name="score_listings",
            )
        ]
    )
