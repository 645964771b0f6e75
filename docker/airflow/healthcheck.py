"""Container health checks of the Airflow services in docker-compose.yml.

    python healthcheck.py api-server            # GET /api/v2/monitor/health (metadatabase
                                                # healthy) and GET /execution/health
    python healthcheck.py scheduler|dag-processor|triggerer
                                                # this host's job row: running, heartbeat < 30 s
    python healthcheck.py worker [--name NODE] [--timeout S]
                                                # the Celery worker answers a ping (default node
                                                # celery@<hostname>, Airflow's default name)

Exit code 0 = healthy. The same checks as the local stack's (kedro_mlops.local.stack.airflow), and
cheap: no Airflow import (an `airflow jobs check` costs ~3 s of CPU per call, every interval, per
container). Reads the container's environment: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN,
AIRFLOW__API__PORT, AIRFLOW__CELERY__BROKER_URL.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from datetime import UTC, datetime, timedelta

from kedro_mlops.local.stack.airflow import (
    JOB_HEALTH_THRESHOLD,
    JOB_TYPES,
    api_server_health,
    libpq_url,
)

JOBS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def job_healthy(component: str, hostname: str) -> bool:
    """The newest running job of this kind on this host heartbeats (hostname_callable =
    socket.gethostname in airflow.cfg, i.e. the container's hostname)."""
    import psycopg2

    conn = psycopg2.connect(libpq_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
                            connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT latest_heartbeat FROM job WHERE job_type = %s AND state = 'running'"
                " AND hostname = %s ORDER BY latest_heartbeat DESC NULLS LAST LIMIT 1",
                (JOB_TYPES[JOBS[component]], hostname),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    if not row or row[0] is None:
        return False
    return datetime.now(UTC) - row[0] <= timedelta(seconds=JOB_HEALTH_THRESHOLD)


def worker_healthy(node: str, timeout: float = 5.0) -> bool:
    from celery import Celery

    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    try:
        replies = app.control.ping(destination=[node], timeout=timeout)
    finally:
        app.close()
    return any(node in reply for reply in replies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("component", choices=["api-server", "worker", *JOBS])
    parser.add_argument("--name", help="worker: Celery node name (default celery@<hostname>)")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="worker: seconds to wait for the ping's answer")
    parser.add_argument("--hostname", default=socket.gethostname(),
                        help="jobs: the hostname the job row records (default: this host's)")
    args = parser.parse_args(argv)
    try:
        if args.component == "api-server":
            port = int(os.environ.get("AIRFLOW__API__PORT", "8080"))
            healthy = api_server_health(port, "127.0.0.1", timeout=5.0)()
        elif args.component == "worker":
            healthy = worker_healthy(args.name or f"celery@{socket.gethostname()}",
                                     timeout=args.timeout)
        else:
            healthy = job_healthy(args.component, args.hostname)
    except Exception as err:  # noqa: BLE001 - any failure means "not healthy"; say why
        print(f"{args.component}: unhealthy: {err!r}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"{args.component}: unhealthy", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
