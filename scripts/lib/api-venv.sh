#!/usr/bin/env bash
# Installs the HTTP API and console test tools from PyPI in a virtualenv of their own (.venv-api in the repository,
# git-ignored; AD_API_VENV overrides), each pinned to one version: schemathesis (checks the API against its OpenAPI
# 3.1 document), openapi-spec-validator (checks that document itself), playwright (drives the console in a browser)
# and jsonschema. Idempotent: when those versions are already there it only prints the path. Quiet unless something
# fails. Prints the path of the virtualenv's python on its last line (its bin/ holds st and openapi-spec-validator).
#   scripts/lib/api-venv.sh
# Playwright downloads no browser here (there is no internet but the package registries): its tests launch Debian's
# chromium (scripts/lib/deps.sh test installs it) with executable_path=/usr/bin/chromium; see
# scripts/lib/browser-smoke.py. PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD keeps anything from trying.
#
# The schemathesis run that was checked with these versions (a tiny OpenAPI 3.1 document and server, 2026-12):
#   "$VENV/bin/openapi-spec-validator" openapi.json        # the document itself; exit 1 on an invalid one
#   "$VENV/bin/st" --config-file st.toml run openapi.json --url http://127.0.0.1:PORT \
#       -H "Authorization: Bearer $TOKEN" --checks all --max-examples 20 --seed 1 --workers 1 \
#       --request-timeout 30 --no-color --generation-database none
# --checks all: every response against its schema, status and content type (response_schema_conformance, ...), and
# not_a_server_error fails on any 5xx; undeclared methods (TRACE, QUERY) must get 405. --max-examples bounds the
# cases per operation and phase (about 200 cases and 10 to 20 s for two operations); --max-time N is a budget that
# the run SPENDS (fuzzing repeats until it is over), not a cap. Exit status 1 on any failure, 0 when none. st.toml:
#   [warnings]
#   fail-on = ["missing_auth"]
# without which a wrong token passes (every answer is a documented 401: exit 0 with a warning only).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# openapi-spec-validator: schemathesis reports only the schemas it generates from; an operation whose responses break
# the OpenAPI 3.1 rules (a response without its description, say) passes its loading unremarked.
PINS=(schemathesis==4.32.5 openapi-spec-validator==0.9.0 playwright==1.65.2 jsonschema==4.26.0)
VENV=${AD_API_VENV:-$REPO/.venv-api}
PYTHON=/usr/bin/python3   # Debian's (scripts/lib/deps.sh installs it), not whichever python3 is first on PATH
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

installed() {
  [ -x "$VENV/bin/python" ] || return 1
  local pin name
  for pin in "${PINS[@]}"; do
    name=${pin%%==*}; name=${name//-/_}   # wheels name their metadata openapi_spec_validator-0.9.0.dist-info
    compgen -G "$VENV/lib/python3*/site-packages/$name-${pin##*==}.dist-info" >/dev/null || return 1
  done
}

if ! installed; then
  if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" != 0 ]; then
      echo "api-venv: $PYTHON cannot make a virtualenv: install the Debian package python3-venv" >&2; exit 1
    fi
    echo "api-venv: installing python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  log=$(mktemp /tmp/api-venv.XXXXXX)
  echo "api-venv: installing ${PINS[*]} into $VENV" >&2
  if ! { "$PYTHON" -m venv --clear "$VENV" \
         && "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "${PINS[@]}"; } >"$log" 2>&1; then
    echo "api-venv: installing ${PINS[*]} failed:" >&2; tail -30 "$log" >&2; rm -f "$log"; exit 1
  fi
  rm -f "$log"
  installed || { echo "api-venv: ${PINS[*]} are still not all in $VENV after installing them" >&2; exit 1; }
fi
echo "$VENV/bin/python"
