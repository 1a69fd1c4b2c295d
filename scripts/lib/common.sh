# Sourced by the scripts: paths and the PostgreSQL 15 binaries.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${PG_CONFIG:-}" ]; then
  if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config; else PG_CONFIG=pg_config; fi
fi
export PG_CONFIG
PGBIN=$("$PG_CONFIG" --bindir)
