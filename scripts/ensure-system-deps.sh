#!/usr/bin/env bash
# Install the system packages the test suite talks to for real. Idempotent; quiet when all is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # TLS health-check tests
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)  # physical backups, PITR
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)  # the Unleash Node SDK and server
# a real Alertmanager posting to backout's webhook receiver (tests/web/test_alertmanager_real.py)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
"$here/ensure-postgres.sh"
