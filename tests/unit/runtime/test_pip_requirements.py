"""The key a model's inferred pip requirements are reused under, and the reuse itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import cloudpickle
import pytest
from sklearn.preprocessing import OneHotEncoder

from kedro_mlops.runtime import pip_requirements
from kedro_mlops.runtime.pip_requirements import (
    KEY_TAG,
    _Unkeyable,
    cached_requirements,
    pickle_modules,
    requirements_key,
)


def _double(x):
    return 2 * x


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickle_names_the_modules_of_its_classes(protocol):
    data = pickle.dumps({"encoder": OneHotEncoder(), "n": 3}, protocol=protocol)
    assert {"sklearn"} <= pickle_modules(data)
    # memoized module names (the second reference to a module is a BINGET) are still seen
    assert "sklearn" in pickle_modules(pickle.dumps([OneHotEncoder(), OneHotEncoder()],
                                                    protocol=protocol))


def test_code_pickled_by_value_or_bytes_that_are_no_pickle_cannot_be_keyed():
    with pytest.raises(_Unkeyable, match="by value"):
        pickle_modules(cloudpickle.dumps(lambda x: x + 1))
    with pytest.raises(_Unkeyable, match="not a pickle"):
        pickle_modules(b"\x89HDF\r\n\x1a\n not a pickle")
    # a function of an importable module is a reference: fine
    assert pickle_modules(cloudpickle.dumps(_double)) == {_double.__module__.split(".")[0]}


@pytest.fixture
def model_files(tmp_path):
    code = tmp_path / "code" / "proj"
    code.mkdir(parents=True)
    (code / "nodes.py").write_text("def f(x):\n    return x\n")
    artifact = tmp_path / "encoder.pkl"
    artifact.write_bytes(pickle.dumps(OneHotEncoder()))
    return code, artifact


def _key(code: Path, artifact: Path, extra=()):
    return requirements_key({"model": _double}, {"encoder": artifact.as_uri()}, [str(code)],
                            "kedro_mlops", extra)


def test_the_key_changes_with_what_the_inference_depends_on_only(model_files):
    code, artifact = model_files
    key = _key(code, artifact)
    assert key and len(key) == 64
    # refitted: other bytes, the same classes -> the same key
    artifact.write_bytes(pickle.dumps(OneHotEncoder(sparse_output=False)))
    assert _key(code, artifact) == key
    # other classes inside the model -> another key
    artifact.write_bytes(pickle.dumps({"table": {"a": 1}}))
    other_objects = _key(code, artifact)
    assert other_objects != key
    # the project's code changed -> another key
    (code / "nodes.py").write_text("import numpy\n\ndef f(x):\n    return x\n")
    assert _key(code, artifact) not in (key, other_objects)
    assert _key(code, artifact, ["kedro==1.0"]) != _key(code, artifact)


def test_a_model_holding_code_pickled_by_value_gets_no_key(model_files):
    code, artifact = model_files
    artifact.write_bytes(cloudpickle.dumps(lambda x: x))
    assert _key(code, artifact) is None


def test_the_installed_distributions_are_part_of_the_key(model_files, monkeypatch):
    code, artifact = model_files
    key = _key(code, artifact)
    monkeypatch.setattr(pip_requirements, "_installed",
                        lambda: ["scikit-learn-0.1.dist-info"])
    assert _key(code, artifact) != key


def _register(client, name: str, requirements: list[str], key: str | None) -> str:
    import mlflow

    class _Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=_Echo(),
                                       pip_requirements=requirements)
    tags = {KEY_TAG: key} if key else {}
    return mlflow.register_model(info.model_uri, name, tags=tags).version


def test_a_version_inferred_under_the_key_gives_its_requirements(registry):
    _register(registry, "m", ["pandas==3.1.1", "scikit-learn==1.9.1"], "k1")
    cached = cached_requirements(registry, "m", "k1")
    assert cached is not None and "scikit-learn==1.9.1" in cached and "pandas==3.1.1" in cached
    assert any(line.startswith("mlflow==") for line in cached)  # MLflow's own pin comes along
    assert cached_requirements(registry, "m", "k2") is None
    assert cached_requirements(registry, "other", "k1") is None


def test_a_constraints_line_is_not_reused(registry, tmp_path):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("numpy<3\n")
    _register(registry, "m", ["pandas==3.1.1", f"-c {constraints}"], "k1")
    assert cached_requirements(registry, "m", "k1") is None
