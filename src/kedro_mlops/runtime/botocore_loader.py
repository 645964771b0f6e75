"""One botocore data loader per warm executor worker, shared by the S3 clients of its tasks.

Every botocore session builds its own ``Loader``, which reads and parses botocore's JSON
models (the S3 service model, endpoint rules, partitions) and lists its data folders again:
0.1 s of every S3 client a task makes (s3fs makes one per filesystem, in every task), as
much as the task's S3 reads and writes themselves. The loader is a cache of plain data read
from botocore's own files (no connection, no thread, no credentials), so it is built and
filled once before the worker forks, and each forked task's sessions take it.

Only sessions with botocore's default data path share it (``AWS_DATA_PATH`` set in a task
gives that task a loader of its own, as before). Installed by ``warm_runtime.preload``; the
loader is as old as the worker, like the rest of its preloaded code.
"""

from __future__ import annotations

from typing import Any

#: what an S3 client loads: warmed into the shared loader before the worker forks
S3_MODELS = (("s3", "service-2"), ("s3", "endpoint-rule-set-1"))
DATA = ("endpoints", "partitions", "sdk-default-configuration", "_retry")


def install() -> Any:
    """Give every botocore session made after this, with the default data path, one shared
    loader, filled with what an S3 client reads; returns that loader."""
    import botocore.session
    from botocore import xform_name
    from botocore.model import ServiceModel

    original = getattr(botocore.session.create_loader, "__wrapped__",
                       botocore.session.create_loader)
    shared = original(None)

    def create_loader(search_path_string=None):
        if search_path_string is None:
            return shared
        return original(search_path_string)

    create_loader.__wrapped__ = original  # type: ignore[attr-defined]
    botocore.session.create_loader = create_loader
    models = [shared.load_service_model(service, kind) for service, kind in S3_MODELS]
    for name in DATA:
        shared.load_data(name)
    shared.list_available_services("service-2")
    # a client class names its methods through xform_name, whose cache is a module global
    for operation in ServiceModel(models[0]).operation_names:
        xform_name(operation)
    return shared
