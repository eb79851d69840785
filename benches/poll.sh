#!/usr/bin/env bash
# Watching outcomes (`run --wait`): the list poller (the default: list pages
# per caller ID) beside the old per-call poller (`CALLPLAN_POLL=per-call`,
# kept for this comparison only), in the same run, against a sandbox
# process whose rate limit counts reads too (`rate_limit_reads: on`) and is
# lower than a per-call poller needs. For each: requests per call (by
# `/_sandbox/stats`: create + list + get) and the wall time against the
# bound, sum of call lifetimes (created_at to ended_at, from the ledger) /
# max_active_calls. Beside the bound, the ideal: the makespan of a
# dispatcher that dials the same calls (same lifetimes, same order) at the
# plan's rate and sees every end the instant it happens. ideal / bound is
# what the bound leaves out (the first calls' ramp at the dial rate, and
# the last calls' tail: no call is left to fill a place an early end
# frees); wall / ideal is what watching outcomes costs. Figures go to
# BENCHMARKS.md, "run --wait: outcomes by list pages vs one read per call".
#
#   benches/poll.sh                      # RUNS=3 ROWS=200 ACTIVE=24 RATE=10 POLL=2s
#   RUNS=1 ROWS=300 benches/poll.sh
#   SCALE=20 ROWS=120 benches/poll.sh    # calls three times as long (about 15 s)
#   BIN=/tmp/old/callplan MODES=list benches/poll.sh   # another build, list only
#   BINS="/work/wt/bin/callplan-before target/release/callplan" MODES=list benches/poll.sh
#
# BINS="a b" runs each binary in turn within each round (interleaved, so
# load from other work hits them alike) and prints the median per binary
# and mode. The sandbox is always SANDBOX_BIN (default: the first binary),
# so only the runner changes. 429s: every answer 429 the sandbox gave
# (creates and lists); refused creates: creates sent - calls created.
#
# Needs python3 (reads the ledger). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
ROWS=${ROWS:-200}
ACTIVE=${ACTIVE:-24}
RATE=${RATE:-10}
POLL=${POLL:-2s}
SCALE=${SCALE:-60}
MODES=${MODES:-list per-call}

if [ -z "${BINS:-}" ]; then
  if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet
    BIN=$PWD/target/release/callplan
  fi
  BINS=$BIN
fi
read -r -a bins <<< "$BINS"
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done
SANDBOX_BIN=${SANDBOX_BIN:-${bins[0]}}
BIN=$SANDBOX_BIN   # what benches/lib.sh starts the sandbox with

. benches/lib.sh   # TMP, stop, start, median

# Calls live about 5-8 s when answered: ringing 1-1.5 s, talking 4-7 s at
# time_scale 60 (SCALE); unanswered ones 1.5 s or less.
cat > "$TMP/sandbox.yaml" <<YAML
concurrency_limit: 0
rate_limit:
  per_second: $RATE
  burst: $RATE
rate_limit_reads: on
time_scale: $SCALE
ring_seconds: [60, 90]
talk_seconds: [240, 420]
numbers: ["+14155550100"]
YAML

mkdir -p "$TMP/c"
awk -v n="$ROWS" 'BEGIN { print "to_number,customer_name";
  for (i = 0; i < n; i++) printf "+1650255%04d,Customer %d\n", i, i }' > "$TMP/c/recipients.csv"
cat > "$TMP/c/plan.yaml" <<YAML
name: bench
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
dispatch:
  concurrency: 8
  rate_per_second: $(awk -v r="$RATE" 'BEGIN {print r * 0.9}')
  max_attempts: 10
  max_active_calls: $ACTIVE
YAML

