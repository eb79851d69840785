# Shared by the benchmark scripts: start a sandbox process, take medians.
# Sourcing it makes a temp folder TMP, removed at exit with the sandbox
# stopped. Callers set BIN, write $TMP/sandbox.yaml, and may set WORKERS.
# gen_csv N writes N distinct valid recipients.

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

# Recipients: N distinct valid US numbers and one variable column, in a
# fixed order. The first 2,000,000 are 20 area codes x 10 exchanges x
# 10,000 lines; each further 2,000,000 take the next set of 10 exchanges
# (up to 10,000,000 in all).
gen_csv() {
  awk -v n="$1" 'BEGIN {
    split("650 415 212 312 617 206 303 512 646 718 202 305 404 503 602 702 713 801 919 971", area, " ");
    split("253 254 256 257 258 259 262 263 264 265", ex, " ");
    if (n > 10000000) { print "gen_csv: at most 10,000,000 rows" > "/dev/stderr"; exit 2 }
    print "to_number,customer_name";
    for (i = 0; i < n; i++) {
      set = int(i / 2000000);
      printf "+1%s%d%s%04d,Customer %d\n", area[int(i / 100000) % 20 + 1],
        substr(ex[int(i / 10000) % 10 + 1], 1, 1) + set,
        substr(ex[int(i / 10000) % 10 + 1], 2), i % 10000, i;
    }
  }'
}
