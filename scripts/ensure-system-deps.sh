#!/usr/bin/env bash
# Install the system packages the test suite talks to for real. Idempotent; quiet when all is there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # TLS health-check tests
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)  # physical backups, PITR
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)  # the Unleash Node SDK and server
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)  # the Prometheus metric source
# Debian's package installs the binary as prometheus-alertmanager (upstream calls it alertmanager).
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || missing+=(prometheus-alertmanager)  # the Alertmanager webhook trigger
# The docker driver's tests start their own dockerd (no bridge, no iptables) and import an image
# made of a static busybox: nothing is pulled.
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v named >/dev/null 2>&1 || missing+=(bind9)  # DNS rollbacks: RFC 2136 updates to BIND
command -v nsupdate >/dev/null 2>&1 || missing+=(bind9-dnsutils)  # tsig-keygen's partner; dig
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)  # the haproxy router (runtime API)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the dashboard's browser tests (Playwright)
# Terraform stacks: Debian has no terraform package, so it is not installed here; its tests skip.
command -v terraform >/dev/null 2>&1 || echo "note: terraform is not on the PATH: the infrastructure" \
  "tests skip (install it: https://developer.hashicorp.com/terraform/install)" >&2
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # No service is started by the install: the tests start prometheus as a plain process, on a
  # port of their own (a policy-rc.d answering 101 tells invoke-rc.d to start nothing).
  policy=/usr/sbin/policy-rc.d
  placed_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && placed_policy=1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  if [ -n "$placed_policy" ]; then rm -f "$policy"; fi
fi
"$here/ensure-postgres.sh"
