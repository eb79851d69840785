#!/usr/bin/env bash
# Chaos before a release (issue 13): 2,000-row campaigns against the
# sandbox started as another process, with faults on POST /v1/calls (5%
# server errors, 3% connections dropped before anything is created, 5%
# calls created and their answer lost), `callplan run` SIGKILLed 20 times at
# random moments, then one run left to finish; the sandbox's idempotency
# (honouring Idempotency-Key) on and off; three seeds. Six campaigns, each
# with a fresh sandbox process and a fresh results file.
#
# After every kill, from the sandbox ledger (GET /_sandbox/ledger) and the
# results file: nobody called twice, and every call the ledger holds has
# its intent (or its call_id) as the last record of its row. After each
# campaign:
#   - called twice: a recipient (callplan_key, and separately to_number)
#     with more than one created call in one round (no redial here, so one
#     round: at most one call per recipient in the whole ledger, with the
#     sandbox honouring Idempotency-Key or not);
#   - lost call_id: a call the ledger created for a row whose call_id is on
#     no line of the results file, or is not the row's last record;
#   - every row of the list has a last record, and it is settled (a call's
#     status, rejected) or in_doubt (counted); `error` rows (transient errors
#     outlasted max_attempts) are counted; pending or dispatching breaks it.
# One line per campaign, then a verdict; exit 1 if any promise broke.
# Figures go to BENCHMARKS.md, "chaos: 2,000 rows, 20 kills".
#
#   benches/chaos.sh                     # ROWS=2000 KILLS=20 SEEDS="1 2 3" RATE=40
#   KILL_MIN_MS=50 KILL_MAX_MS=2500 RATE=50 benches/chaos.sh   # kills mostly during resume
#   SEEDS=7 KILLS=5 ROWS=300 benches/chaos.sh
#
# Each run lives KILL_MIN_MS..KILL_MAX_MS (uniform, from the seed) before
# its SIGKILL. A run started after a kill first waits until the requests the
# killed run left open can no longer be in flight (about request_timeout_s
# after the kill) and looks them up, and dials nothing new meanwhile; kills
# in that stretch land during resume. A kill "while dialling" is one after
# which the ledger holds more calls than before that run, and not all. At
# RATE calls/s the 20 pieces dial about half the list, the last run the
# rest. Needs python3 (and curl). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-2000}
KILLS=${KILLS:-20}
SEEDS=${SEEDS:-"1 2 3"}
RATE=${RATE:-40}
CONC=${CONC:-8}
TIMEOUT=${TIMEOUT:-2}          # api.request_timeout_s: a lost answer is known lost after this
LIST_LAG_MS=${LIST_LAG_MS:-200} # the sandbox's list lags creation by this much
LIST_LAG_S=${LIST_LAG_S:-1}     # api.list_lag_s: the plan allows for a lag this long
KILL_MIN_MS=${KILL_MIN_MS:-1000}
KILL_MAX_MS=${KILL_MAX_MS:-6000}
SERVER_ERRORS=${SERVER_ERRORS:-0.05}
DROPS=${DROPS:-0.03}
LOST=${LOST:-0.05}

command -v python3 > /dev/null || { echo "chaos.sh needs python3" >&2; exit 2; }
command -v curl > /dev/null || { echo "chaos.sh needs curl" >&2; exit 2; }

cargo build --release --locked --quiet
BIN=$PWD/target/release/callplan

. benches/lib.sh   # TMP, stop, start, median

# The checks, on the ledger (stdin) and the results file.
#   check.py kill RESULTS      after a kill: prints "calls twice missing"
#   check.py final RESULTS CSV at the end: prints key=value figures
cat > "$TMP/check.py" <<'PY'
import csv, io, json, sys
from collections import Counter, defaultdict

mode, results = sys.argv[1], sys.argv[2]
calls = json.load(sys.stdin)["calls"]

def records():
    try:
        text = open(results, encoding="utf-8", newline="").read()
    except FileNotFoundError:
        return []
    text = text[: text.rfind("\n") + 1]  # a torn last line (a kill mid-write) is left out
    return list(csv.DictReader(io.StringIO(text, newline="")))

