#!/usr/bin/env bash
# The whole test suite: vet, then every package with the race detector
# (store, API, engine and end-to-end tests that build and start the real
# binary), each store, API and end-to-end test on SQLite and on PostgreSQL.
# Run from anywhere; see README.md.
#
# PostgreSQL: a throwaway server from scripts/pg.sh (which installs Debian's
# postgresql package when absent and running as root), stopped and removed at
# the end whatever happens. When HOOKD_TEST_POSTGRES is already set (a server
# of your own; the tests create and drop a database per test) it is used
# instead. A server that cannot be started fails the run: the suite never
# skips PostgreSQL silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log=$(mktemp "${TMPDIR:-/tmp}/hookd-test.XXXXXX")
pgdir=
cleanup() {
	rm -f "$log"
	if [[ -n $pgdir ]]; then
		scripts/pg.sh stop "$pgdir" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${HOOKD_TEST_POSTGRES:-} ]]; then
	echo "== PostgreSQL (scripts/pg.sh start)"
	if ! env=$(scripts/pg.sh start); then
		echo "FAIL: could not start PostgreSQL for the tests (see pg.sh's messages above)" >&2
		exit 1
	fi
	eval "$env"
	pgdir=$HOOKD_TEST_PG_DIR
fi
if [[ -z ${HOOKD_TEST_POSTGRES:-} ]]; then
	echo "FAIL: HOOKD_TEST_POSTGRES is not set after starting PostgreSQL" >&2
	exit 1
fi
export HOOKD_TEST_POSTGRES

echo "== go vet"
go vet ./...
echo "== go test -race (SQLite and PostgreSQL)"
start=$SECONDS
set +e
go test -race -count=1 -timeout 20m ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^FAIL' "$log" || true)
echo "packages: $passed passed, $failed failed ($((SECONDS - start)) s)"
exit "$status"
