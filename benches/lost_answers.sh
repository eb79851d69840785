#!/usr/bin/env bash
# Lost answers do not slow dialling (issue 13, item 4): 2,000 rows at
# rate_per_second 400, concurrency 8, the default 30 s request timeout,
# against the sandbox started as another process, fault-free and then with
# 5% of answers lost after the call was created (faults.lost_response_rate),
# in the same run of this script. A row in doubt waits for its lookup (a
# request timeout after its send) without holding a dispatch slot, so the
# rows behind it keep dialling.
#
# The dial rate is calls created / (last created_at - first created_at) in
# the sandbox's ledger: how fast requests left, not counting the lookups'
# tail (the last lost answer is looked up 30 s after its send). Target: the
# faulty run dials at no less than half the fault-free rate.
# Figures go to BENCHMARKS.md, "lost answers".
#
#   benches/lost_answers.sh              # RUNS=3 ROWS=2000 RATE=400 TIMEOUT=30
#   RUNS=1 TIMEOUT=5 benches/lost_answers.sh
#
# Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
ROWS=${ROWS:-2000}
RATE=${RATE:-400}
CONC=${CONC:-8}
TIMEOUT=${TIMEOUT:-30}
LOST=${LOST:-0.05}

cargo build --release --quiet
BIN=$PWD/target/release/callplan

. benches/lib.sh   # TMP, stop, start, median

sandbox_yaml() {
  cat <<YAML
concurrency_limit: 0
rate_limit:
  per_second: 0
numbers: ["+14155550100"]
idempotency: off
faults:
  lost_response_rate: $1
YAML
}

mkdir -p "$TMP/c"
awk -v n="$ROWS" 'BEGIN {
  print "to_number,customer_name";
  for (i = 0; i < n; i++) printf "+1650%03d%04d,Customer %d\n", 253 + int(i / 10000), i % 10000, i;
}' > "$TMP/c/recipients.csv"
cat > "$TMP/c/plan.yaml" <<YAML
name: lost
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
api:
  request_timeout_s: $TIMEOUT
dispatch:
  concurrency: $CONC
  rate_per_second: $RATE
  max_attempts: 5
YAML

# Calls created per second between the first and the last creation, and
# keys called more than once, from the ledger.
ledger_rate() {
  curl -s "$URL/_sandbox/ledger" | python3 -c '
import json, sys, datetime
calls = json.load(sys.stdin)["calls"]
ts = sorted(datetime.datetime.fromisoformat(c["created_at"].replace("Z", "+00:00")).timestamp() for c in calls)
keys = {}
for c in calls:
    k = c["metadata"]["callplan_key"]
    keys[k] = keys.get(k, 0) + 1
span = ts[-1] - ts[0] if len(ts) > 1 else float("nan")
print(len(calls), "%.1f" % (len(calls) / span), sum(1 for v in keys.values() if v > 1))'
}

echo "# callplan run: $ROWS rows, rate $RATE, concurrency $CONC, request timeout ${TIMEOUT}s, $RUNS runs each, fresh sandbox process and results file each run"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$TMP/clean"; : > "$TMP/lost"
for run in $(seq "$RUNS"); do
  for mode in clean lost; do
    if [ "$mode" = clean ]; then sandbox_yaml 0; else sandbox_yaml "$LOST"; fi > "$TMP/sandbox.yaml"
    start
    rm -f "$TMP/c/lost.results.csv"
    s=$(date +%s.%N)
    env DIALNEXA_API_KEY=bench DIALNEXA_BASE_URL="$URL/v1" "$BIN" run "$TMP/c/plan.yaml" --quiet \
      > "$TMP/summary" 2> "$TMP/stderr" || { echo "run failed:" >&2; cat "$TMP/summary" "$TMP/stderr" >&2; exit 1; }
    e=$(date +%s.%N)
    wall=$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.1f", e - s}')
    read -r created rate twice < <(ledger_rate)
    doubt=$(awk -F, 'NR > 1 {last[$1] = $5} END {n = 0; for (k in last) if (last[k] == "in_doubt") n++; print n}' "$TMP/c/lost.results.csv")
    echo "run $run $mode: dial rate ${rate} calls/s, wall ${wall}s, created $created, called twice $twice, left in doubt $doubt, load $(cut -d' ' -f1 /proc/loadavg)"
    [ "$twice" = 0 ] || { echo "somebody was called twice" >&2; exit 1; }
    echo "$rate" >> "$TMP/$mode"
    stop
  done
done
clean=$(median < "$TMP/clean")
lost=$(median < "$TMP/lost")
echo "median dial rate: fault-free ${clean} calls/s, ${LOST} lost ${lost} calls/s, ratio $(awk -v a="$lost" -v b="$clean" 'BEGIN {printf "%.2f", a / b}') (target >= 0.5)"
