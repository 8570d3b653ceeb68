#!/usr/bin/env bash
# Benchmarks with ../shared/bench (copied to a temporary directory): starts a
# fresh hookd on its embedded SQLite (synchronous=FULL) or on a throwaway
# PostgreSQL (scripts/pg.sh, fsync and synchronous_commit on), registers what
# each benchmark needs, runs the harness and prints its summary lines.
#   scripts/bench.sh outbound   # -n 20000 -c 32, then -n 3000 -rate 100, then the harness self-test
#   scripts/bench.sh inbound    # async trigger → event job: token and HMAC adapters, then refused calls
#   scripts/bench.sh backlog    # RSS and publish latency with 1,000 vs 1,000,000 pending deliveries
#   scripts/bench.sh pg         # as outbound, one node on PostgreSQL (a fresh database)
#   scripts/bench.sh pg-cluster # one node vs three nodes on one PostgreSQL database, both behind
#                               # bench/rrproxy (round robin per request), and three nodes apart (a
#                               # database each: nothing shared), alternated round by round with the
#                               # harness self-test; then latency at 100 ev/s on three nodes
#   scripts/bench.sh inbound-ab # accepted calls (token) of two builds, HOOKD_BIN_A and HOOKD_BIN_B,
#                               # alternated round by round on fresh servers: req/s, the server's
#                               # CPU time per call and p99 (what a change to the accept path is judged by)
#   scripts/bench.sh floor      # the least a durable accept costs here (bench/floor: a body fsynced per
#                               # group to a file, or one SQLite row per call), then hookd's accepted
#                               # calls (token), each beside the ceiling as `inbound` measures it
#   scripts/bench.sh split      # the machine's own cost of splitting one load over three processes:
#                               # one vs three bench/relay (acknowledge, then forward; no database)
#                               # behind bench/rrproxy, the pg-cluster shape without hookd, alternated
# env: ROUNDS (3), HOOKD_BIN (built from ./cmd/hookd when unset), BENCH_SRC (../shared/bench),
#      HOOKD_DEBUG_ADDR (pprof on the first node), HOOKD_BENCH_FLAGS (extra `hookd serve` flags),
#      HOOKD_BENCH_PORT (18080: the node or proxy; the cluster's nodes on the next three ports),
#      RECEIVER_ADDR (127.0.0.1:9200), SINK_ADDR (127.0.0.1:9100): other ports let two benchmarks
#      run side by side without answering each other's requests (they still share the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
what=${1:?usage: scripts/bench.sh outbound|inbound|inbound-ab|floor|backlog|pg|pg-cluster|split}
work=$(mktemp -d)
pgdir=
cleanup() {
  for f in "$work"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  wait 2>/dev/null || true
  [ -z "$pgdir" ] || "$root/scripts/pg.sh" stop "$pgdir" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cp -r "${BENCH_SRC:-$root/../shared/bench}" "$work/bench"
chmod -R u+w "$work/bench"
export RECEIVER_ADDR=${RECEIVER_ADDR:-127.0.0.1:9200}
sed -i "s#127.0.0.1:9200#$RECEIVER_ADDR#" "$work/bench/adapters/sink-selftest.json"
hook_url=http://$RECEIVER_ADDR/hook
(cd "$work/bench" && scripts/build.sh >/dev/null)
bin=${HOOKD_BIN:-$work/hookd}
[ -n "${HOOKD_BIN:-}" ] || go build -o "$bin" ./cmd/hookd
port=${HOOKD_BENCH_PORT:-18080}
addr=127.0.0.1:$port
# start_node NAME ADDR [serve flags]: hookd with data dir $work/NAME, pid in $work/NAME.pid.
start_node() {
  local name=$1 at=$2; shift 2
  # shellcheck disable=SC2086
  "$bin" serve --data-dir "$work/$name" --listen "$at" --allow-insecure-urls --allow-private-cidr 127.0.0.0/8 \
    --log-level warn ${HOOKD_BENCH_FLAGS:-} "$@" > "$work/$name.log" 2>&1 &
  echo $! > "$work/$name.pid"
  for _ in $(seq 150); do curl -fs "http://$at/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "hookd $name did not start:"; cat "$work/$name.log"; exit 1
}
stop_pid() { # NAME: stop what $work/NAME.pid names and wait for it
  [ -f "$work/$1.pid" ] || return 0
  local p; p=$(cat "$work/$1.pid"); rm -f "$work/$1.pid"
  kill "$p" 2>/dev/null || true
  while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}
start() { # the single node of outbound/inbound/backlog/pg, data in $work/data
  start_node data "$addr" "$@"
  cp "$work/data.pid" "$work/pid"
}
api() { curl -fsS -X "$1" "http://$addr$2" -H "Authorization: Bearer $(cat "$work/data/admin.key")" ${3:+-d "$3"}; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
# med prints the median of the numbers on stdin.
med() { sort -g | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
# proxy_up BACKENDS: bench/rrproxy (built on first use) on $addr, round robin over
# BACKENDS (comma-separated host:port), pid in $work/rrproxy.pid.
proxy_up() {
  [ -x "$work/rrproxy" ] || go build -o "$work/rrproxy" ./bench/rrproxy
  "$work/rrproxy" -listen "$addr" -backends "$1" > "$work/rrproxy.log" 2>&1 &
  echo $! > "$work/rrproxy.pid"
}
# pg_up starts a throwaway PostgreSQL server; newdb NAME creates a database on
# it and prints its URL.
pg_up() {
  local env; env=$("$root/scripts/pg.sh" start)
  eval "$env"
  pgdir=$HOOKD_TEST_PG_DIR
  pgurl=$HOOKD_TEST_POSTGRES
}
newdb() {
  psql -X -q "${pgurl/\/hookd\?//postgres?}" -v ON_ERROR_STOP=1 -c "CREATE DATABASE $1" >&2
  echo "${pgurl/\/hookd\?//$1?}"
}
# outbound_runs: the three runs of the outbound mode against the running node(s).
outbound_runs() {
  export HOOKD_API_KEY=$(cat "$work/data/admin.key")
  (
    cd "$work/bench"
    echo "### hookd -n 20000 -c 32"; scripts/outbound.sh adapters/hookd.json -n 20000 -c 32 | grep -A8 '^=='
    echo "### hookd -n 3000 -rate 100"; scripts/outbound.sh adapters/hookd.json -n 3000 -rate 100 | grep -A8 '^=='
    echo "### harness self-test -n 20000 -c 32"; scripts/outbound.sh adapters/sink-selftest.json -n 20000 -c 32 | grep -A8 '^=='
  )
}
export HOOKD_ADDR=$addr
case $what in
outbound)
  start
  api POST /v1/webhooks "{\"url\":\"$hook_url\"}" >/dev/null
  outbound_runs
  ;;
pg)
  pg_up
  start --database "$(newdb bench)"
  api POST /v1/webhooks "{\"url\":\"$hook_url\"}" >/dev/null
  outbound_runs
  ;;
pg-cluster)
  pg_up
  export HOOKD_MASTER_KEY
  HOOKD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
  ports=($((port+1)) $((port+2)) $((port+3)))
  # cluster NODES ROUND [apart]: NODES hookd nodes on a fresh database behind
  # the proxy on $addr; the first node's admin.key is every node's. With
  # "apart", each node has a database of its own (and the webhook registered
  # in each): the same processes, connections and batches per node, with
  # nothing shared, so nothing to coordinate.
  cluster() {
    local n=$1 r=$2 apart=${3:-} dsn i backends=
    dsn=$(newdb "n${n}_r$r$apart")
    rm -rf "$work/data" "$work/node2" "$work/node3"
    start_node data "127.0.0.1:${ports[0]}" --database "$dsn"
    for i in $(seq 2 "$n"); do
      mkdir -p "$work/node$i"; cp "$work/data/admin.key" "$work/node$i/"
      [ -z "$apart" ] || dsn=$(newdb "n${n}_r${r}_apart$i")
      HOOKD_DEBUG_ADDR= start_node "node$i" "127.0.0.1:${ports[i-1]}" --database "$dsn"
    done
    for i in $(seq 1 "$n"); do backends+=${backends:+,}127.0.0.1:${ports[i-1]}; done
    # Measure the cluster, not its start: a node takes its share once the
    # others count it (a second or two), and its publishes meanwhile leave
    # their deliveries to the shared queue. Wait until every node reports
    # the cluster's size (1 each when apart).
    local size=$n i2
    [ -z "$apart" ] || size=1
    for i2 in $(seq 1 "$n"); do
      for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:${ports[i2-1]}/metrics" | grep -q "^hookd_cluster_nodes $size\$" && break
        sleep 0.1
      done
    done
    proxy_up "$backends"
    for _ in $(seq 100); do curl -fs "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
    export HOOKD_API_KEY=$(cat "$work/data/admin.key")
    local hooked=1 # nodes to register the webhook on: one database, or each
    [ -z "$apart" ] || hooked=$n
    for i in $(seq 1 "$hooked"); do
      curl -fsS -X POST "http://127.0.0.1:${ports[i-1]}/v1/webhooks" -H "Authorization: Bearer $HOOKD_API_KEY" \
        -d "{\"url\":\"$hook_url\"}" >/dev/null
    done
  }
  uncluster() { stop_pid rrproxy; stop_pid node3; stop_pid node2; stop_pid data; }
  # one LABEL ADAPTER [loadgen flags]: one round of outbound.sh; appends
  # "LABEL ceiling ingest delivery e2e_rate p50 p99 accepted delivered dups".
  one() {
    local label=$1; shift
    (cd "$work/bench" && ROUNDS=1 NO_CEILING=${NO_CEILING-1} scripts/outbound.sh "$@") | tee "$work/one.txt" | grep '^round' >&2
    echo "$label $(grep '^round' "$work/one.txt" | sed 's/.*= //')" >> "$work/rounds.txt"
  }
  : > "$work/rounds.txt"
  for r in $(seq 1 "${ROUNDS:-3}"); do
    echo "## round $r" >&2
    cluster 1 "$r"; one node1 adapters/hookd.json -n 20000 -c 32; uncluster
    cluster 3 "$r"; one node3 adapters/hookd.json -n 20000 -c 32; uncluster
    cluster 3 "$r" apart; one apart3 adapters/hookd.json -n 20000 -c 32; uncluster
    one selftest adapters/sink-selftest.json -n 20000 -c 32
  done
  col() { awk -v l="$1" -v i="$2" '$1==l {print $(i+1)}' "$work/rounds.txt" | med; }
  echo "== PostgreSQL, one node vs three nodes behind bench/rrproxy (-n 20000 -c 32; ${ROUNDS:-3} rounds alternated, medians)"
  st=$(col selftest 3)
  for l in node1 node3 apart3; do
    printf '%-6s ingest %.0f ev/s  delivery %.0f deliveries/s (%.3f of self-test)  e2e p50 %.0f ms p99 %.0f ms  delivered %s/%s dups %s\n' \
      "$l" "$(col $l 2)" "$(col $l 3)" "$(awk -v a="$(col $l 3)" -v b="$st" 'BEGIN{print a/b}')" "$(col $l 5)" "$(col $l 6)" \
      "$(col $l 8)" "$(col $l 7)" "$(col $l 9)"
  done
  printf 'self-test delivery %.0f/s\n' "$st"
  ratios=$(awk '$1=="node1" {a[++i]=$4} $1=="node3" {b[++j]=$4} END {for (k=1; k<=i; k++) if (a[k]>0) print b[k]/a[k]}' "$work/rounds.txt")
  echo "three nodes / one node, delivery rate per round: $(echo $ratios)  median $(echo "$ratios" | med)"
  ratios=$(awk '$1=="apart3" {a[++i]=$4} $1=="node3" {b[++j]=$4} END {for (k=1; k<=i; k++) if (a[k]>0) print b[k]/a[k]}' "$work/rounds.txt")
  echo "three nodes / three nodes apart (what coordination costs), per round: $(echo $ratios)  median $(echo "$ratios" | med)"
  echo "### three nodes behind rrproxy -n 3000 -rate 100"
  cluster 3 lat
  (cd "$work/bench" && scripts/outbound.sh adapters/hookd.json -n 3000 -rate 100 | grep -A8 '^==')
  uncluster
  ;;
