#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (pinned Python packages),
# starts moto_server with SigV4 authentication enforced on a free loopback port, runs every test
# against it, and stops it by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test requirements (tests/requirements.txt)"
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

echo "==> starting moto_server (SigV4 enforced)"
log="$(mktemp -t keyrot-moto.XXXXXX.log)"
eval "$(bash tests/support/start_moto.sh "$log")"
trap 'kill "$KEYROT_TEST_MOTO_PID" 2>/dev/null || true' EXIT
echo "    $KEYROT_TEST_MOTO_URL (pid $KEYROT_TEST_MOTO_PID, log $log)"

echo "==> cargo test"
cargo test --locked
