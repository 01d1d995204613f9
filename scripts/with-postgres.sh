#!/usr/bin/env bash
# Runs a command with FLOWWATCH_TEST_POSTGRES_DSN pointing at a throwaway
# PostgreSQL (scripts/postgres.sh), stopped afterwards. When the variable
# is already set, or no PostgreSQL is installed, the command runs as it is
# (the PostgreSQL tests then skip, saying why, unless
# FLOWWATCH_REQUIRE_POSTGRES=1, as CI sets).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${FLOWWATCH_TEST_POSTGRES_DSN:-}" ]; then
	exec "$@"
fi
if [ -z "${PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	exec "$@"
fi
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap '"$here/postgres.sh" stop "$tmp/pg"; rm -rf "$tmp"' EXIT
FLOWWATCH_TEST_POSTGRES_DSN=$("$here/postgres.sh" start "$tmp/pg")
export FLOWWATCH_TEST_POSTGRES_DSN
echo "PostgreSQL for the tests: $FLOWWATCH_TEST_POSTGRES_DSN"
"$@"
