"""Bad input of the renderer (project, pipelines, environment, catalog, node names).

Each is explained with its fix; the command line prints it as one message and exits with
status 2, never a traceback (``kedro_mlops.render.cli``).
"""

from __future__ import annotations


class RenderError(ValueError):
    """A problem with the input of the renderer, explained with its fix (no traceback)."""


class NotAKedroProject(RenderError):
    pass


class UnknownPipeline(RenderError):
    pass


class UnknownEnvironment(RenderError):
    pass


class MemoryDatasetBetweenTasks(RenderError):
    pass


class InvalidTaskId(RenderError):
    pass


class BadTarget(RenderError):
    pass
