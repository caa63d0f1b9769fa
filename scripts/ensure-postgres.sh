#!/usr/bin/env bash
# Make sure the PostgreSQL 15 server binaries the test suite's throwaway clusters need
# (initdb, pg_ctl, postgres) are installed; installs the Debian package postgresql-15 if not.
# Idempotent: does nothing when they are already there. Exits non-zero, saying why, on failure.
set -euo pipefail

readonly BINDIR=/usr/lib/postgresql/15/bin
readonly PACKAGE=postgresql-15

say() { printf 'ensure-postgres: %s\n' "$*"; }
fail() {
    printf 'ensure-postgres: ERROR: %s\n' "$*" >&2
    exit 1
}

if [[ -x "$BINDIR/initdb" ]]; then
    say "PostgreSQL 15 already installed ($BINDIR/initdb); nothing to do"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 \
    || fail "$BINDIR/initdb is missing and apt-get is not available; install $PACKAGE by hand"

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
        || fail "$BINDIR/initdb is missing; run this script as root (or install sudo) to install $PACKAGE"
    sudo=(sudo)
fi

say "$BINDIR/initdb is missing; installing $PACKAGE with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update || fail "apt-get update failed (see above)"
"${sudo[@]}" apt-get install -y --no-install-recommends "$PACKAGE" \
    || fail "apt-get install $PACKAGE failed (see above)"

[[ -x "$BINDIR/initdb" ]] || fail "$PACKAGE is installed but $BINDIR/initdb is still missing"
say "installed $PACKAGE: $("$BINDIR/postgres" --version)"
