"""The plan between a Kedro project and its DAG files: one typed ``DagPlan`` per DAG
(``dag_plan``), and the catalog override that applies its dataset placements in a task
(``run_catalog``)."""
