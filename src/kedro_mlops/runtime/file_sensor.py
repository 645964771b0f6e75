"""Waiting for late input files without holding a worker slot (deferrable; the triggerer polls).

A scheduled run can start before its day's files are there (an upstream job runs late). The
DAG's ``wait_for_files`` task (airflow.yml ``wait_for_files``) looks once; when the folder is
empty it hands the waiting to :class:`FilesArrivedTrigger` in Airflow's triggerer process and
frees its worker slot; the task resumes when a file arrives, and fails naming the folder when
the configured timeout passes first.

Imported by the task (when it runs) and by the triggerer; never by a DAG file's parse.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def files_under(path: str) -> list[str]:
    """Every file under ``path`` (``s3://bucket/prefix/`` or local), none when it is missing.

    S3 access as every task's: AWS_ENDPOINT_URL and the AWS_* keys of the environment.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    fs.invalidate_cache()  # a listing cached by an earlier look would hide new files
    try:
        return sorted(fs.find(root))
    except FileNotFoundError:
        return []


class FilesArrivedTrigger(BaseTrigger):
    """Fires ``{"status": "arrived", "files": [...]}`` once ``path`` holds a file, or
    ``{"status": "timeout"}`` at ``deadline`` (epoch seconds)."""

    def __init__(self, path: str, deadline: float, poke_interval: float) -> None:
        super().__init__()
        self.path = path
        self.deadline = deadline
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{__name__}.{type(self).__name__}",
                {"path": self.path, "deadline": self.deadline,
                 "poke_interval": self.poke_interval})

    async def run(self):
        while True:
            # fsspec's S3 calls block: off the triggerer's event loop, which serves every trigger
            files = await asyncio.to_thread(files_under, self.path)
            if files:
                yield TriggerEvent({"status": "arrived", "files": files})
                return
            left = self.deadline - time.time()
            if left <= 0:
                yield TriggerEvent({"status": "timeout"})
                return
            await asyncio.sleep(min(self.poke_interval, left))
