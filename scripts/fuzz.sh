#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each: an input count
# (default 5000x) rather than a duration, because a run whose -fuzztime
# duration ends while a worker is busy can fail with "context deadline
# exceeded" although nothing was found.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5000x}
count=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u || true)
  for t in $targets; do
    echo "fuzz $pkg $t ($fuzztime)"
    go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$pkg" >/tmp/flowwatch-fuzz.log 2>&1 || { cat /tmp/flowwatch-fuzz.log; exit 1; }
    count=$((count + 1))
  done
done
echo "fuzz: $count targets ran without failure"
