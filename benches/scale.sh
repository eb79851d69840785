#!/usr/bin/env bash
# `callplan run` at scale, one binary or several side by side (issue 11).
#
#   (a) ROWS_BIG rows (default 1,000,000): validate + dial + compact
#       against an unlimited sandbox process: wall, runner CPU, CPU per
#       call, peak RSS of the runner;
#   (b) ROWS rows (default 50,000): the runner's dispatch rate and wrk's
#       rate on the same sandbox build, measured in the same round, and
#       their ratio;
#   (c) resume from a 1,000,000-line results log (RESUME_ROWS recipients,
#       an intent and an outcome each, RESUME_LEFT left): time and CPU to
#       the first request, the last run's validation reused (COLD=1: not);
#   (d) with HUGE=1: HUGE_ROWS rows (default 10,000,000), once per binary.
#
# BINS="a b" runs each part with each binary in turn, round by round
# (interleaved, so load from other work hits them alike), and prints the
# median per binary and its ratio to the first. BIN=path runs one binary.
# Default: this tree's release build. The sandbox is always SANDBOX_BIN
# (default: the first binary), so only the runner changes.
#
#   benches/scale.sh                                   # RUNS=3
#   BINS="/work/wt/bin/callplan-before target/release/callplan" benches/scale.sh
#   SKIP_BIG=1 SKIP_RESUME=1 RUNS=5 benches/scale.sh   # only (b)
#   HUGE=1 SKIP_BIG=1 SKIP_RATE=1 SKIP_RESUME=1 benches/scale.sh
#
# Durability on as always (every intent fsynced before its request),
# concurrency CONC (64), no client pacing. Needs wrk for (b). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
ROWS=${ROWS:-50000}
ROWS_BIG=${ROWS_BIG:-1000000}
HUGE_ROWS=${HUGE_ROWS:-10000000}
CONC=${CONC:-64}
DURATION=${DURATION:-8s}
RESUME_ROWS=${RESUME_ROWS:-500000}   # x2 lines each = a 1,000,000-line log
RESUME_LEFT=${RESUME_LEFT:-1000}
# A key of realistic length: the runner masks it in everything it writes,
# so a short one ("bench") would be searched for in every cell.
KEY=${KEY:-sk_test_4f9c2b7e1a6d3058c9e4b1a7f2d6c3e8}

if [ -z "${BINS:-}" ]; then
  if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --locked
    BIN=$PWD/target/release/callplan
  fi
  BINS=$BIN
fi
read -r -a bins <<< "$BINS"
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done
SANDBOX_BIN=${SANDBOX_BIN:-${bins[0]}}
LUA=$PWD/benches/sandbox_post.lua

. benches/lib.sh   # TMP, stop, start, median, gen_csv

cat > "$TMP/sandbox.yaml" <<'YAML'
concurrency_limit: 0
rate_limit:
  per_second: 0
numbers: ["+14155550100"]
YAML

# plan NAME DIR: a plan dialling DIR/recipients.csv as fast as it can.
plan() {
  cat > "$2/plan.yaml" <<YAML
name: $1
from_number: "+14155550100"
agent_version_id: av_sandbox
recipients: recipients.csv
dispatch:
  concurrency: $CONC
  rate_per_second: 1000000
  max_attempts: 5
YAML
}

load() { cut -d' ' -f1 /proc/loadavg; }

# run_once BIN DIR ROWS OUT: one fresh sandbox, one `callplan run`; appends
# "wall cpu us_per_call rss_kib dispatch" to OUT and prints the run.
run_once() {
  local bin=$1 dir=$2 rows=$3 out=$4
  BIN=$SANDBOX_BIN start
  rm -f "$dir"/*.results.csv "$dir"/.*.state
  /usr/bin/time -f "TIME %e %U %S %M" -o "$TMP/time" \
    env DIALNEXA_API_KEY="$KEY" DIALNEXA_BASE_URL="$URL/v1" "$bin" run "$dir/plan.yaml" --quiet \
    > "$TMP/summary" 2> "$TMP/stderr" || {
      echo "run failed ($bin):" >&2; cat "$TMP/summary" "$TMP/stderr" >&2; exit 1; }
  local created wall user sys rss dispatch cpu per
  created=$(curl -s "$URL/_sandbox/stats" | sed -n 's/.*"created":\([0-9]*\).*/\1/p')
  stop
  read -r _ wall user sys rss < <(grep '^TIME' "$TMP/time")
  dispatch=$(sed -n 's/^this run: .*(\([0-9.]*\) calls\/s).*/\1/p' "$TMP/summary")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
  per=$(awk -v c="$cpu" -v r="$rows" 'BEGIN {printf "%.1f", 1e6 * c / r}')
  [ "$created" = "$rows" ] || { echo "sandbox created $created calls, not $rows" >&2; exit 1; }
  echo "  $(basename "$bin"): wall ${wall}s, cpu ${cpu}s (user $user, sys $sys), ${per} us/call, peak rss $((rss / 1024)) MiB, dispatch ${dispatch} calls/s, load $(load)"
  echo "$wall $cpu $per $rss $dispatch" >> "$out"
}

