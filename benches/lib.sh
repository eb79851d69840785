# Shared by the benchmark scripts: start a sandbox process, take medians.
# Sourcing it makes a temp folder TMP, removed at exit with the sandbox
# stopped. Callers set BIN, write $TMP/sandbox.yaml, and may set WORKERS.

TMP=$(mktemp -d)
PID=
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap 'stop; rm -rf "$TMP"' EXIT

# Starts `callplan sandbox` on a free loopback port; sets PID and URL.
start() {
  rm -f "$TMP/out" "$TMP/err"   # never read a previous sandbox's line
  "$BIN" sandbox --listen 127.0.0.1:0 --config "$TMP/sandbox.yaml" ${WORKERS:+--workers "$WORKERS"} \
    > "$TMP/out" 2> "$TMP/err" &
  PID=$!
  for _ in $(seq 400); do
    if [ -s "$TMP/out" ]; then break; fi
    sleep 0.05
  done
  URL=$(sed -n 's/^listening on //p' "$TMP/out")
  [ -n "$URL" ] || { echo "sandbox did not start:" >&2; cat "$TMP/err" >&2; exit 1; }
}

# Median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
