"""Time each Kedro node's own function, apart from loading and saving its datasets.

Registered in every Kedro session through the ``kedro.hooks`` entry point of this package. It
only records durations in memory; a node task reads them (``node_run.run_node``) and logs
``task.<node>.node_seconds`` next to the task's whole ``task.<node>.seconds``, so that what a
task costs beyond its node's work can be read off each DAG run (benchmarks/bench.py).
"""

from __future__ import annotations

import time

from kedro.framework.hooks import hook_impl


class NodeTimer:
    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        #: node name -> seconds its function took, in this process
        self.seconds: dict[str, float] = {}

    # Kedro calls before_node_run once the inputs are loaded and after_node_run before the
    # outputs are saved: the span between them is the function alone.
    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        started = self._started.pop(node.name, None)
        if started is not None:
            self.seconds[node.name] = time.perf_counter() - started


node_timer = NodeTimer()