split)
  relay=$work/relay
  go build -o "$relay" ./bench/relay
  ports=($((port+1)) $((port+2)) $((port+3)))
  # relays N: N relays forwarding to the receiver, behind the proxy on $addr.
  relays() {
    local i backends=
    for i in $(seq 1 "$1"); do
      "$relay" -listen "127.0.0.1:${ports[i-1]}" -to "$hook_url" > "$work/relay$i.log" 2>&1 &
      echo $! > "$work/relay$i.pid"
      backends+=${backends:+,}127.0.0.1:${ports[i-1]}
    done
    proxy_up "$backends"
    for _ in $(seq 100); do curl -s -o /dev/null "http://$addr/" && break; sleep 0.1; done
  }
  unrelay() { stop_pid rrproxy; for i in 1 2 3; do stop_pid "relay$i"; done; }
  export HOOKD_API_KEY=unused
  : > "$work/rounds.txt"
  for r in $(seq 1 "${ROUNDS:-3}"); do
    for n in 1 3; do
      relays "$n"
      rate=$(cd "$work/bench" && ROUNDS=1 NO_CEILING=1 scripts/outbound.sh adapters/hookd.json -n 20000 -c 32 | grep '^round' | awk '{print $(NF-6)}')
      unrelay
      echo "relays$n $rate" | tee -a "$work/rounds.txt" >&2
    done
  done
  one=$(awk '$1=="relays1" {print $2}' "$work/rounds.txt" | med)
  three=$(awk '$1=="relays3" {print $2}' "$work/rounds.txt" | med)
  ratios=$(awk '$1=="relays1" {a[++i]=$2} $1=="relays3" {b[++j]=$2} END {for (k=1; k<=i; k++) if (a[k]>0) print b[k]/a[k]}' "$work/rounds.txt")
  echo "== one vs three bench/relay behind bench/rrproxy (-n 20000 -c 32; ${ROUNDS:-3} rounds alternated, medians)"
  printf 'one relay %.0f deliveries/s, three relays %.0f deliveries/s\n' "$one" "$three"
  echo "three relays / one relay, per round: $(echo $ratios)  median $(echo "$ratios" | med)"
  ;;