recs = records()
last = {}
ids_on_file = defaultdict(set)
for r in recs:
    last[r["key"]] = r
    if r["call_id"]:
        ids_on_file[r["key"]].add(r["call_id"])

per_round = Counter()
per_number = Counter()
for c in calls:
    m = c["metadata"]
    per_round[(m["callplan_key"], m.get("callplan_round", "1"))] += 1
    per_number[(c["to_number"], m.get("callplan_round", "1"))] += 1
twice = sum(1 for v in per_round.values() if v > 1)
twice_number = sum(1 for v in per_number.values() if v > 1)
newest = {}
for c in calls:  # the ledger is in creation order
    newest[c["metadata"]["callplan_key"]] = c["call_id"]

if mode == "kill":
    # Every created call: its row's last record holds its call_id, or an
    # intent not yet answered (the next run reconciles it).
    missing = 0
    for c in calls:
        k = c["metadata"]["callplan_key"]
        r = last.get(k)
        if r is None or not (r["call_id"] == c["call_id"] or r["status"] in ("dispatching", "in_doubt")):
            missing += 1
    print(len(calls), max(twice, twice_number), missing)
    sys.exit(0)

rows = []
with open(sys.argv[3], encoding="utf-8", newline="") as f:
    for row in csv.DictReader(f):
        rows.append(row["to_number"])
lost = 0
for c in calls:
    k = c["metadata"]["callplan_key"]
    if c["call_id"] not in ids_on_file.get(k, ()):
        lost += 1
    elif newest[k] == c["call_id"] and last[k]["call_id"] != c["call_id"]:
        lost += 1
status = Counter(last[k]["status"] if k in last else "no_record" for k in rows)
unsettled = sum(n for s, n in status.items() if s in ("pending", "dispatching", "invalid", "", "no_record"))
print(" ".join([
    f"created={len(calls)}",
    f"twice={twice}",
    f"twice_number={twice_number}",
    f"lost={lost}",
    f"in_doubt={status.get('in_doubt', 0)}",
    f"error={status.get('error', 0)}",
    f"unsettled={unsettled}",
    f"keys_called={len({c['metadata']['callplan_key'] for c in calls})}",
    "statuses=" + ",".join(f"{s}:{n}" for s, n in sorted(status.items())),
]))
PY

check() { curl -sf --noproxy '*' "$URL/_sandbox/ledger" | python3 "$TMP/check.py" "$@"; }

mkdir -p "$TMP/c"
awk -v n="$ROWS" 'BEGIN {
  print "to_number,customer_name";
  for (i = 0; i < n; i++) printf "+1650%03d%04d,Customer %d\n", 253 + int(i / 10000), i % 10000, i;
}' > "$TMP/c/recipients.csv"
cat > "$TMP/c/plan.yaml" <<YAML
name: chaos
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
api:
  request_timeout_s: $TIMEOUT
  connect_timeout_s: 1
  list_lag_s: $LIST_LAG_S
dispatch:
  concurrency: $CONC
  rate_per_second: $RATE
  max_attempts: 5
YAML
RESULTS=$TMP/c/chaos.results.csv

run_env=(env -u RUST_LOG DIALNEXA_API_KEY=sk_test_chaos_bench_0f9e8d7c NO_PROXY=127.0.0.1)

echo "# chaos: $ROWS rows, $KILLS SIGKILLs per campaign ($KILL_MIN_MS-$KILL_MAX_MS ms into each run), then a run to the end"
echo "# faults: server_error_rate $SERVER_ERRORS, drop_rate $DROPS, lost_response_rate $LOST; sandbox list_lag_ms $LIST_LAG_MS"
echo "# plan: rate_per_second $RATE, concurrency $CONC, request_timeout_s $TIMEOUT, list_lag_s $LIST_LAG_S, max_attempts 5"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
broken=0
campaigns=0
for seed in $SEEDS; do
  for idem in on off; do
    campaigns=$((campaigns + 1))
    cat > "$TMP/sandbox.yaml" <<YAML
concurrency_limit: 0
rate_limit:
  per_second: 0
