"""A logged model's pip requirements, inferred by MLflow once per environment and model shape.

MLflow infers them by loading the saved model in a fresh Python process and mapping what it
imports to installed packages: 3-4 s of every training run, for a list that only changes when
the environment, the project's code or the kinds of objects inside the model change. So the
version a training run registers is tagged with a key over exactly those inputs, and a later
run with the same key reuses that version's ``requirements.txt`` (MLflow then writes the same
``requirements.txt``, ``conda.yaml`` and ``python_env.yaml``). Anything the key cannot vouch
for (code pickled by value, an artifact that is not a pickle, a ``-c``/``-r`` line, a failed
inference) makes MLflow infer again, as it would without this module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pickletools
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

#: model version tag: the key its requirements were inferred under
KEY_TAG = "kedro_mlops.pip_requirements_key"

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
               "BINSTRING", "SHORT_BINSTRING"}


class _Unkeyable(Exception):
    """The model holds something whose imports the key cannot tell."""


def pickle_modules(data: bytes) -> set[str]:
    """Top-level modules a pickle stream refers to (its classes and functions).

    Raises ``_Unkeyable`` for data that is not one whole pickle, and for code cloudpickle
    pickled by value (whose imports are not references).
    """
    modules: set[str] = set()
    memo: dict[int, object] = {}
    pushed: list[object] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in _STRING_OPS:
                pushed.append(arg)
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                pushed.append(memo.get(int(arg)))
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = pushed[-1] if pushed else None
            elif name in ("GLOBAL", "INST"):
                modules.add(_reference(*str(arg).split(" ", 1)))
            elif name == "STACK_GLOBAL":
                module, qualname = pushed[-2:] if len(pushed) >= 2 else (None, None)
                if not isinstance(module, str) or not isinstance(qualname, str):
                    raise _Unkeyable("a STACK_GLOBAL without its module name")
                modules.add(_reference(module, qualname))
            else:
                pushed.append(None)
            if name == "STOP":
                break
    except (ValueError, EOFError, IndexError, UnicodeDecodeError) as error:
        raise _Unkeyable(f"not a pickle ({error})") from None
    return {m.split(".", 1)[0] for m in modules}


#: cloudpickle's helpers that rebuild code pickled by value (whose imports are not references)
_BY_VALUE = {"_make_function", "_make_skeleton_class", "_make_skeleton_enum", "subimport",
             "dynamic_subimport", "_make_code"}


def _reference(module: str, qualname: str) -> str:
    if module.startswith("cloudpickle") and qualname in _BY_VALUE:
        raise _Unkeyable(f"code pickled by value ({qualname})")
    return module


def _feed_tree(digest, root: Path) -> None:
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())


def _installed() -> list[str]:
    """Every distribution on sys.path, with its version (the names of its metadata folders)."""
    names: set[str] = set()
    for entry in sys.path:
        try:
            names.update(n for n in os.listdir(entry or ".")
                         if n.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    return sorted(names)


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def requirements_key(
    python_model: object,
    artifacts: Mapping[str, str],
    code_paths: Iterable[str],
    package_name: str,
    extra: Sequence[str] = (),
) -> str | None:
    """The key the model's inferred requirements depend on, or None when it cannot be told."""
    import cloudpickle

    digest = hashlib.sha256()
    digest.update(sys.version.encode() + b"\0" + sys.platform.encode())
    for name in _installed():
        digest.update(name.encode() + b"\0")
    spec = importlib.util.find_spec(package_name)
    roots = [Path(p) for p in code_paths]
    roots += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    # MLflow exports a uv project's lock instead of inferring when it runs in one
    roots += [p for p in (Path.cwd() / "uv.lock", Path.cwd() / "pyproject.toml") if p.is_file()]
    for root in roots:
        _feed_tree(digest, root.resolve())
    try:
        digest.update(repr(sorted(pickle_modules(cloudpickle.dumps(python_model)))).encode())
        for name, uri in sorted(artifacts.items()):
            path = _local_path(uri)
            modules = pickle_modules(path.read_bytes()) if path.is_file() else None
            if modules is None:
                raise _Unkeyable(f"artifact {name} is not a file")
            digest.update(name.encode() + repr(sorted(modules)).encode())
    except _Unkeyable as reason:
        log.info("pip requirements: inferred by MLflow (%s)", reason)
        return None
    digest.update(repr(list(extra)).encode())
    return digest.hexdigest()


def cached_requirements(client, model_name: str, key: str) -> list[str] | None:
    """The ``requirements.txt`` of a version of ``model_name`` inferred under ``key``."""
    import tempfile

    import mlflow

    try:
        versions = client.search_model_versions(
            f"name='{model_name}' and tags.`{KEY_TAG}` = '{key}'", max_results=1)
        if not versions:
            return None
        found = versions[0]
        # MLflow 3: a version's source is models:/<model id>; its files are the logged model's
        # (search results leave model_id empty)
        model_id = getattr(found, "model_id", None) or (
            found.source[len("models:/"):] if found.source.startswith("models:/m-") else None)
        location = (client.get_logged_model(model_id).artifact_location
                    if model_id else found.source)
        with tempfile.TemporaryDirectory(prefix="kedro-mlops-reqs-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{location.rstrip('/')}/requirements.txt", dst_path=tmp)
            lines = [line.strip() for line in Path(path).read_text().splitlines()]
    except Exception as error:  # noqa: BLE001 - no cache only costs the inference
        log.info("pip requirements: no cached list (%s)", error)
        return None
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines or any(line.startswith("-") for line in lines):
        return None
    log.info("pip requirements: reused from %s v%s (same environment, code and model "
             "objects): %s", model_name, found.version, ", ".join(lines))
    return lines


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = True


@contextmanager
def inference_watch():
    """Yields a callable telling whether MLflow's inference ran without a warning (a failed
    inference falls back to default requirements with a warning: never cached)."""
    # requirements_utils only warns of packages missing from PyPI (the project's own): not
    # a failure; environment warns when it falls back
    logger = logging.getLogger("mlflow.utils.environment")
    handler = _Warnings()
    logger.addHandler(handler)
    try:
        yield lambda: not handler.seen
    finally:
        logger.removeHandler(handler)
