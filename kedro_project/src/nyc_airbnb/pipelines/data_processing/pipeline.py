"""data_processing pipeline, and price_reference (regenerates the committed drift reference)."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import (
    build_price_reference,
    check_clean_listings,
    clean_listings,
    split_listings,
    validate_raw_listings,
)


def _validate_and_clean() -> Pipeline:
    return pipeline(
        [
            node(
                validate_raw_listings,
                inputs=["raw_listings", "params:listing_schema", "params:data_quality"],
                outputs="validated_raw_listings",
                name="validate_raw_listings",
            ),
            node(
                clean_listings,
                inputs=["validated_raw_listings", "params:cleaning"],
                outputs="clean_listings",
                name="clean_listings",
            ),
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    return _validate_and_clean() + pipeline(
        [
            node(
                check_clean_listings,
                inputs=[
                    "clean_listings",
                    "price_reference",
                    "params:listing_schema",
                    "params:cleaning",
                    "params:data_quality",
                ],
                outputs=["model_input_listings", "data_quality_report"],
                name="check_clean_listings",
            ),
            node(
                split_listings,
                inputs=["model_input_listings", "params:split"],
                outputs=["train_listings", "test_listings"],
                name="split_listings",
            ),
        ]
    )


def create_price_reference_pipeline(**kwargs) -> Pipeline:
    """Rebuild data/01_raw/price_reference.json from the raw file (run it, review, commit)."""
    return _validate_and_clean() + pipeline(
        [
            node(
                build_price_reference,
                inputs=["clean_listings", "params:cleaning", "params:price_reference"],
                outputs="price_reference",
                name="build_price_reference",
            )
        ]
    )
