#!/usr/bin/env bash
# Idle cost of `keyrot-agent run`: resident memory and CPU time while nothing is due, measured
# from /proc over a window (default 120 s) and extrapolated to an hour. Targets: under 15 MiB
# RSS, under 0.1 s CPU per idle hour. Uses target/release/keyrot-agent if built, else debug.
# Usage: bash benches/idle.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-120}
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
if [ -x target/release/keyrot-agent ]; then bin=$PWD/target/release/keyrot-agent; else cargo build --quiet; bin=$PWD/target/debug/keyrot-agent; fi
work=$(mktemp -d)
eval "$(bash tests/support/start_moto.sh "$work/moto.log")"
agent=""
trap 'kill "$KEYROT_TEST_MOTO_PID" 2>/dev/null; [ -n "$agent" ] && kill "$agent" 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL="$KEYROT_TEST_MOTO_URL" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE="$work/credentials" AWS_CONFIG_FILE="$work/config" XDG_STATE_HOME="$work/state" KEYROT_CONFIG="$work/keyrot.toml"
admin() { AWS_ACCESS_KEY_ID="$KEYROT_TEST_ADMIN_KEY_ID" AWS_SECRET_ACCESS_KEY="$KEYROT_TEST_ADMIN_SECRET" python3 -m awscli "$@"; }
policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:CreateAccessKey","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed"],"Resource":"*"}]}'
admin iam create-user --user-name idle >/dev/null
admin iam put-user-policy --user-name idle --policy-name self --policy-document "$policy"
read -r id secret < <(admin iam create-access-key --user-name idle --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$secret" > "$work/credentials"
touch "$work/config"
printf 'max_age = "90d"\n' > "$work/keyrot.toml"

"$bin" run & agent=$!
sleep 5   # start-up: recovery check, one date refresh, then idle
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
c0=$(cpu); sleep "$window"; c1=$(cpu)
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status")
awk -v c0="$c0" -v c1="$c1" -v t="$ticks" -v w="$window" -v rss="$rss_kib" -v bin="$bin" 'BEGIN {
  cpu = (c1 - c0) / t
  printf "binary: %s\n", bin
  printf "idle RSS: %.1f MiB (target < 15 MiB)\n", rss / 1024
  printf "idle CPU: %.3f s over %d s = %.3f s per idle hour (target < 0.1 s)\n", cpu, w, cpu * 3600 / w
}'
