#!/usr/bin/env bash
# `make bench`: runs bench/bench.py (Debian's python3) against the fake API server with the release
# binary build/omjob-operator and writes bench/RESULTS.md (+ bench/results.json).
# Bounded: GNU timeout runs the driver in its own process group and, after BENCH_TIMEOUT seconds
# (default 900 s), signals the whole group; the trap kills whatever of that group is left
# (the fakes, operators and valgrind the driver started) — nothing else.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x build/omjob-operator ] || { echo "bench: build/omjob-operator missing (make)" >&2; exit 1; }
[ -x /usr/bin/python3 ] || { echo "bench: /usr/bin/python3 missing" >&2; exit 1; }

start=$(date +%s)
timeout -k 15 "${BENCH_TIMEOUT:-900}" /usr/bin/python3 bench/bench.py &
pid=$!
cleanup() {
	kill -TERM -- "-$pid" 2>/dev/null || true
	sleep 0.5
	kill -KILL -- "-$pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
rc=0
wait "$pid" || rc=$?
trap - EXIT INT TERM
cleanup
[ "$rc" -eq 124 ] && echo "bench: time limit reached" >&2
echo "bench: ${BENCH_RESULTS:-bench/RESULTS.md} written in $(( $(date +%s) - start )) s (exit $rc)"
exit "$rc"
