#!/usr/bin/env bash
# Starts moto_server on a free loopback port with SigV4 authentication enforced, bootstraps the
# test admin, and prints shell assignments for the test harness:
#   KEYROT_TEST_MOTO_URL, KEYROT_TEST_MOTO_PID, KEYROT_TEST_ADMIN_KEY_ID, KEYROT_TEST_ADMIN_SECRET
# Usage: eval "$(tests/support/start_moto.sh LOGFILE [WATCH_PID])"; ...; kill "$KEYROT_TEST_MOTO_PID"
# With WATCH_PID, moto is also stopped within a second after that process exits.
set -euo pipefail
log=${1:-/dev/null}
watch=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INITIAL_NO_AUTH_ACTION_COUNT=3 python3 -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' "$url" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "moto_server exited; see $log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -n "$watch" ]; then
  ( while kill -0 "$watch" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done; kill "$pid" 2>/dev/null ) \
    </dev/null >/dev/null 2>&1 &
fi
admin=$(python3 "$here/moto_admin.py" "$url")
key_id=$(printf '%s' "$admin" | python3 -c 'import json, sys; print(json.load(sys.stdin)["key_id"])')
secret=$(printf '%s' "$admin" | python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
printf 'export KEYROT_TEST_MOTO_URL=%q KEYROT_TEST_MOTO_PID=%q KEYROT_TEST_ADMIN_KEY_ID=%q KEYROT_TEST_ADMIN_SECRET=%q\n' \
  "$url" "$pid" "$key_id" "$secret"
