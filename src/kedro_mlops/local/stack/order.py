"""Start and stop a stack's services in their dependency order, independent ones at once.

Each component may name the services it needs (``after``, as ``depends_on`` in the compose
file); one that names none needs every service listed before it. Starting Airflow's scheduler,
dag-processor and triggerer together once the database is migrated, and MLflow beside them,
halves a stack's start: most of each start is a new Python process importing Airflow or MLflow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any


def needs(components: Sequence[Any]) -> dict[str, set[str]]:
    """For each component's name, the names (among ``components``) it needs up first."""
    names = [c.name for c in components]
    graph: dict[str, set[str]] = {}
    for i, comp in enumerate(components):
        after = getattr(comp, "after", None)
        graph[comp.name] = set(names[:i]) if after is None else set(after) & set(names)
    return graph


def run_ordered(components: Sequence[Any], action: Callable[[Any], Any], *, reverse: bool = False,
                keep_going: bool = False) -> tuple[dict[str, Any], list[Exception]]:
    """Call ``action`` on every component once those it needs have had theirs (``reverse``:
    once every component that needs it has had its own), as many at once as may be.

    Returns each name's result and the errors, in the order they happened. After an error, only
    ``keep_going`` calls the action on the components still waiting (stopping every service);
    otherwise those are skipped and the calls under way are waited for.
    """
    graph = needs(components)
    if reverse:
        graph = {name: {other for other, deps in graph.items() if name in deps}
                 for name in graph}
    by_name = {c.name: c for c in components}
    results: dict[str, Any] = {}
    errors: list[Exception] = []
    finished: set[str] = set()
    running: dict[Future, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(components))) as pool:
        while True:
            if keep_going or not errors:
                for name, comp in by_name.items():
                    if (name not in finished and name not in running.values()
                            and graph[name] <= finished):
                        running[pool.submit(action, comp)] = name
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                finished.add(name)
                try:
                    results[name] = future.result()
                except Exception as err:  # noqa: BLE001 - handed to the caller
                    errors.append(err)
    return results, errors
