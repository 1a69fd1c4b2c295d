#!/usr/bin/env bash
# Runs Debian's Prometheus Alertmanager (package prometheus-alertmanager) offline on loopback, for tests:
#
#   scripts/receivers/alertmanager.sh PORT DATADIR
#
# Writes DATADIR/alertmanager.yml (one route to a receiver with no integrations: alerts are kept and listed by the
# API, never sent anywhere; resolve_timeout stays at its default), then execs alertmanager, so the caller's PID is
# alertmanager's own and a signal to it stops the server. No gossip (--cluster.listen-address=), data in DATADIR.
# Ready when GET http://127.0.0.1:PORT/-/ready answers 200.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 PORT DATADIR" >&2
  exit 2
fi
PORT=$1
DATADIR=$2
BIN=${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}

if [ ! -x "$BIN" ]; then
  echo "$BIN not found: install the Debian package prometheus-alertmanager (apt-get install prometheus-alertmanager)" >&2
  exit 127
fi
case $PORT in
  ''|*[!0-9]*) echo "PORT must be a number, got '$PORT'" >&2; exit 2 ;;
esac

mkdir -p "$DATADIR/data"
cat >"$DATADIR/alertmanager.yml" <<'YAML'
# Written by scripts/receivers/alertmanager.sh for tests: every alert goes to a receiver that notifies nobody.
route:
  receiver: "null"
  group_by: ["alertname"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
YAML

args=(
  --config.file="$DATADIR/alertmanager.yml"
  --storage.path="$DATADIR/data"
  --web.listen-address="127.0.0.1:$PORT"
  --cluster.listen-address=
  --log.level=warn
)

exec "$BIN" "${args[@]}"
