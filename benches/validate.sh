#!/usr/bin/env bash
# Benchmark `callplan validate` on 1,000,000 rows: median wall time of 5 runs
# and peak RSS. Input is generated into bench-out/validate/ (gitignored).
#
#   benches/validate.sh            # 1,000,000 rows
#   benches/validate.sh 100000     # another size
#
# Needs python3 and GNU time (/usr/bin/time; Debian: apt-get install -y time).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-1000000}"
RUNS=5
OUT="bench-out/validate/$ROWS"
BIN=target/release/callplan

if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install -y time" >&2
    exit 2
fi
if [ ! -s "$OUT/recipients.csv" ]; then
    python3 benches/validate_gen.py "$OUT" "$ROWS"
fi
cargo build --release --locked --quiet

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads: ${CALLPLAN_THREADS:-default}"
echo "input: $OUT/recipients.csv ($(du -h "$OUT/recipients.csv" | cut -f1), $(wc -l < "$OUT/recipients.csv") lines)"
# One untimed run: warms the page cache and shows what validate found.
set +e
"$BIN" validate "$OUT/plan.yaml" --errors-out "$OUT/errors.csv" > "$OUT/report.txt"
code=$?
set -e
echo "exit code $code (1 expected: the input has 1% bad rows); $(wc -l < "$OUT/errors.csv") lines in --errors-out"
tail -n 1 "$OUT/report.txt"

: > "$OUT/runs.txt"
for i in $(seq "$RUNS"); do
    # GNU time adds "Command exited with non-zero status 1" first: keep the last line.
    /usr/bin/time -f "%e %M %U %S" -o "$OUT/time.txt" "$BIN" validate "$OUT/plan.yaml" > /dev/null || true
    read -r wall rss user sys < <(tail -n 1 "$OUT/time.txt")
    echo "$wall $rss $user $sys" >> "$OUT/runs.txt"
    echo "run $i: $wall s wall, $user s user + $sys s sys, $(( rss / 1024 )) MiB peak RSS"
done
python3 - "$OUT/runs.txt" <<'PY'
import statistics, sys
runs = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
wall = statistics.median(r[0] for r in runs)
rss = max(r[1] for r in runs) / 1024
cpu = statistics.median(r[2] + r[3] for r in runs)
print(f"median wall {wall:.2f} s over {len(runs)} runs (median CPU {cpu:.2f} s); peak RSS {rss:.0f} MiB")
PY
