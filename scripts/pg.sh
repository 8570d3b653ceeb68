#!/usr/bin/env bash
# pg.sh — a throwaway PostgreSQL server for tests.
#
#   eval "$(scripts/pg.sh start)"     # prints export HOOKD_TEST_POSTGRES=… HOOKD_TEST_PG_DIR=…
#   go test ./internal/store/postgres/...
#   scripts/pg.sh stop "$HOOKD_TEST_PG_DIR"
#
# start: finds initdb/pg_ctl (PATH, then /usr/lib/postgresql/*/bin, newest
# first); when absent and running as root, installs Debian's `postgresql`
# package with apt-get. Initialises a cluster in a new temporary directory
# (as the `postgres` user when running as root — initdb refuses root — or as a
# created unprivileged user when there is none), starts it on a free port of
# 127.0.0.1 with its unix socket inside the directory, fsync on (durable like
# production) and max_connections 500, creates the database `hookd` and a
# random password for the `postgres` role (scram-sha-256 over TCP), and prints
# the two export lines on stdout. Everything else goes to stderr.
#
# stop DIR: stops the server of DIR (made by start) and removes DIR.
set -euo pipefail

log() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# find_bin sets BIN to a directory holding initdb and pg_ctl, or fails.
find_bin() {
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		BIN=$(dirname "$(readlink -f "$(command -v initdb)")")
		return 0
	fi
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			BIN=$d
			return 0
		fi
	done
	return 1
}

install_server() {
	[[ $(id -u) -eq 0 ]] || die "initdb/pg_ctl not found and not root: install PostgreSQL (Debian: apt-get install postgresql)"
	log "installing PostgreSQL with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# The package's own cluster is not used; keep it from being created.
	mkdir -p /etc/postgresql-common
	if [[ ! -f /etc/postgresql-common/createcluster.conf ]] || ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
		echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
	fi
	apt-get install -y -qq --no-install-recommends postgresql >&2
}

# free_port prints a TCP port of 127.0.0.1 nobody listens on (best effort:
# start retries on another port when the server cannot bind).
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

start() {
	BIN=
	find_bin || { install_server; find_bin || die "PostgreSQL installed but initdb not found"; }
	local dir run=() owner
	dir=$(mktemp -d "${TMPDIR:-/tmp}/hookd-pg.XXXXXX")
	touch "$dir/.hookd-pg"
	if [[ $(id -u) -eq 0 ]]; then
		owner=postgres
		if ! id -u "$owner" >/dev/null 2>&1; then
			owner=hookd-pg
			id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
		fi
		chown -R "$owner" "$dir"
		run=(runuser -u "$owner" --)
	fi
	chmod 700 "$dir"

	local pw
	pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pw" >"$dir/pwfile"
	[[ ${#run[@]} -eq 0 ]] || chown "$owner" "$dir/pwfile"
	chmod 600 "$dir/pwfile"

	log "initdb ($BIN) in $dir"
	"${run[@]}" "$BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" -E UTF8 --locale=C \
		--auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	rm -f "$dir/pwfile"
	cat >>"$dir/data/postgresql.conf" <<EOF

# hookd test server (scripts/pg.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 500
shared_buffers = 128MB
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
EOF
	local port tries
	for tries in 1 2 3 4 5; do
		port=$(free_port)
		if "${run[@]}" "$BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "-p $port" start >/dev/null 2>&1; then
			break
		fi
		port=
		log "start on port failed (try $tries), see $dir/postgres.log"
	done
	[[ -n $port ]] || { tail -20 "$dir/postgres.log" >&2; die "could not start PostgreSQL"; }
	echo "$port" >"$dir/port"
	"${run[@]}" "$BIN/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
		-c 'CREATE DATABASE hookd' >&2 || die "CREATE DATABASE failed"
	log "PostgreSQL $("$BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
	printf "export HOOKD_TEST_POSTGRES='postgres://postgres:%s@127.0.0.1:%s/hookd?sslmode=disable'\n" "$pw" "$port"
	printf "export HOOKD_TEST_PG_DIR='%s'\n" "$dir"
}

stop() {
	local dir=${1:-}
	[[ -n $dir ]] || die "usage: pg.sh stop DIR"
	[[ -f $dir/.hookd-pg ]] || die "$dir was not made by pg.sh start; not touching it"
	BIN=
	find_bin || die "pg_ctl not found"
	if [[ -f $dir/data/postmaster.pid ]]; then
		local run=()
		[[ $(id -u) -ne 0 ]] || run=(runuser -u "$(stat -c %U "$dir/data")" --)
		"${run[@]}" "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			log "pg_ctl stop failed (already stopped?)"
	fi
	rm -rf "$dir"
	log "stopped and removed $dir"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start | stop DIR" >&2
	exit 2
	;;
esac