floor)
  # What a durable accept costs at its least (bench/floor: no hookd, only the
  # body written and fsynced per group, to a file or as one SQLite row), then
  # hookd's accepted calls as in `inbound`, each beside the ceiling.
  floor=$work/floor
  go build -o "$floor" ./bench/floor
  for store in file sqlite; do
    mkdir -p "$work/floor-$store"
    "$floor" -listen "$addr" -dir "$work/floor-$store" -store "$store" > "$work/floor-$store.log" 2>&1 &
    echo $! > "$work/floor.pid"
    for _ in $(seq 100); do curl -s -o /dev/null "http://$addr/" && break; sleep 0.1; done
    printf 'NAME=floor-%s\nTRIGGER_URL=http://%s/\nHEADERS=("Content-Type: application/json")\nBODY_SIZE=1024\n' \
      "$store" "$addr" > "$work/floor.inbound.sh"
    echo "### bench/floor -store $store"
    (cd "$work/bench" && scripts/inbound.sh "$work/floor.inbound.sh" | grep -A6 '^==')
    stop_pid floor
  done
  start
  job=$(api POST /v1/jobs '{"name":"bench","kind":"event","concurrency":32,"config":{"type":"bench.inbound"}}' | json "['id']")
  tok=$(api POST /v1/triggers "{\"job_id\":\"$job\",\"rate_limit_per_minute\":100000000}" | json "['token']")
  cd "$work/bench"
  echo "### hookd accepted calls (token)"; HOOKD_TRIGGER_TOKEN=$tok scripts/inbound.sh adapters/hookd.inbound.sh | grep -A6 '^=='
  ;;
