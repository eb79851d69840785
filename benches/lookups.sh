#!/usr/bin/env bash
# Look-ups under a flaky API: one `callplan run` of ROWS rows (2,000) per
# seed and binary, against the sandbox started as another process, with the
# chaos bench's faults on POST /v1/calls (5% server errors, 3% connections
# dropped before anything is created, 5% calls created and their answer
# lost) and READ_ERRORS (20%) of the look-ups' list requests answered 5xx
# (faults.read_error_rate). No kill, no rerun: what one run leaves.
#
# Per run: its exit code, the rows left in_doubt, the calls the sandbox
# created (every row should have one: a row whose call was never created
# and whose look-up failed is not resent), and the list requests spent.
# Figures go to BENCHMARKS.md, "run: look-ups that fail ask again".
#
#   benches/lookups.sh                          # this tree, SEEDS="1 2 3"
#   BINS="/path/old /path/new" benches/lookups.sh
#
# The sandbox is always this tree's build. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${ROWS:-2000}
SEEDS=${SEEDS:-1 2 3}
READ_ERRORS=${READ_ERRORS:-0.2}

cargo build --release --quiet --locked
BIN=$PWD/target/release/callplan   # the sandbox
read -r -a bins <<< "${BINS:-$BIN}"

. benches/lib.sh   # TMP, stop, start, gen_csv

mkdir -p "$TMP/c"
gen_csv "$ROWS" > "$TMP/c/recipients.csv"
cat > "$TMP/c/plan.yaml" <<'YAML'
name: lookups
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
api:
  request_timeout_s: 1
  connect_timeout_s: 1
  list_lag_s: 0
dispatch:
  concurrency: 16
  rate_per_second: 400
  max_attempts: 5
YAML

echo "# $ROWS rows, create faults 5% 5xx / 3% dropped / 5% answer lost, $READ_ERRORS of list reads 5xx; load $(cut -d' ' -f1-3 /proc/loadavg)"
for seed in $SEEDS; do
  for b in "${bins[@]}"; do
    cat > "$TMP/sandbox.yaml" <<YAML
concurrency_limit: 0
rate_limit:
  per_second: 0
numbers: ["+14155550100"]
idempotency: false
seed: $seed
faults:
  server_error_rate: 0.05
  drop_rate: 0.03
  lost_response_rate: 0.05
  read_error_rate: $READ_ERRORS
YAML
    start
    rm -f "$TMP/c/lookups.results.csv" "$TMP/c/.lookups.results.csv".*
    rc=0
    env -u RUST_LOG DIALNEXA_API_KEY=sk_test_lookups_0123456789 DIALNEXA_BASE_URL="$URL/v1" \
      "$b" run "$TMP/c/plan.yaml" --quiet > /dev/null 2> "$TMP/err" < /dev/null || rc=$?
    stats=$(curl -s "$URL/_sandbox/stats")
    stop
    python3 - "$TMP/c/lookups.results.csv" "$stats" "$seed" "$(basename "$b")" "$rc" <<'PY'
import csv, json, sys
path, stats, seed, name, rc = sys.argv[1], json.loads(sys.argv[2]), *sys.argv[3:]
rows = list(csv.DictReader(open(path, encoding="utf-8", newline="")))
doubt = sum(1 for r in rows if r["status"] == "in_doubt")
print(f"seed {seed} {name}: exit {rc}, in_doubt {doubt} of {len(rows)}, "
      f"created {stats['calls']['created']}, list requests {stats['by_route']['list']}, "
      f"requests {stats['requests']}")
PY
  done
done
