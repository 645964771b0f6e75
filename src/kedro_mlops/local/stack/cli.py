"""`python -m kedro_mlops.local.stack up|stop|status|env` for the local service stack."""

from __future__ import annotations

import argparse
import os
import sys

from ..settings import Settings
from . import (
    ServiceError,
    all_components,
    print_progress,
    services_status,
    start_services,
    stop_services,
)

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m kedro_mlops.local.stack",
        description="Local stack: PostgreSQL (existing or embedded) -> S3 -> MLflow -> Airflow. "
                    "Settings come from the environment (see kedro_mlops.local.settings).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the services (idempotent) and print their URLs")
    up.add_argument("--no-airflow", dest="airflow", action="store_false",
                    help="only PostgreSQL, S3 and MLflow (no Airflow services)")
    sub.add_parser("demo", help="up, then train through Airflow, register, score, print URLs")
    sub.add_parser("stop", help="stop the services the stack started, in reverse order")
    sub.add_parser("status", help="state, pid, URL and log of each service")
    env = sub.add_parser("env", help="print the environment contract as shell exports")
    env.add_argument("--show-secrets", action="store_true",
                     help="print the AWS keys instead of *** (for `eval $(...)`)")
    return p


def _print_status(statuses) -> None:
    for st in statuses:
        print(st.line())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            stack = start_services(settings, airflow=args.airflow, progress=print_progress)
            print(f"stack up in {stack.seconds:.1f}s (state {settings.state_dir})")
            _print_status(stack.services.values())
            if args.airflow:
                print(f"\nAirflow UI: {settings.airflow_url}")
            print(f"MLFLOW_TRACKING_URI={settings.mlflow_tracking_uri}")
            print(f"AWS_ENDPOINT_URL={settings.s3_endpoint_url}  bucket s3://{settings.bucket}")
            print("environment for Kedro: eval \"$(python -m kedro_mlops.local.stack env "
                  "--show-secrets)\"")
        elif args.command == "demo":
            from ..demo import print_summary, run_demo

            print_summary(settings, run_demo(settings))
        elif args.command == "stop":
            stopped = stop_services(settings, progress=print_progress)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif args.command == "status":
            statuses = services_status(settings, components=all_components(settings))
            _print_status(statuses)
            return 0 if all(st.running for st in statuses) else 3
        elif args.command == "env":
            import shlex

            env = settings.env() if args.show_secrets else settings.redacted_env()
            for key, value in env.items():
                print(f"export {key}={shlex.quote(value)}")
            if not args.show_secrets:
                print("# AWS keys masked: add --show-secrets to export them", file=sys.stderr)
    except ServiceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RuntimeError as err:  # a failed DAG run (AirflowError) or registry surprise
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
