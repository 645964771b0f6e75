"""The champion/challenger decision: pure function of the scores, the metric, the margin, force."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from mlflow.types import ColSpec, Schema

from kedro_mlops.runtime.promotion import (
    FIRST_CHAMPION,
    FORCED,
    KEPT_CHAMPION,
    PROMOTED,
    PromotionConfig,
    PromotionConfigError,
    _cast_to_schema,
    decide,
    relative_improvement,
    score,
    summary,
)


def test_no_champion_makes_the_first_one_whatever_the_score():
    d = decide(1e9, None, "mae")
    assert (d.decision, d.promote) == (FIRST_CHAMPION, True)
    assert "no champion" in d.reason
    assert decide(-5.0, None, "r2", min_improvement=0.5).decision == FIRST_CHAMPION


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_lower_is_better_for_errors(metric):
    better = decide(40.0, 50.0, metric, champion_version="3")
    assert (better.decision, better.promote) == (PROMOTED, True)
    assert "v3" in better.reason and "+20.00%" in better.reason
    worse = decide(60.0, 50.0, metric, champion_version="3")
    assert (worse.decision, worse.promote) == (KEPT_CHAMPION, False)
    assert "-20.00%" in worse.reason and "champion stays" in worse.reason


def test_higher_is_better_for_r2():
    assert decide(0.6, 0.5, "r2").decision == PROMOTED
    assert decide(0.4, 0.5, "r2").decision == KEPT_CHAMPION


def test_a_tie_keeps_the_champion():
    assert decide(50.0, 50.0, "mae").decision == KEPT_CHAMPION
    assert decide(0.5, 0.5, "r2").decision == KEPT_CHAMPION


def test_the_margin_is_relative_and_must_be_exceeded():
    # 1% of 50 is 0.5: 49.5 is exactly 1% better, not more
    assert decide(49.5, 50.0, "mae", min_improvement=0.01).decision == KEPT_CHAMPION
    assert decide(49.4, 50.0, "mae", min_improvement=0.01).decision == PROMOTED
    assert decide(48.0, 50.0, "mae", min_improvement=0.05).decision == KEPT_CHAMPION
    # r2 0.50 -> 0.52 is +4% relative
    assert decide(0.52, 0.50, "r2", min_improvement=0.05).decision == KEPT_CHAMPION
    assert decide(0.53, 0.50, "r2", min_improvement=0.05).decision == PROMOTED


def test_force_promotes_a_worse_challenger_and_says_so():
    d = decide(80.0, 50.0, "mae", force=True, champion_version="2")
    assert (d.decision, d.promote) == (FORCED, True)
    assert "force_promotion" in d.reason and "-60.00%" in d.reason
    assert decide(40.0, 50.0, "mae", force=True).decision == FORCED
    # with no champion there is nothing to force over
    assert decide(40.0, None, "mae", force=True).decision == FIRST_CHAMPION


def test_an_unscorable_challenger_is_an_error_not_a_decision():
    with pytest.raises(ValueError, match="challenger"):
        decide(math.nan, 50.0, "mae")
    with pytest.raises(ValueError, match="champion"):
        decide(40.0, math.nan, "mae")
    assert decide(40.0, math.nan, "mae", force=True).decision == FORCED


def test_unknown_metric():
    with pytest.raises(PromotionConfigError, match="accuracy"):
        decide(1.0, 2.0, "accuracy")


def test_relative_improvement_with_a_zero_champion():
    assert relative_improvement(1.0, 0.0, "mae") == -math.inf
    assert relative_improvement(0.0, 0.0, "mae") == 0.0
    assert relative_improvement(0.1, 0.0, "r2") == math.inf


def test_scores():
    y, p = [100.0, 200.0, 300.0], [110.0, 190.0, 330.0]
    assert score("mae", y, p) == pytest.approx(50 / 3)
    assert score("rmse", y, p) == pytest.approx(math.sqrt((100 + 100 + 900) / 3))
    assert score("r2", y, y) == 1.0
    with pytest.raises(ValueError):
        score("mae", [1.0], [1.0, 2.0])


def test_config_is_checked():
    config = PromotionConfig.from_mapping(
        {"holdout_dataset": "test_listings", "target": "price", "metric": "rmse",
         "min_improvement": 0.01, "raw_dataset": "raw_listings", "id_column": "id"})
    assert config.metric == "rmse" and config.min_improvement == 0.01
    for bad, match in [
        ({"target": "price"}, "holdout_dataset"),
        ({"holdout_dataset": "t", "target": "price", "metric": "mape"}, "mape"),
        ({"holdout_dataset": "t", "target": "price", "min_improvement": -0.1}, "min_improvement"),
        ({"holdout_dataset": "t", "target": "price", "raw_dataset": "r"}, "together"),
        ({"holdout_dataset": "t", "target": "price", "margin": 1}, "margin"),
    ]:
        with pytest.raises(PromotionConfigError, match=match):
            PromotionConfig.from_mapping(bad)


def test_held_out_columns_are_cast_to_the_signature():
    schema = Schema([ColSpec("long", "n"), ColSpec("double", "x"), ColSpec("string", "day")])
    frame = pd.DataFrame({"n": [1.0, 2.0], "x": [1, 2],
                          "day": pd.to_datetime(["2019-05-26", None])})
    cast = _cast_to_schema(frame, schema)
    assert str(cast["n"].dtype) == "int64" and str(cast["x"].dtype) == "float64"
    assert cast["day"].iloc[0] == "2019-05-26" and pd.isna(cast["day"].iloc[1])


# --------------------------------------------------------------------------- retries


def _version(client, name: str):
    run = client.create_run(client.create_experiment(f"e{len(client.search_experiments())}"))
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, "file:///nowhere", run_id=run.info.run_id)
    return run.info.run_id, str(version.version)


def test_the_summary_is_one_sentence_with_both_scores_and_the_rule():
    promoted = summary(PROMOTED, "mae", 61.2, 63.0, "3", 0.0, 9779, "test_listings")
    assert promoted == ("Promoted to `@champion`: MAE 61.20 beats champion v3's 63.00 by 2.9% "
                        "(rule: lower MAE by more than 0.0%) on 9,779 held-out rows of "
                        "test_listings.")
    kept = summary(KEPT_CHAMPION, "mae", 64.0, 63.0, "3", 0.01, 100, "t")
    assert kept.startswith("Kept champion v3 as `@champion`: MAE 64.00 vs champion v3's 63.00, "
                           "1.6% worse, does not pass the rule: lower MAE by more than 1.0%")
    assert "a tie" in summary(KEPT_CHAMPION, "r2", 0.5, 0.5, "1", 0.0, 10, "t")
    assert "higher R2" in summary(PROMOTED, "r2", 0.6, 0.5, "1", 0.0, 10, "t")
    first = summary(FIRST_CHAMPION, "mae", 42.7484, None, None, 0.0, 4000, "test_listings")
    assert first == ("First `@champion`: MAE 42.75 on 4,000 held-out rows of test_listings; "
                     "there was no champion to compare with.")
    forced = summary(FORCED, "mae", 80.0, 50.0, "2", 0.0, 10, "t")
    assert "force_promotion=true" in forced and "60.0% worse" in forced
    assert "could not be scored" in summary(FORCED, "mae", 80.0, math.nan, "2", 0.0, 10, "t")
    for sentence in (promoted, kept, first, forced):
        assert "\n" not in sentence and sentence.count(". ") == 0


FULL = {"promotion.decision": "kept_champion", "promotion.reason": "r",
        "promotion.summary": "Kept champion v1 as `@champion`: ...", "promotion.metric": "mae",
        "promotion.champion_version": "1", "promotion.challenger_mae": "60.0",
        "promotion.champion_mae": "50.0", "promotion.holdout_rows": "9779",
        "promotion.forced": "false", "promotion.model_version": "2"}


def test_the_version_gets_the_sentence_and_few_tags_the_run_every_detail(registry):
    from kedro_mlops.runtime.promotion import record

    run_id, version = _version(registry, "m")
    record(registry, "m", version, run_id, FULL)
    mine = registry.get_model_version("m", version)
    assert mine.description == FULL["promotion.summary"]
    assert mine.tags == {k: FULL[k] for k in ("promotion.decision", "promotion.metric",
                                              "promotion.champion_version",
                                              "promotion.challenger_mae",
                                              "promotion.champion_mae")}
    run_tags = registry.get_run(run_id).data.tags
    assert {k: run_tags[k] for k in FULL} == FULL


@pytest.mark.parametrize(("decision", "champion_after"), [("kept_champion", "1"),
                                                          ("forced", "2")])
def test_a_retry_reapplies_the_recorded_decision(registry, decision, champion_after):
    from kedro_mlops.runtime.promotion import evaluate_and_promote

    _, first = _version(registry, "m")
    run_id, second = _version(registry, "m")
    registry.set_registered_model_alias("m", "champion", first)
    recorded = {**FULL, "promotion.decision": decision, "promotion.champion_version": first}
    # a first try that died after writing its decision: every detail on the run, the decision
    # on the version
    for key, value in recorded.items():
        registry.set_tag(run_id, key, value)
    registry.set_model_version_tag("m", second, "promotion.decision", decision)
    config = {"holdout_dataset": "never_loaded", "target": "price"}
    for _ in range(2):  # nothing is evaluated again (the call would fail on data): same outcome
        tags = evaluate_and_promote(None, run_id, "m", second, config)
        assert tags == recorded
        assert str(registry.get_model_version_by_alias("m", "challenger").version) == second
        assert str(registry.get_model_version_by_alias("m", "champion").version) == \
            champion_after
        mine = registry.get_model_version("m", second)
        assert mine.description == recorded["promotion.summary"]
        assert len(mine.tags) == 5 and mine.tags["promotion.decision"] == decision


def test_a_retry_of_a_version_that_carries_every_tag_itself(registry):
    """Versions gated before the details moved to the run: their own tags are the record."""
    from kedro_mlops.runtime.promotion import evaluate_and_promote

    run_id, version = _version(registry, "m")
    old = {k: v for k, v in FULL.items() if k != "promotion.summary"}
    for key, value in old.items():
        registry.set_model_version_tag("m", version, key, value)
    tags = evaluate_and_promote(None, run_id, "m", version,
                                {"holdout_dataset": "never_loaded", "target": "price"})
    assert tags == old
    assert registry.get_run(run_id).data.tags["promotion.decision"] == "kept_champion"


def _holdout():
    import numpy as np
    import pandas as pd

    from kedro_mlops.runtime.promotion import PromotionConfig

    features = pd.DataFrame({"room_type": ["a", "b", "c"], "nights": [1, 2, 3]})
    config = PromotionConfig.from_mapping({"holdout_dataset": "t", "target": "price"})
    return features, np.array([10.0, 20.0, 30.0]), config


def test_the_holdout_key_changes_with_the_rows_the_target_and_the_scoring():
    import dataclasses

    from kedro_mlops.runtime.promotion import holdout_key

    features, y, config = _holdout()
    key = holdout_key(features, y, config)
    assert key == holdout_key(features.copy(), y.copy(), config)
    changed = features.copy()
    changed.loc[1, "nights"] = 5
    assert holdout_key(changed, y, config) != key
    assert holdout_key(features.rename(columns={"nights": "n"}), y, config) != key
    assert holdout_key(features.astype({"nights": "float64"}), y, config) != key
    assert holdout_key(features, y + 1, config) != key
    assert holdout_key(features, y, dataclasses.replace(config, metric="rmse")) != key


def test_a_champion_scored_on_the_same_rows_keeps_its_recorded_score():
    from types import SimpleNamespace

    from kedro_mlops.runtime.promotion import holdout_key, recorded_score

    features, y, config = _holdout()
    key = holdout_key(features, y, config)
    champion = SimpleNamespace(tags={"promotion.challenger_mae": "42.5",
                                     "promotion.holdout_key": key})
    assert recorded_score(champion, "mae", key) == 42.5
    assert recorded_score(champion, "rmse", key) is None  # scored with another metric
    assert recorded_score(champion, "mae", "other rows") is None
    # versions gated before the key was recorded, or registered by hand
    assert recorded_score(SimpleNamespace(tags={"promotion.challenger_mae": "42.5"}), "mae",
                          key) is None
    assert recorded_score(SimpleNamespace(tags={}), "mae", key) is None
