"""How the project's datasets open a local path or a remote URL (s3://...)."""

from __future__ import annotations

from typing import Any

import fsspec


def open_filesystem(
    url: str, storage_options: dict[str, Any] | None, credentials: dict[str, Any] | None
) -> tuple[fsspec.AbstractFileSystem, str, bool]:
    """The fsspec file system of ``url``, the path in it, and whether it is the local disk."""
    fs, path = fsspec.core.url_to_fs(url, **{**(storage_options or {}), **(credentials or {})})
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return fs, path, "file" in protocols
