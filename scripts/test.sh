#!/usr/bin/env bash
# The whole test suite: vet, then every package with the race detector
# (store, API, engine and end-to-end tests that build and start the real
# binary). Run from anywhere; see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 20m ./... 2>&1 | tee /tmp/hookd-test.$$.log
status=${PIPESTATUS[0]}
passed=$(grep -c '^ok ' /tmp/hookd-test.$$.log || true)
failed=$(grep -c '^FAIL' /tmp/hookd-test.$$.log || true)
rm -f /tmp/hookd-test.$$.log
echo "packages: $passed passed, $failed failed"
exit "$status"