inbound)
  start
  job=$(api POST /v1/jobs '{"name":"bench","kind":"event","concurrency":32,"config":{"type":"bench.inbound"}}' | json "['id']")
  tok=$(api POST /v1/triggers "{\"job_id\":\"$job\",\"rate_limit_per_minute\":100000000}" | json "['token']")
  hm=$(api POST /v1/triggers "{\"job_id\":\"$job\",\"rate_limit_per_minute\":100000000,\"generate_secret\":true}")
  cd "$work/bench"
  echo "### accepted calls (token)"; HOOKD_TRIGGER_TOKEN=$tok scripts/inbound.sh adapters/hookd.inbound.sh | grep -A6 '^=='
  echo "### accepted calls (HMAC)"; HOOKD_TRIGGER_TOKEN=$(echo "$hm" | json "['token']") HOOKD_TRIGGER_SECRET=$(echo "$hm" | json "['secret']") \
    scripts/inbound.sh adapters/hookd-hmac.inbound.sh | grep -A6 '^=='
  echo "### refused calls (unknown token)"; HOOKD_TRIGGER_TOKEN=wht_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA scripts/inbound.sh adapters/hookd.inbound.sh | grep -A6 '^=='
  # Every accepted call's run must have run, not wait in a backlog.
  total() { api GET "/v1/executions?limit=1&status=$1" | json "['total']"; }
  for _ in $(seq 100); do [ "$(total queued)$(total running)" = 00 ] && break; sleep 0.1; done
  echo "executions: $(total succeeded) succeeded, $(total failed) failed, $(total queued) queued, $(total running) running"
  ;;
