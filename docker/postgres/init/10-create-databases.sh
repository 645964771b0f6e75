#!/usr/bin/env bash
# Create the `airflow` and `mlflow` users and databases (each user owns its database), and
# `mlflow_auth` (the users of MLflow's basic-auth app), owned by `mlflow` too.
#
# Idempotent: existing users get their password reset to the given one, existing databases are
# kept. Run by the one-shot `postgres-init` service of docker-compose.yml on every
# `docker compose up`; it can also be run by hand against a managed PostgreSQL server
# (RDS, Cloud SQL, Azure...) with an admin login that may create roles and databases:
#
#   PGHOST=db.example.com PGUSER=admin PGPASSWORD=... PGDATABASE=postgres \
#   AIRFLOW_DB_PASSWORD=... MLFLOW_DB_PASSWORD=... docker/postgres/init/10-create-databases.sh
#
# Connection: the libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
# Required: AIRFLOW_DB_PASSWORD, MLFLOW_DB_PASSWORD (no defaults: never a default password).
# Optional: AIRFLOW_DB_USER / AIRFLOW_DB_NAME (default airflow), MLFLOW_DB_USER / MLFLOW_DB_NAME
# (default mlflow), MLFLOW_AUTH_DB_NAME (default mlflow_auth).
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD must be set (password of the airflow database user)}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set (password of the mlflow database user)}"
AIRFLOW_DB_USER="${AIRFLOW_DB_USER:-airflow}"
AIRFLOW_DB_NAME="${AIRFLOW_DB_NAME:-airflow}"
MLFLOW_DB_USER="${MLFLOW_DB_USER:-mlflow}"
MLFLOW_DB_NAME="${MLFLOW_DB_NAME:-mlflow}"
MLFLOW_AUTH_DB_NAME="${MLFLOW_AUTH_DB_NAME:-mlflow_auth}"

create() {  # create <user> <password> <database>
    # Values travel as psql variables and are quoted by format(%I/%L) on the server: no
    # password or name is ever spliced into SQL text by the shell. \gexec runs each generated
    # statement (CREATE DATABASE cannot run inside a DO block / transaction).
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
        -v user="$1" -v password="$2" -v database="$3" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'password') \gexec
-- A non-superuser admin (managed PostgreSQL) must be a member of a role to create a database
-- owned by it.
SELECT format('GRANT %I TO %I', :'user', current_user)
 WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
   AND NOT pg_has_role(current_user, :'user', 'MEMBER') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'database', :'user') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \gexec
SQL
    echo "database ${3}: owned by user ${1}"
}

create "$AIRFLOW_DB_USER" "$AIRFLOW_DB_PASSWORD" "$AIRFLOW_DB_NAME"
create "$MLFLOW_DB_USER" "$MLFLOW_DB_PASSWORD" "$MLFLOW_DB_NAME"
create "$MLFLOW_DB_USER" "$MLFLOW_DB_PASSWORD" "$MLFLOW_AUTH_DB_NAME"
