#!/usr/bin/env bash
# Installs MLflow's tracking server from PyPI for the MLflow export tests, in a virtualenv of its own
# (.venv-mlflow in the repository, git-ignored; AD_MLFLOW_VENV overrides), pinned to one version. Idempotent: when
# that version is already there it only prints the path. Quiet unless something fails. Prints the path of the
# mlflow executable on its last line (scripts/test passes it to the tests as AD_TEST_MLFLOW).
#   scripts/lib/mlflow-venv.sh
# A clean install downloads about 250 MB of wheels and takes a minute or so; the virtualenv holds about 860 MB.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VERSION=3.17.2   # MLflow's REST API 2.0 and artifact proxy as ADMLflow uses them were checked against this version
VENV=${AD_MLFLOW_VENV:-$REPO/.venv-mlflow}
PYTHON=/usr/bin/python3   # Debian's (scripts/lib/deps.sh installs it), not whichever python3 is first on PATH

# mlflow[auth]: the basic-auth app (Flask-WTF) too, which the authentication test runs.
installed() {
  compgen -G "$VENV/lib/python3*/site-packages/mlflow-$VERSION.dist-info" >/dev/null \
    && compgen -G "$VENV/lib/python3*/site-packages/flask_wtf" >/dev/null && [ -x "$VENV/bin/mlflow" ]
}

if ! installed; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      echo "mlflow-venv: $PYTHON cannot make a virtualenv: install the Debian package python3-venv" >&2; exit 1
    fi
    echo "mlflow-venv: installing python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log=$(mktemp /tmp/mlflow-venv.XXXXXX)
  echo "mlflow-venv: installing mlflow[auth]==$VERSION into $VENV" >&2
  if ! { "$PYTHON" -m venv --clear "$VENV" \
         && "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "mlflow[auth]==$VERSION"; } >"$log" 2>&1; then
    echo "mlflow-venv: installing mlflow==$VERSION failed:" >&2; tail -30 "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  installed || { echo "mlflow-venv: mlflow==$VERSION is still not in $VENV after installing it" >&2; exit 1; }
fi
echo "$VENV/bin/mlflow"
