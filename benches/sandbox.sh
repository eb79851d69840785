#!/usr/bin/env bash
# Raw POST /v1/calls throughput of `callplan sandbox`, and its memory at
# 1,000,000 created calls. Figures go to BENCHMARKS.md.
#
#   benches/sandbox.sh                 # RUNS=5 DURATION=10s CONNS=64 THREADS=2
#   RUNS=3 DURATION=5s benches/sandbox.sh
#   SKIP_MEMORY=1 benches/sandbox.sh   # throughput only
#   WORKERS=2 benches/sandbox.sh       # sandbox worker threads (default: half the cores)
#
# Needs wrk (Debian: apt-get install -y wrk). Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
MEMORY_CALLS=${MEMORY_CALLS:-1000000}

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
cargo build --release --quiet
BIN=target/release/callplan
LUA=benches/sandbox_post.lua

. benches/lib.sh   # TMP, stop, start, median

# Config::unlimited(): no concurrency limit, no rate limit, no faults.
cat > "$TMP/sandbox.yaml" <<'YAML'
concurrency_limit: 0
rate_limit:
  per_second: 0
YAML


created() { curl -s "$URL/_sandbox/stats" | sed -n 's/.*"created":\([0-9]*\).*/\1/p'; }


echo "# wrk -t$THREADS -c$CONNS -d$DURATION -s $LUA, $RUNS runs, fresh sandbox each run, workers=${WORKERS:-default}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$TMP/results"
for run in $(seq "$RUNS"); do
  start
  wrk -t"$THREADS" -c"$CONNS" -d2s -s "$LUA" "$URL" > /dev/null   # warm-up
  line=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$LUA" "$URL" | grep '^RESULT')
  echo "run $run: ${line#RESULT } created=$(created)"
  echo "$line" >> "$TMP/results"
  stop
done
rps=$(sed 's/.*rps=\([0-9.]*\).*/\1/' "$TMP/results" | median)
p99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' "$TMP/results" | median)
echo "median: ${rps} req/s, p99 ${p99} ms (load average after: $(cut -d' ' -f1-3 /proc/loadavg))"

if [ -z "${SKIP_MEMORY:-}" ]; then
  echo "# memory: create $MEMORY_CALLS calls, then read VmRSS/VmHWM"
  start
  base=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
  while [ "$(created)" -lt "$MEMORY_CALLS" ]; do
    wrk -t"$THREADS" -c"$CONNS" -d5s -s "$LUA" "$URL" > /dev/null
  done
  n=$(created)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status")
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$PID/status")
  echo "calls=$n rss_start_kib=$base rss_kib=$rss peak_kib=$hwm bytes_per_call=$(( (rss - base) * 1024 / n ))"
  stop
fi
