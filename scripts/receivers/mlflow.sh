#!/usr/bin/env bash
# Runs MLflow's tracking server (from the virtualenv scripts/lib/mlflow-venv.sh makes) offline on loopback, for tests:
#
#   scripts/receivers/mlflow.sh MLFLOW PORT DATADIR [basic-auth]
#
# With basic-auth, MLflow's basic-auth app guards the server (users in DATADIR/basic_auth.db): its admin is "admin"
# with the password in MLFLOW_AUTH_ADMIN_PASSWORD, which the caller sets.
# MLFLOW is the mlflow executable. Runs and the model registry in DATADIR/mlflow.db (SQLite); artifacts proxied by the
# server (--serve-artifacts, the default) into DATADIR/artifacts; one worker, no background job runner.
# `mlflow server` starts children of its own (uvicorn): this script runs it in a process group of its own and ends the
# whole group on SIGTERM, SIGINT or SIGHUP, or as soon as its parent (the test process) is gone, so no server
# outlives the tests. Ready when GET http://127.0.0.1:PORT/health answers 200.
set -uo pipefail

if [ $# -ne 3 ] && { [ $# -ne 4 ] || [ "$4" != basic-auth ]; }; then
  echo "usage: $0 MLFLOW PORT DATADIR [basic-auth]" >&2
  exit 2
fi
MLFLOW=$1 PORT=$2 DATADIR=$3 AUTH=${4:-}
if [ ! -x "$MLFLOW" ]; then
  echo "$MLFLOW is not an executable: run scripts/lib/mlflow-venv.sh (scripts/test does)" >&2
  exit 127
fi
case $PORT in
  ''|*[!0-9]*) echo "PORT must be a number, got '$PORT'" >&2; exit 2 ;;
esac
mkdir -p "$DATADIR/artifacts"
parent=$PPID
extra=()
if [ "$AUTH" = basic-auth ]; then
  [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ] || { echo "basic-auth needs MLFLOW_AUTH_ADMIN_PASSWORD" >&2; exit 2; }
  cat >"$DATADIR/basic_auth.ini" <<INI
[mlflow]
default_permission = READ
database_uri = sqlite:///$DATADIR/basic_auth.db
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
  export MLFLOW_AUTH_CONFIG_PATH=$DATADIR/basic_auth.ini
  export MLFLOW_FLASK_SERVER_SECRET_KEY=${MLFLOW_FLASK_SERVER_SECRET_KEY:-test-only-$RANDOM$RANDOM}
  extra=(--app-name basic-auth)
fi

set -m   # the server gets a process group of its own: its id is the server's pid
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$MLFLOW" server --host 127.0.0.1 --port "$PORT" --workers 1 \
  --backend-store-uri "sqlite:///$DATADIR/mlflow.db" --artifacts-destination "$DATADIR/artifacts" "${extra[@]}" &
pid=$!

stop() {
  kill -TERM -- -"$pid" 2>/dev/null
  # Gone when no member of the group is left but zombies (the server stays one until this script reaps it).
  for _ in $(seq 50); do pgrep -g "$pid" -r R,S,D,T,I >/dev/null || exit 0; sleep 0.1; done
  kill -KILL -- -"$pid" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP
while kill -0 "$pid" 2>/dev/null && kill -0 "$parent" 2>/dev/null; do sleep 1 & wait $!; done
if ! kill -0 "$pid" 2>/dev/null; then
  wait "$pid"; status=$?
  echo "mlflow server exited with status $status" >&2
  kill -TERM -- -"$pid" 2>/dev/null
  exit "$status"
fi
stop
