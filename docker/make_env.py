"""Write .env for docker-compose.yml from .env.example, with a fresh random value per secret.

    python3 docker/make_env.py             # writes ./.env (mode 0600); never overwrites one
    python3 docker/make_env.py --output PATH

Every empty `NAME=` line of .env.example gets a random value (letters and digits, safe inside
the database URLs); the commented optional settings are copied as they are, to edit by hand.
Standard library only: runs with any Python 3.9+, outside the project's virtualenv.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SPECIAL = {
    # Airflow's Fernet key: url-safe base64 of 32 random bytes.
    "AIRFLOW_FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    # HS512 signing key: at least 64 bytes (PyJWT warns below that).
    "AIRFLOW_JWT_SECRET": lambda: secrets.token_hex(64),
    # readable login names
    "MINIO_ROOT_USER": lambda: f"minio-admin-{secrets.token_hex(4)}",
    "MLOPS_S3_ACCESS_KEY_ID": lambda: f"mlops-{secrets.token_hex(8)}",
}


def fill(example: str) -> str:
    """.env.example's text with every empty `NAME=` line given a random value."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        return f"{name}={SPECIAL.get(name, lambda: secrets.token_hex(24))()}"

    return re.sub(r"^([A-Z][A-Z0-9_]*)=$", value, example, flags=re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, default=REPO / ".env.example")
    parser.add_argument("--output", type=Path, default=REPO / ".env")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"{args.output} exists: not overwritten (delete it first to start afresh; the "
              "secrets in it must match the data already in the volumes)", file=sys.stderr)
        return 1
    text = fill(args.example.read_text())
    fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    print(f"wrote {args.output} (mode 0600) with new random secrets; review the optional "
          "settings at its end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
