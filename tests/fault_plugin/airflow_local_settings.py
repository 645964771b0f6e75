"""Airflow cluster policy of the test stacks only (this folder is on their PYTHONPATH).

Every task gets pre- and post-execute hooks that fire the faults a test armed for its DAG run;
the deployment's own code has no fault switch.
"""

from mlops_test_faults import after_execute, before_execute


def task_policy(task) -> None:
    # Applied where the task runner parses the DAG file, i.e. inside the task process.
    task._pre_execute_hook = before_execute
    task._post_execute_hook = after_execute