numbers: ["+14155550100"]
idempotency: $idem
seed: $seed
list_lag_ms: $LIST_LAG_MS
faults:
  server_error_rate: $SERVER_ERRORS
  drop_rate: $DROPS
  lost_response_rate: $LOST
YAML
    start
    rm -f "$RESULTS" "$TMP/c/.chaos.results.csv.lock"
    RANDOM=$seed
    s=$(date +%s.%N)
    kills=0 landed=0 finished_early=0 after_kill_bad=0 prev=0
    for _ in $(seq "$KILLS"); do
      ms=$((KILL_MIN_MS + (RANDOM * 32768 + RANDOM) % (KILL_MAX_MS - KILL_MIN_MS + 1)))
      "${run_env[@]}" DIALNEXA_BASE_URL="$URL/v1" "$BIN" run "$TMP/c/plan.yaml" --quiet \
        > /dev/null 2> "$TMP/run.err" < /dev/null &
      pid=$!
      sleep "$(awk -v m="$ms" 'BEGIN {printf "%.3f", m / 1000}')"
      if kill -KILL "$pid" 2> /dev/null; then
        wait "$pid" 2> /dev/null || true
        kills=$((kills + 1))
      else
        rc=0; wait "$pid" || rc=$?
        finished_early=1
        echo "  run finished before its kill (exit $rc)" >&2
      fi
      read -r n twice missing < <(check kill "$RESULTS")
      if [ "$twice" != 0 ] || [ "$missing" != 0 ]; then
        echo "  after kill $kills: $twice called twice, $missing calls without intent or call_id" >&2
        after_kill_bad=$((after_kill_bad + 1))
      fi
      if [ "$n" -gt "$prev" ] && [ "$n" -lt "$ROWS" ]; then landed=$((landed + 1)); fi
      prev=$n
      [ "$finished_early" = 0 ] || break
    done
    rc=0
    "${run_env[@]}" DIALNEXA_BASE_URL="$URL/v1" "$BIN" run "$TMP/c/plan.yaml" --quiet \
      > "$TMP/final.out" 2> "$TMP/final.err" < /dev/null || rc=$?
    e=$(date +%s.%N)
    wall=$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.1f", e - s}')
    figures=$(check final "$RESULTS" "$TMP/c/recipients.csv")
    faults=$(curl -sf --noproxy '*' "$URL/_sandbox/stats" | python3 -c '
import json, sys
f = json.load(sys.stdin).get("faults", {})
print(",".join(f"{k}:{f.get(k, 0)}" for k in ("server_error", "drop", "lost_response")))')
    stop
    declare -A fig=()
    for kv in $figures; do fig[${kv%%=*}]=${kv#*=}; done
    ok=yes
    if [ "${fig[twice]}" != 0 ] || [ "${fig[twice_number]}" != 0 ] || [ "${fig[lost]}" != 0 ] \
      || [ "${fig[unsettled]}" != 0 ] || [ "$after_kill_bad" != 0 ] || ! [[ "$rc" =~ ^(0|4)$ ]]; then
      ok=NO; broken=$((broken + 1))
      echo "  final run exit $rc:" >&2; tail -n 5 "$TMP/final.out" "$TMP/final.err" >&2
    fi
    echo "seed $seed idempotency $idem: kills $kills (while dialling $landed), created ${fig[created]}" \
      "(recipients called ${fig[keys_called]}), called twice ${fig[twice]}, lost call_ids ${fig[lost]}," \
      "in doubt ${fig[in_doubt]}, error ${fig[error]}, unsettled ${fig[unsettled]}, after-kill breaks $after_kill_bad," \
      "final exit $rc, faults $faults, wall ${wall}s, load $(cut -d' ' -f1 /proc/loadavg), rows ${fig[statuses]}, ok $ok"
    unset fig
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$broken" = 0 ]; then
  echo "verdict: all $campaigns campaigns kept every promise (nobody called twice, no call_id lost, every row settled or in doubt)"
else
  echo "verdict: $broken of $campaigns campaigns broke a promise"
  exit 1
fi
