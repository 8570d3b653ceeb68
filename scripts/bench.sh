#!/usr/bin/env bash
# Benchmarks with ../shared/bench (copied to a temporary directory): starts a
# fresh hookd on its embedded SQLite (synchronous=FULL), registers what each
# benchmark needs, runs the harness and prints its summary lines.
#   scripts/bench.sh outbound   # -n 20000 -c 32, then -n 3000 -rate 100, then the harness self-test
#   scripts/bench.sh inbound    # async trigger → event job: token and HMAC adapters, then refused calls
#   scripts/bench.sh backlog    # RSS and publish latency with 1,000 vs 1,000,000 pending deliveries
# env: ROUNDS (3), HOOKD_BIN (built from ./cmd/hookd when unset), BENCH_SRC (../shared/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
what=${1:?usage: scripts/bench.sh outbound|inbound|backlog}
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r "${BENCH_SRC:-$root/../shared/bench}" "$work/bench"
(cd "$work/bench" && scripts/build.sh >/dev/null)
bin=${HOOKD_BIN:-$work/hookd}
[ -n "${HOOKD_BIN:-}" ] || go build -o "$bin" ./cmd/hookd
addr=127.0.0.1:18080
start() {
  "$bin" serve --data-dir "$work/data" --listen "$addr" --allow-insecure-urls --allow-private-cidr 127.0.0.0/8 \
    --log-level warn "$@" > "$work/hookd.log" 2>&1 &
  echo $! > "$work/pid"
  for _ in $(seq 100); do curl -fs "http://$addr/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "hookd did not start:"; cat "$work/hookd.log"; exit 1
}
api() { curl -fsS -X "$1" "http://$addr$2" -H "Authorization: Bearer $(cat "$work/data/admin.key")" ${3:+-d "$3"}; }
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
export HOOKD_ADDR=$addr
case $what in
outbound)
  start
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9200/hook"}' >/dev/null
  export HOOKD_API_KEY=$(cat "$work/data/admin.key")
  cd "$work/bench"
  echo "### hookd -n 20000 -c 32"; scripts/outbound.sh adapters/hookd.json -n 20000 -c 32 | grep -A8 '^=='
  echo "### hookd -n 3000 -rate 100"; scripts/outbound.sh adapters/hookd.json -n 3000 -rate 100 | grep -A8 '^=='
  echo "### harness self-test -n 20000 -c 32"; scripts/outbound.sh adapters/sink-selftest.json -n 20000 -c 32 | grep -A8 '^=='
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
  ;;
backlog)
  start
  # An inactive receiver would be paused; a hanging one keeps deliveries pending and due.
  api POST /v1/webhooks '{"url":"http://127.0.0.1:9/refused","max_attempts":20}' >/dev/null
  lat() { # p50/p99 of 200 sequential publishes, ms
    for i in $(seq 200); do
      curl -so /dev/null -w '%{time_total}\n' -X POST "http://$addr/v1/events" -H "Authorization: Bearer $(cat "$work/data/admin.key")" -d '{"type":"lat","data":{}}'
    done | sort -n | awk '{a[NR]=$1} END {printf "p50 %.2f ms  p99 %.2f ms\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000}'
  }
  export HOOKD_API_KEY=$(cat "$work/data/admin.key")
  fill() { (cd "$work/bench" && bin/loadgen -adapter adapters/hookd.json -n "$1" -c 32 -receiver '' -json | grep -o '"ingest_per_s":[0-9.]*'); }
  echo "pending ≈ 1,000:"; fill 1000
  lat; echo "RSS $(ps -o rss= -p "$(cat "$work/pid")") KiB"
  echo "pending ≈ 1,000,000:"; fill 999000
  lat; echo "RSS $(ps -o rss= -p "$(cat "$work/pid")") KiB"
  curl -s "http://$addr/metrics" | grep -E '^hookd_delivery_queue_(depth|oldest)'
  ;;
esac
