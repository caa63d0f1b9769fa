#!/usr/bin/env bash
# Copy the dashboard's browser libraries from npm into src/backout/web/static/vendor/, pinned:
# the minified file and its LICENSE, the version in the name. Run by hand to move a version;
# the files are committed, so installing backout downloads nothing and builds nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../src/backout/web/static/vendor"
HTMX=2.0.11      # htmx.org
HTMX_SSE=2.2.4   # htmx-ext-sse (server-sent events for htmx 2)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "htmx.org@$HTMX" "htmx-ext-sse@$HTMX_SSE" >/dev/null
mkdir htmx sse
tar -xzf "htmx.org-$HTMX.tgz" -C htmx
tar -xzf "htmx-ext-sse-$HTMX_SSE.tgz" -C sse
rm -f "$vendor"/htmx-*
cp htmx/package/dist/htmx.min.js "$vendor/htmx-$HTMX.min.js"
cp htmx/package/LICENSE "$vendor/htmx-$HTMX.LICENSE"
cp sse/package/dist/sse.min.js "$vendor/htmx-ext-sse-$HTMX_SSE.min.js"
cp sse/package/LICENSE "$vendor/htmx-ext-sse-$HTMX_SSE.LICENSE"
echo "vendored htmx $HTMX and htmx-ext-sse $HTMX_SSE into $vendor"
