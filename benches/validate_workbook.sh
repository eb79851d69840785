#!/usr/bin/env bash
# Benchmark `callplan validate` on a 100,000-row workbook (.xlsx): median
# wall time of 3 runs and peak RSS, and the same rows as CSV for comparison.
# Input is generated into bench-out/validate_workbook/ (gitignored): the CSV
# of benches/validate_gen.py (fixed seed), turned into an .xlsx by
# examples/workbook_gen.rs with cells typed as a spreadsheet holds them
# (digits-only numbers as number cells, dates as date cells, the rest text).
#
#   benches/validate_workbook.sh            # 100,000 rows
#   benches/validate_workbook.sh 20000      # another size
#
# Needs python3 and GNU time (/usr/bin/time; Debian: apt-get install -y time).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-100000}"
RUNS=3
OUT="bench-out/validate_workbook/$ROWS"
BIN=target/release/callplan

if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install -y time" >&2
    exit 2
fi
cargo build --release --locked --quiet
if [ ! -s "$OUT/recipients.xlsx" ]; then
    python3 benches/validate_gen.py "$OUT" "$ROWS"
    cargo run --release --locked --quiet --example workbook_gen -- \
        "$OUT/recipients.csv" "$OUT/recipients.xlsx"
    sed 's/^recipients: recipients.csv$/recipients: recipients.xlsx/' "$OUT/plan.yaml" > "$OUT/plan-xlsx.yaml"
fi

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads: ${CALLPLAN_THREADS:-default}"
echo "input: $OUT/recipients.xlsx ($(du -h "$OUT/recipients.xlsx" | cut -f1)); CSV twin $(du -h "$OUT/recipients.csv" | cut -f1)"

# Times `callplan validate PLAN` RUNS times; prints each run and the medians.
bench() {
    local plan=$1 label=$2
    set +e
    "$BIN" validate "$plan" > "$OUT/report-$label.txt"
    local code=$?
    set -e
    echo "$label: exit code $code (1 expected: 1% bad rows); $(tail -n 1 "$OUT/report-$label.txt")"
    : > "$OUT/runs-$label.txt"
    for i in $(seq "$RUNS"); do
        /usr/bin/time -f "%e %M %U %S" -o "$OUT/time.txt" "$BIN" validate "$plan" > /dev/null || true
        read -r wall rss user sys < <(tail -n 1 "$OUT/time.txt")
        echo "$wall $rss $user $sys" >> "$OUT/runs-$label.txt"
        echo "  run $i: $wall s wall, $user s user + $sys s sys, $(( rss / 1024 )) MiB peak RSS"
    done
    python3 - "$OUT/runs-$label.txt" "$label" <<'PY'
import statistics, sys
runs = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
wall = statistics.median(r[0] for r in runs)
rss = max(r[1] for r in runs) / 1024
cpu = statistics.median(r[2] + r[3] for r in runs)
print(f"{sys.argv[2]}: median wall {wall:.2f} s over {len(runs)} runs (median CPU {cpu:.2f} s); peak RSS {rss:.0f} MiB")
PY
}

bench "$OUT/plan-xlsx.yaml" xlsx
bench "$OUT/plan.yaml" csv
# The findings of both, by code: the digits-only numbers (lost_plus in the
# CSV) are spreadsheet_number in the workbook; every other count is equal.
"$BIN" validate "$OUT/plan-xlsx.yaml" --format json > "$OUT/report-xlsx.json" || true
"$BIN" validate "$OUT/plan.yaml" --format json > "$OUT/report-csv.json" || true
python3 - "$OUT/report-xlsx.json" "$OUT/report-csv.json" <<'PY'
import json, sys
xlsx, csv = (json.load(open(p))["counts"] for p in sys.argv[1:3])
for code in sorted(set(xlsx) | set(csv)):
    print(f"  {code:24} xlsx {xlsx.get(code, 0):>7}   csv {csv.get(code, 0):>7}")
PY
