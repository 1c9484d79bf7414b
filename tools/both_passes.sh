#!/usr/bin/env bash
# `make test`'s two passes at once, when DATABASE_URL or REDIS_URL is set: the suite on
# SQLite and the in-process Redis in the foreground (its progress shown as it runs), and the
# suite on DATABASE_URL / REDIS_URL beside it on the other core, its output kept in a file
# and printed once it ends. The two share nothing: the SQLite pass runs with neither variable
# (Makefile's test-sqlite), each scratch database or server a test makes has a name or port
# of its own. Ends with the first failing pass's status; Ctrl-C stops both.
set -uo pipefail

log=$(mktemp -t vnid-test-backends.XXXXXX)
setsid make --no-print-directory test-backends >"$log" 2>&1 &  # a process group of its own
backends=$!
stop() { kill -- -"$backends" 2>/dev/null; }
trap 'stop; exit 130' INT TERM

make --no-print-directory test-sqlite
sqlite=$?
if kill -0 "$backends" 2>/dev/null; then
  echo "== the SQLite pass ended ($sqlite); waiting for the pass on DATABASE_URL / REDIS_URL =="
fi
wait "$backends"
backend=$?
trap - INT TERM
echo "== the pass on DATABASE_URL / REDIS_URL, run beside the SQLite pass (exit $backend) =="
cat "$log"
rm -f "$log"
if [ "$sqlite" -ne 0 ]; then exit "$sqlite"; fi
exit "$backend"
