"""A task serves a PipelineML as its plain training pipeline, and only while its session runs
(kedro_mlops.runtime.plain_pipelines)."""

from __future__ import annotations

import sys
import types

import pytest
from kedro.framework.project import pipelines
from kedro.pipeline import Pipeline, node

from kedro_mlops.runtime import plain_pipelines


def _double(x):
    return 2 * x


@pytest.fixture
def registry(monkeypatch):
    """A project package whose registry has a pipeline with a ``training`` part (as a
    ``PipelineML`` has) and a plain one."""
    training = Pipeline([node(_double, "a", "b", name="double")])
    ml = Pipeline([node(_double, "b", "c", name="also_double"), *training.nodes])
    ml.training = training
    module = types.ModuleType("fake_project.pipeline_registry")
    module.register_pipelines = lambda: {"ml": ml, "plain": training}
    monkeypatch.setitem(sys.modules, "fake_project", types.ModuleType("fake_project"))
    monkeypatch.setitem(sys.modules, "fake_project.pipeline_registry", module)
    before = pipelines._pipelines_module
    yield ml
    pipelines.configure(before)


def test_pipelines_are_demoted_while_served_and_kedros_registry_is_back_after(registry):
    pipelines.configure("fake_project.pipeline_registry")
    with plain_pipelines.serving("fake_project"):
        served = dict(pipelines)
        assert [n.name for n in served["ml"].nodes] == ["double"]
        assert served["plain"].nodes == registry.training.nodes
    assert pipelines._pipelines_module == "fake_project.pipeline_registry"
    assert {n.name for n in pipelines["ml"].nodes} == {"also_double", "double"}
    with pytest.raises(RuntimeError, match="outside plain_pipelines.serving"):
        plain_pipelines.register_pipelines()


def test_the_registry_is_back_when_the_session_fails(registry):
    pipelines.configure(None)
    with pytest.raises(ValueError), plain_pipelines.serving("fake_project"):
        raise ValueError("node failed")
    assert pipelines._pipelines_module is None
    assert plain_pipelines._project_registry is None
