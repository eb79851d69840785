#!/usr/bin/env bash
# `callplan run` throughput: 50,000 rows against the sandbox started as
# another process (no limits, no faults), concurrency 64, durability on
# (every intent fsynced before its request). Beside it, the ceiling: the
# same sandbox driven by wrk at 64 connections (benches/sandbox_post.lua).
# Then: resuming from a 1,000,000-line results log, time to the first dial.
# Figures go to BENCHMARKS.md, "run: 50,000 rows against the sandbox".
#
#   benches/run.sh                       # RUNS=5 ROWS=50000 CONC=64
#   RUNS=3 benches/run.sh
#   SKIP_CEILING=1 SKIP_RESUME=1 benches/run.sh
#   WORKERS=2 benches/run.sh             # sandbox worker threads (default: half the cores)
#
# Needs wrk (Debian: apt-get install -y wrk) for the ceiling. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
ROWS=${ROWS:-50000}
CONC=${CONC:-64}
DURATION=${DURATION:-10s}
RESUME_ROWS=${RESUME_ROWS:-500000}   # x2 lines each = a 1,000,000-line log
RESUME_LEFT=${RESUME_LEFT:-1000}     # rows of it not yet dialled

cargo build --release --quiet
BIN=$PWD/target/release/callplan
LUA=$PWD/benches/sandbox_post.lua

. benches/lib.sh   # TMP, stop, start, median, gen_csv

cat > "$TMP/sandbox.yaml" <<'YAML'
concurrency_limit: 0
rate_limit:
  per_second: 0
numbers: ["+14155550100"]
YAML



# recipients: gen_csv (benches/lib.sh), distinct valid US numbers.
mkdir -p "$TMP/c"
gen_csv "$ROWS" > "$TMP/c/recipients.csv"
cat > "$TMP/c/plan.yaml" <<YAML
name: bench
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
dispatch:
  concurrency: $CONC
  rate_per_second: 1000000
  max_attempts: 5
YAML

echo "# callplan run: $ROWS rows, concurrency $CONC, $RUNS runs, fresh sandbox process and results file each run, sandbox workers=${WORKERS:-default}"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$TMP/runs"
for run in $(seq "$RUNS"); do
  start
  rm -f "$TMP/c/bench.results.csv"
  /usr/bin/time -f "TIME %e %U %S %M" -o "$TMP/time" \
    env DIALNEXA_API_KEY=bench DIALNEXA_BASE_URL="$URL/v1" "$BIN" run "$TMP/c/plan.yaml" --quiet > "$TMP/summary" 2> "$TMP/stderr" || {
      echo "run failed:" >&2; cat "$TMP/summary" "$TMP/stderr" >&2; exit 1; }
  read -r _ wall user sys rss < <(grep '^TIME' "$TMP/time")
  dispatch=$(sed -n 's/^this run: .*(\([0-9.]*\) calls\/s).*/\1/p' "$TMP/summary")
  created=$(curl -s "$URL/_sandbox/stats" | sed -n 's/.*"created":\([0-9]*\).*/\1/p')
  e2e=$(awk -v r="$ROWS" -v w="$wall" 'BEGIN {printf "%.0f", r / w}')
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  echo "run $run: wall ${wall}s end-to-end ${e2e} calls/s, dispatch ${dispatch} calls/s, runner cpu ${cpu}s, peak rss $((rss / 1024)) MiB, created $created, load $(cut -d' ' -f1 /proc/loadavg)"
  echo "$e2e $dispatch $cpu $rss" >> "$TMP/runs"
  stop
done
e2e=$(awk '{print $1}' "$TMP/runs" | median)
disp=$(awk '{print $2}' "$TMP/runs" | median)
cpu=$(awk '{print $3}' "$TMP/runs" | median)
rss=$(awk '{print $4}' "$TMP/runs" | median)
echo "median: end-to-end ${e2e} calls/s, dispatch ${disp} calls/s, runner cpu ${cpu}s, peak rss $((${rss%.*} / 1024)) MiB"

if [ -z "${SKIP_CEILING:-}" ]; then
  command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
  echo "# ceiling: wrk -t2 -c$CONC -d$DURATION -s benches/sandbox_post.lua, $RUNS runs"
  : > "$TMP/wrk"
  for run in $(seq "$RUNS"); do
    start
    wrk -t2 -c"$CONC" -d2s -s "$LUA" "$URL" > /dev/null
    line=$(wrk -t2 -c"$CONC" -d"$DURATION" --latency -s "$LUA" "$URL" | grep '^RESULT')
    echo "run $run: ${line#RESULT } load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$line" | sed 's/.*rps=\([0-9.]*\).*/\1/' >> "$TMP/wrk"
    stop
  done
  ceiling=$(median < "$TMP/wrk")
  echo "median ceiling: ${ceiling} req/s; runner dispatch / ceiling = $(awk -v d="$disp" -v c="$ceiling" 'BEGIN {printf "%.0f%%", 100 * d / c}')"
fi

if [ -z "${SKIP_RESUME:-}" ]; then
  echo "# resume: $RESUME_ROWS recipients, a $((2 * (RESUME_ROWS - RESUME_LEFT)))-line log (intent + outcome per row), $RESUME_LEFT rows left"
  mkdir -p "$TMP/r"
  gen_csv "$RESUME_ROWS" > "$TMP/r/recipients.csv"
  sed 's/^name: bench/name: resume/' "$TMP/c/plan.yaml" > "$TMP/r/plan.yaml"
  : > "$TMP/resume"
  for run in $(seq "$RUNS"); do
    awk -v plan="$TMP/r/plan.yaml" -v left="$RESUME_LEFT" -F, '
      NR == 1 {
        print "#callplan results v1,campaign=resume,from_number=+14155550100,agent_version_id=av_sandbox,plan=" plan;
        print "key,row,to_number,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at";
        next }
      { rows[NR] = $1 }
      END {
        for (i = 2; i <= NR - left; i++) {
          printf "%s,%d,%s,1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z\n", rows[i], i, rows[i];
          printf "%s,%d,%s,1,queued,call_%d,1,201,,,,,2026-01-01T00:00:00.001Z\n", rows[i], i, rows[i], i;
        }
      }' "$TMP/r/recipients.csv" > "$TMP/r/resume.results.csv"
    lines=$(wc -l < "$TMP/r/resume.results.csv")
    start
    RUST_LOG=callplan::dispatch=info DIALNEXA_API_KEY=bench DIALNEXA_BASE_URL="$URL/v1" \
      "$BIN" run "$TMP/r/plan.yaml" --quiet > "$TMP/summary" 2> "$TMP/stderr" || true
    first=$(sed -n 's/.*first request sent \([0-9.]*\) s after start.*/\1/p' "$TMP/stderr" | head -1)
    cpu=$(sed -n 's/.*first request sent .*(\([0-9.]*\) s of CPU).*/\1/p' "$TMP/stderr" | head -1)
    [ -n "$first" ] || { echo "no first-request line:" >&2; cat "$TMP/stderr" "$TMP/summary" >&2; exit 1; }
    echo "run $run: log of $lines lines, first request ${first}s after start, ${cpu}s of CPU by then, load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$first" >> "$TMP/resume"
    echo "$cpu" >> "$TMP/resume_cpu"
    stop
  done
  echo "median: first request $(median < "$TMP/resume") s after start, $(median < "$TMP/resume_cpu") s of CPU by then"
fi
