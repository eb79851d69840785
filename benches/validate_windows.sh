#!/usr/bin/env bash
# What calling windows and do-not-call lists cost `callplan validate` on
# 1,000,000 rows: the plain benchmark plan (no schedule, no lists) against the
# same rows with a `timezone` column (a quarter of the cells filled), a
# `schedule` (so every row's zone is worked out) and a 10,000-number
# do-not-call list. Median wall and CPU time of 5 runs each, interleaved so
# both see the same load; peak RSS.
#
#   benches/validate_windows.sh            # 1,000,000 rows
#   benches/validate_windows.sh 100000     # another size
#
# Needs python3 and GNU time (/usr/bin/time; Debian: apt-get install -y time).
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS="${1:-1000000}"
RUNS=5
OUT="bench-out/validate/$ROWS"
WIN="$OUT/windows"
BIN=target/release/callplan

if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install -y time" >&2
    exit 2
fi
if [ ! -s "$OUT/recipients.csv" ]; then
    python3 benches/validate_gen.py "$OUT" "$ROWS"
fi
if [ ! -s "$WIN/recipients.csv" ]; then
    mkdir -p "$WIN"
    python3 - "$OUT/recipients.csv" "$WIN" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
zones = ["", "America/Chicago", "", "", ""]
listed = 0
with open(src, encoding="utf-8") as f, \
     open(f"{out}/recipients.csv", "w", encoding="utf-8", newline="") as w, \
     open(f"{out}/dnc.csv", "w", encoding="utf-8", newline="") as d:
    w.write(next(f).rstrip("\n") + ",timezone\n")
    d.write("phone\n")
    for i, line in enumerate(f):
        line = line.rstrip("\n")
        w.write(f"{line},{zones[i % len(zones)]}\n")
        number = line.split(",", 1)[0]
        if i % 100 == 7 and number.startswith("+") and listed < 10000:
            d.write(number + "\n")
            listed += 1
PY
    cat > "$WIN/plan.yaml" <<'YAML'
name: bench-validate-windows
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
columns:
  metadata: [crm_contact_id]
variables:
  clinic_name: Sunrise Dental
required_variables: [customer_name, appointment_date]
schedule:
  timezone: America/New_York
  hours: "09:00-20:00"
  days: [mon, tue, wed, thu, fri]
suppress: [dnc.csv]
YAML
fi
cargo build --release --locked --quiet

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); threads: ${CALLPLAN_THREADS:-default}"
for plan in "$OUT/plan.yaml" "$WIN/plan.yaml"; do
    set +e
    "$BIN" validate "$plan" > "$OUT/report.txt"
    set -e
    echo "$plan: $(tail -n 1 "$OUT/report.txt")"
done

: > "$OUT/runs-plain.txt"
: > "$OUT/runs-windows.txt"
for i in $(seq "$RUNS"); do
    for which in plain windows; do
        plan="$OUT/plan.yaml"
        [ "$which" = windows ] && plan="$WIN/plan.yaml"
        /usr/bin/time -f "%e %M %U %S" -o "$OUT/time.txt" "$BIN" validate "$plan" > /dev/null || true
        read -r wall rss user sys < <(tail -n 1 "$OUT/time.txt")
        echo "$wall $rss $user $sys" >> "$OUT/runs-$which.txt"
        echo "run $i $which: $wall s wall, $user s user + $sys s sys, $(( rss / 1024 )) MiB peak RSS"
    done
done
python3 - "$OUT" <<'PY'
import statistics, sys
for which in ("plain", "windows"):
    runs = [tuple(map(float, l.split())) for l in open(f"{sys.argv[1]}/runs-{which}.txt") if l.strip()]
    wall = statistics.median(r[0] for r in runs)
    rss = max(r[1] for r in runs) / 1024
    cpu = statistics.median(r[2] + r[3] for r in runs)
    print(f"{which}: median wall {wall:.2f} s over {len(runs)} runs (median CPU {cpu:.2f} s); peak RSS {rss:.0f} MiB")
PY