# col FILE N: median of column N.
col() { awk -v n="$2" '{print $n}' "$1" | median; }

# ratio A B: B / A, two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0) printf "%.2f", b / a; else print "-"}'; }

# big ROWS LABEL RUNS: part (a) or (d).
big() {
  local rows=$1 label=$2 runs=$3 i
  mkdir -p "$TMP/big"
  gen_csv "$rows" > "$TMP/big/recipients.csv"
  plan bench "$TMP/big"
  echo "# ($label) $rows rows, validate + dial + compact, concurrency $CONC, $runs runs per binary, load before $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in "${!bins[@]}"; do : > "$TMP/big.$i"; done
  for run in $(seq "$runs"); do
    echo " round $run"
    for i in "${!bins[@]}"; do run_once "${bins[$i]}" "$TMP/big" "$rows" "$TMP/big.$i"; done
  done
  echo "($label) medians, $rows rows:"
  printf '  %-28s %9s %9s %10s %9s %12s\n' binary wall_s cpu_s us/call rss_MiB dispatch/s
  for i in "${!bins[@]}"; do
    printf '  %-28s %9s %9s %10s %9s %12s\n' "$(basename "${bins[$i]}")" \
      "$(col "$TMP/big.$i" 1)" "$(col "$TMP/big.$i" 2)" "$(col "$TMP/big.$i" 3)" \
      "$(( $(col "$TMP/big.$i" 4 | cut -d. -f1) / 1024 ))" "$(col "$TMP/big.$i" 5)"
  done
  for i in "${!bins[@]}"; do
    [ "$i" = 0 ] && continue
    echo "  $(basename "${bins[$i]}") / $(basename "${bins[0]}"): cpu per call x$(ratio "$(col "$TMP/big.0" 3)" "$(col "$TMP/big.$i" 3)"), peak rss x$(ratio "$(col "$TMP/big.0" 4)" "$(col "$TMP/big.$i" 4)"), wall x$(ratio "$(col "$TMP/big.0" 1)" "$(col "$TMP/big.$i" 1)")"
  done
}

if [ -z "${SKIP_BIG:-}" ]; then big "$ROWS_BIG" a "$RUNS"; fi

if [ -z "${SKIP_RATE:-}" ]; then
  command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
  mkdir -p "$TMP/rate"
  gen_csv "$ROWS" > "$TMP/rate/recipients.csv"
  plan bench "$TMP/rate"
  echo "# (b) $ROWS rows against a fresh sandbox, then wrk -t2 -c$CONC -d$DURATION (benches/sandbox_post.lua) against another fresh one, each round; $RUNS rounds, load before $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in "${!bins[@]}"; do : > "$TMP/rate.$i"; done
  : > "$TMP/wrk"
  for run in $(seq "$RUNS"); do
    echo " round $run"
    for i in "${!bins[@]}"; do run_once "${bins[$i]}" "$TMP/rate" "$ROWS" "$TMP/rate.$i"; done
    BIN=$SANDBOX_BIN start
    wrk -t2 -c"$CONC" -d2s -s "$LUA" "$URL" > /dev/null
    line=$(wrk -t2 -c"$CONC" -d"$DURATION" -s "$LUA" "$URL" | grep '^RESULT')
    stop
    rps=$(echo "$line" | sed 's/.*rps=\([0-9.]*\).*/\1/')
    echo "  wrk: ${line#RESULT } load $(load)"
    echo "$rps" >> "$TMP/wrk"
    for i in "${!bins[@]}"; do
      d=$(tail -1 "$TMP/rate.$i" | awk '{print $5}')
      echo "  $(basename "${bins[$i]}") dispatch / wrk this round: $(awk -v d="$d" -v c="$rps" 'BEGIN {printf "%.0f%%", 100 * d / c}')"
    done
  done
  ceiling=$(median < "$TMP/wrk")
  echo "(b) medians, $ROWS rows: wrk ${ceiling} req/s"
  printf '  %-28s %12s %9s %10s %9s\n' binary dispatch/s of_wrk us/call cpu_s
  for i in "${!bins[@]}"; do
    d=$(col "$TMP/rate.$i" 5)
    printf '  %-28s %12s %9s %10s %9s\n' "$(basename "${bins[$i]}")" "$d" \
      "$(awk -v d="$d" -v c="$ceiling" 'BEGIN {printf "%.0f%%", 100 * d / c}')" \
      "$(col "$TMP/rate.$i" 3)" "$(col "$TMP/rate.$i" 2)"
  done
