#!/bin/sh
# One-shot job after `adworker migrate` (docker/compose.yaml's service "roles", in the TimescaleDB image for its
# psql): creates the product's group roles (SELECT ad.create_roles()), the stack's three logins with the passwords
# of their secret files, and allows the worker to deliver to the stack's Alertmanager and mail catcher (private
# addresses are refused unless the owner allows them). Idempotent: run again, it only sets the passwords anew.
#   adworker      IN ROLE ad_worker   the worker (DATABASE_URL of the service "worker")
#   adworker_api  IN ROLE ad_api      the HTTP API's sessions (AD_HTTP_DATABASE_URL)
#   grafana       IN ROLE ad_reader   Grafana's data source: the ad views and nothing else
set -eu
SECRETS=${SECRETS:-/run/secrets}
export PGHOST=${PGHOST:-db} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-anomaly_detection}
PGPASSWORD=$(cat "$SECRETS/postgres_password")
export PGPASSWORD
for f in worker_db_password api_db_password grafana_db_password; do
  [ -s "$SECRETS/$f" ] || { echo "roles: the secret $SECRETS/$f is missing or empty" >&2; exit 64; }
done
# psql's :'name' quotes each password as a literal on the client: no password is interpolated into SQL text here.
psql -X -q -v ON_ERROR_STOP=1 \
     -v worker_password="$(cat "$SECRETS/worker_db_password")" \
     -v api_password="$(cat "$SECRETS/api_db_password")" \
     -v grafana_password="$(cat "$SECRETS/grafana_db_password")" <<'SQL'
SELECT ad.create_roles();
SELECT format('CREATE ROLE %I LOGIN IN ROLE %I', v.login, v.grp)
  FROM (VALUES ('adworker', 'ad_worker'), ('adworker_api', 'ad_api'), ('grafana', 'ad_reader')) v(login, grp)
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = v.login) \gexec
ALTER ROLE adworker PASSWORD :'worker_password';
ALTER ROLE adworker_api PASSWORD :'api_password';
ALTER ROLE grafana PASSWORD :'grafana_password';
INSERT INTO ad_internal.outbound_allowlist (host, note)
VALUES ('alertmanager', 'the compose stack''s Alertmanager'), ('mailpit', 'the compose stack''s mail catcher')
ON CONFLICT (host) DO NOTHING;
SQL
echo "roles: ad.create_roles() done; logins adworker, adworker_api and grafana have their passwords"
