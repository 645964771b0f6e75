"""The Kedro half of the test faults: ``hang_in_node`` (see ``mlops_test_faults``).

Loaded by every Kedro session of a test stack through the entry point ``kedro.hooks`` of the
``mlops_test_faults-0.dist-info`` next to it; kept apart so Airflow processes that load the
cluster policy do not import Kedro.
"""

from __future__ import annotations

import os
import time

from kedro.framework.hooks import hook_impl
from mlops_test_faults import InjectedFault, armed_fault

HANG_SECONDS = 600


class KedroFaultHooks:
    @hook_impl
    def before_dataset_saved(self, dataset_name, data, node) -> None:
        # Airflow exports the task's identity before execute (AIRFLOW_CTX_*)
        ids = [os.environ.get(f"AIRFLOW_CTX_{k}") for k in ("DAG_ID", "DAG_RUN_ID", "TASK_ID")]
        if not all(ids) or not (armed := armed_fault(*ids, "hang_in_node")):
            return
        parent = os.getppid()
        pid_file = armed.with_name(armed.name + ".pid")
        pid_file.with_suffix(".tmp").write_text(str(os.getpid()))
        pid_file.with_suffix(".tmp").replace(pid_file)
        release = armed.with_name(armed.name + ".release")
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline:
            if release.exists():  # the test broke something else meanwhile: carry on into it
                return
            if os.getppid() != parent:  # the supervisor is gone: nobody would hear of us
                os._exit(1)
            time.sleep(0.2)
        raise InjectedFault(f"injected hang before saving {dataset_name!r}: nobody killed it")


kedro_hooks = KedroFaultHooks()