fi

if [ -z "${SKIP_RESUME:-}" ]; then
  mkdir -p "$TMP/r"
  gen_csv "$RESUME_ROWS" > "$TMP/r/recipients.csv"
  plan resume "$TMP/r"
  # The log in the current layout (results/record.rs COLUMNS), call ids of
  # the API's shape (`call_` and a ULID, 31 bytes), no state
  # file: the run takes its lone file back.
  awk -v left="$RESUME_LEFT" -F, '
    NR == 1 {
      print "key,row,to_number,from_number,agent_version_id,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at,campaign";
      next }
    { rows[NR] = $1 }
    END {
      for (i = 2; i <= NR - left; i++) {
        printf "%s,%d,%s,+14155550100,av_sandbox,1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z,resume\n", rows[i], i, rows[i];
        printf "%s,%d,%s,+14155550100,av_sandbox,1,queued,call_01kbrz3v2x%016d,1,201,,,,,2026-01-01T00:00:00.001Z,resume\n", rows[i], i, rows[i], i;
      }
    }' "$TMP/r/recipients.csv" > "$TMP/r/log.csv"
  lines=$(wc -l < "$TMP/r/log.csv")
  echo "# (c) resume: $RESUME_ROWS recipients, a results log of $lines lines, $RESUME_LEFT rows left; $RUNS rounds, load before $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in "${!bins[@]}"; do : > "$TMP/resume.$i"; rm -f "$TMP/seal.$i"; done
  # Round 0 is not counted: each binary's run that validated the file and
  # sealed it (the validation seal, `.NAME.validated`; builds before it
  # have none). Each binary's seal is kept apart, so binaries that seal
  # do not undo each other's. COLD=1 removes it before every round: a
  # resume that validates again (the file, plan or build changed).
  sealed="$TMP/r/.resume.results.csv.validated"
  for run in $(seq 0 "$RUNS"); do
    for i in "${!bins[@]}"; do
      rm -f "$sealed"
      [ -n "${COLD:-}" ] || [ ! -f "$TMP/seal.$i" ] || cp "$TMP/seal.$i" "$sealed"
      cp "$TMP/r/log.csv" "$TMP/r/resume.results.csv"
      # The log a real resume reads was fsynced line by line by the run
      # that wrote it. A fresh copy is ~115 MB of dirty pages, which the
      # first intent's fsync would flush (about 0.1 s measured): not the
      # runner's cost. NOSYNC=1 measures it as before.
      [ -n "${NOSYNC:-}" ] || sync "$TMP/r/resume.results.csv"
      rm -f "$TMP/r/.resume.state"
      BIN=$SANDBOX_BIN start
      RUST_LOG=callplan::dispatch=info DIALNEXA_API_KEY="$KEY" DIALNEXA_BASE_URL="$URL/v1" \
        "${bins[$i]}" run "$TMP/r/plan.yaml" --quiet > "$TMP/summary" 2> "$TMP/stderr" || true
      stop
      first=$(sed -n 's/.*first request sent \([0-9.]*\) s after start.*/\1/p' "$TMP/stderr" | head -1)
      cpu=$(sed -n 's/.*first request sent .*(\([0-9.]*\) s of CPU).*/\1/p' "$TMP/stderr" | head -1)
      [ -n "$first" ] || { echo "no first-request line:" >&2; cat "$TMP/stderr" "$TMP/summary" >&2; exit 1; }
      [ ! -f "$sealed" ] || cp "$sealed" "$TMP/seal.$i"
      if [ "$run" = 0 ]; then
        echo "  round 0 $(basename "${bins[$i]}") (not counted): first request ${first}s after start"
        continue
      fi
      echo "  round $run $(basename "${bins[$i]}"): first request ${first}s after start, ${cpu}s of CPU by then, load $(load)"
      echo "$first $cpu" >> "$TMP/resume.$i"
    done
  done
  echo "(c) medians, resume from a $lines-line log:"
  for i in "${!bins[@]}"; do
    echo "  $(basename "${bins[$i]}"): first request $(col "$TMP/resume.$i" 1) s after start, $(col "$TMP/resume.$i" 2) s of CPU by then"
  done
fi

if [ -n "${HUGE:-}" ]; then big "$HUGE_ROWS" d 1; fi
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
