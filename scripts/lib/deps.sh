#!/usr/bin/env bash
# Installs what building and testing need, from Debian only, and only what is missing (idempotent).
#   scripts/lib/deps.sh [test]     "test" adds the test-only packages.
set -euo pipefail
want=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev make gcc python3)
if [ "${1:-}" = test ]; then
  # pgTAP; and the real receivers the alert tests send to: aiosmtpd (SMTP), Alertmanager, openssl for test certificates.
  # python3-venv: the virtualenvs scripts/lib/mlflow-venv.sh and scripts/lib/api-venv.sh install into.
  # chromium: the browser the console tests drive through Playwright (scripts/lib/api-venv.sh); Playwright may not
  # download a browser of its own here.
  # prometheus: the real server the metrics test starts to scrape a worker, and promtool, which checks and unit-tests
  # docker/prometheus/alerts.yml.
  want+=(postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl python3-aiosmtpd prometheus-alertmanager openssl
         python3-venv chromium prometheus)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2; exit 1
  fi
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "deps: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
