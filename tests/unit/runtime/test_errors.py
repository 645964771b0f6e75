"""The error contract (kedro_mlops.runtime.errors): ``retryable`` and ``metrics``, read along the
chain of causes."""

from __future__ import annotations

import pytest
from kedro.io import DatasetError

from kedro_mlops.runtime.errors import error_metrics, is_retryable
from kedro_mlops.runtime.model_alias import NoModelForAlias
from kedro_mlops.runtime.params import InvalidRunParams
from kedro_mlops.runtime.promotion import PromotionConfigError


class BadData(ValueError):
    retryable = False

    def __init__(self, message, metrics=None):
        super().__init__(message)
        self.metrics = metrics


def _raised_from(inner: Exception, outer: Exception) -> Exception:
    def wrap():
        try:
            raise inner
        except type(inner) as err:
            raise outer from err

    with pytest.raises(type(outer)) as info:
        wrap()
    return info.value


def _raised_while_handling(inner: Exception, outer: Exception) -> Exception:
    def wrap():
        try:
            raise inner
        except type(inner):
            raise outer  # no "from": the implicit __context__ is what is tested

    with pytest.raises(type(outer)) as info:
        wrap()
    return info.value


def test_an_error_that_says_nothing_is_retried():
    assert is_retryable(ConnectionError("server down"))
    assert is_retryable(type("Flaky", (Exception,), {"retryable": True})())


@pytest.mark.parametrize("error", [InvalidRunParams("x"), NoModelForAlias("x"),
                                   PromotionConfigError("x"), BadData("x")])
def test_the_deployments_own_input_errors_are_not_retried(error):
    assert not is_retryable(error)


def test_a_wrapper_keeps_what_its_cause_declared():
    assert not is_retryable(_raised_from(BadData("rows"), DatasetError("Failed while loading")))
    assert not is_retryable(_raised_while_handling(BadData("rows"), RuntimeError("node failed")))
    assert is_retryable(_raised_from(ConnectionError("down"), DatasetError("Failed")))


def test_an_instance_may_override_its_class():
    error = BadData("x")
    error.retryable = True
    assert is_retryable(error)


def test_metrics_come_from_the_first_error_in_the_chain_that_carries_some():
    inner = BadData("rows", metrics={"rows_rejected": 3, "share": "0.5"})
    wrapped = _raised_from(inner, DatasetError("Failed while loading"))
    assert error_metrics(wrapped) == {"rows_rejected": 3.0, "share": 0.5}
    outer = _raised_from(BadData("a", metrics={"a": 1}), BadData("b", metrics={"b": 2}))
    assert error_metrics(outer) == {"b": 2.0}


def test_no_metrics_or_empty_ones_log_nothing():
    assert error_metrics(RuntimeError("x")) == {}
    assert error_metrics(BadData("x", metrics={})) == {}
    assert error_metrics(BadData("x", metrics=[("a", 1)])) == {}


def test_a_cycle_in_the_chain_ends():
    first, second = RuntimeError("a"), BadData("b")
    first.__cause__, second.__cause__ = second, first
    assert not is_retryable(first)
    assert error_metrics(first) == {}