inbound-ab)
  : "${HOOKD_BIN_A:?set HOOKD_BIN_A and HOOKD_BIN_B}" "${HOOKD_BIN_B:?set HOOKD_BIN_A and HOOKD_BIN_B}"
  : > "$work/rounds.txt"
  for r in $(seq 1 "${ROUNDS:-3}"); do
    for b in A B; do
      bin_var=HOOKD_BIN_$b; bin=${!bin_var}
      rm -rf "$work/data"
      start
      job=$(api POST /v1/jobs '{"name":"bench","kind":"event","concurrency":32,"config":{"type":"bench.inbound"}}' | json "['id']")
      tok=$(api POST /v1/triggers "{\"job_id\":\"$job\",\"rate_limit_per_minute\":100000000}" | json "['token']")
      pid=$(cat "$work/pid")
      t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
      read -r rps p99 < <(cd "$work/bench" && HOOKD_TRIGGER_TOKEN=$tok ROUNDS=1 NO_CEILING=1 scripts/inbound.sh adapters/hookd.inbound.sh |
        grep '^round' | awk '{v = $(NF-3); sub(/.*=/, "", v); print v, $(NF-1)}')
      t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
      stop_pid data
      # CPU time per call: clock ticks (1/100 s) over the calls of the 10 s run.
      cpu=$(awk -v t=$((t1 - t0)) -v r="$rps" -v d="${WRK_DURATION:-10s}" 'BEGIN { sub(/s$/, "", d); printf "%.0f", t * 10000 / (r * d) }')
      echo "$b $rps $cpu $p99" | tee -a "$work/rounds.txt" | awk '{printf "round '"$r"' %s: %s req/s, %s µs of server CPU per call, p99 %s ms\n", $1, $2, $3, $4}'
    done
  done
  for b in A B; do
    echo "== $b (${ROUNDS:-3} rounds, medians): $(awk -v b=$b '$1==b {print $2}' "$work/rounds.txt" | med) req/s," \
      "$(awk -v b=$b '$1==b {print $3}' "$work/rounds.txt" | med) µs of server CPU per call," \
      "p99 $(awk -v b=$b '$1==b {print $4}' "$work/rounds.txt" | med) ms"
  done
  ;;
backlog)
  start
  # The backlog webhook's endpoint refuses connections, so its deliveries stay pending. Before
  # each latency measurement it is deactivated, which holds its pending deliveries (nothing is
  # attempted meanwhile): what is measured is the cost of a big queue to publishing, not the
  # engine's retry traffic. The "lat" events go to a second webhook, one delivery each.
  wh=$(api POST /v1/webhooks '{"url":"http://127.0.0.1:9/refused","events":["bench.*"],"max_attempts":20}' | json "['id']")
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/refused","events":["lat"]}' >/dev/null
  lat() { # p50/p99 of 200 sequential publishes, ms
    for i in $(seq 200); do
      curl -so /dev/null -w '%{time_total}\n' -X POST "http://$addr/v1/events" -H "Authorization: Bearer $(cat "$work/data/admin.key")" -d '{"type":"lat","data":{}}'
    done | sort -n | awk '{a[NR]=$1} END {printf "publish latency p50 %.2f ms  p99 %.2f ms\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
  }
  export HOOKD_API_KEY=$(cat "$work/data/admin.key")
  fill() { (cd "$work/bench" && bin/loadgen -adapter adapters/hookd.json -n "$1" -c 32 -receiver '' -json | grep -o '"ingest_per_s":[0-9.]*'); }
  measure() {
    curl -s "http://$addr/metrics" | grep -E '^hookd_delivery_queue_depth'
    api PATCH "/v1/webhooks/$wh" '{"active":false}' >/dev/null; sleep 3
    lat; echo "RSS $(ps -o rss= -p "$(cat "$work/pid")") KiB"
    api GET "/v1/webhooks/$wh/deliveries/summary"; echo
    api PATCH "/v1/webhooks/$wh" '{"active":true}' >/dev/null
  }
  echo "pending ≈ 1,000:"; fill 1000; measure
  echo "pending ≈ 1,000,000:"; fill 999000; measure
  ;;
esac