# Prints: requests per call, wall, bound, wall/bound, creates, lists, gets,
# calls, ideal, wall/ideal, 429s.
measure() {
  python3 - "$1" "$2" "$ACTIVE" "$ROWS" "$(awk -v r="$RATE" 'BEGIN {print r * 0.9}')" <<'PY'
import heapq, json, sys, datetime
stats, ledger = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
wall, active, rows = float(open(sys.argv[1] + ".wall").read()), int(sys.argv[3]), int(sys.argv[4])
rate = float(sys.argv[5])
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
calls = ledger["calls"]
lives = [(ts(c["created_at"]), ts(c["ended_at"]) - ts(c["created_at"])) for c in calls if c.get("ended_at")]
life = sum(l for _, l in lives)
r = stats["by_route"]
bound = life / active
# The ideal dispatcher: each call in creation order starts when a place is
# free and 1/rate after the previous start; every end is seen at once.
free, last, ideal = [0.0] * active, -1e9, 0.0
for _, l in sorted(lives):
    start = max(heapq.heappop(free), last + 1 / rate)
    last = start
    heapq.heappush(free, start + l)
    ideal = max(ideal, start + l)
print(f"{(r['create'] + r['list'] + r['get']) / rows:.2f} {wall:.1f} {bound:.1f} {wall / bound:.2f} "
      f"{r['create']} {r['list']} {r['get']} {len(calls)} {ideal:.1f} {wall / ideal:.2f} "
      f"{stats['answers'].get('429', 0)}")
PY
}

echo "# run --wait --poll-every $POLL: $ROWS rows, max_active_calls $ACTIVE, sandbox rate limit $RATE/s (reads counted), time_scale $SCALE, $RUNS runs, fresh sandbox each"
for i in "${!bins[@]}"; do echo "# bin $i: ${bins[$i]}"; done
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in "${!bins[@]}"; do for mode in $MODES; do : > "$TMP/runs.$i.$mode"; done; done
for run in $(seq "$RUNS"); do
  for i in "${!bins[@]}"; do
  for mode in $MODES; do
    start
    rm -f "$TMP/c/bench.results.csv" "$TMP/c/bench.results.calls.jsonl"   # and its post-call store
    t0=$(date +%s.%N)
    env DIALNEXA_API_KEY=bench DIALNEXA_BASE_URL="$URL/v1" CALLPLAN_POLL=$mode \
      "${bins[$i]}" run "$TMP/c/plan.yaml" --wait --poll-every "$POLL" --quiet > "$TMP/summary" 2> "$TMP/stderr" || {
        echo "run failed (bin $i, $mode):" >&2; cat "$TMP/summary" "$TMP/stderr" >&2; exit 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}' > "$TMP/stats.json.wall"
    curl -s "$URL/_sandbox/stats" > "$TMP/stats.json"
    curl -s "$URL/_sandbox/ledger" > "$TMP/ledger.json"
    stop
    read -r rpc wall bound ratio creates lists gets calls ideal to_ideal r429 < <(measure "$TMP/stats.json" "$TMP/ledger.json")
    printf 'run %s bin %s %-8s: %s requests/call (create %s, list %s, get %s; %s calls, %s refused creates, %s 429s), wall %ss, bound %ss, wall/bound %s, ideal %ss, ideal/bound %s, wall/ideal %s\n' \
      "$run" "$i" "$mode" "$rpc" "$creates" "$lists" "$gets" "$calls" "$((creates - calls))" "$r429" "$wall" "$bound" "$ratio" "$ideal" \
      "$(awk -v a="$ideal" -v b="$bound" 'BEGIN {printf "%.2f", a / b}')" "$to_ideal"
    echo "$rpc $wall $ratio $ideal $to_ideal $bound $r429 $((creates - calls)) $(awk -v a="$ideal" -v b="$bound" 'BEGIN {printf "%.2f", a / b}')" >> "$TMP/runs.$i.$mode"
  done
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
col() { cut -d' ' -f"$1" "$TMP/runs.$2" | median; }
for i in "${!bins[@]}"; do
  for mode in $MODES; do
    printf 'median bin %s %-8s: %s requests/call, %s 429s (%s refused creates), wall %ss, bound %ss, wall/bound %s (runs: %s), ideal %ss, ideal/bound %s, wall/ideal %s\n' "$i" "$mode" \
      "$(col 1 "$i.$mode")" "$(col 7 "$i.$mode")" "$(col 8 "$i.$mode")" "$(col 2 "$i.$mode")" "$(col 6 "$i.$mode")" "$(col 3 "$i.$mode")" \
      "$(cut -d' ' -f3 "$TMP/runs.$i.$mode" | paste -sd' ')" "$(col 4 "$i.$mode")" "$(col 9 "$i.$mode")" "$(col 5 "$i.$mode")"
  done
done
