#!/usr/bin/env bash
# End-to-end benchmark: the wall time of one `keyrot-agent now` against local moto (SigV4
# enforced), next to the seeds' manual procedure scripted with the AWS CLI on the same machine and
# endpoint: list-access-keys, create-access-key, configure set x2, sts get-caller-identity,
# update-access-key, delete-access-key. Prints medians and their ratio.
# Usage: bash benches/e2e.sh [RUNS]   (uses target/release/keyrot-agent if built, else debug)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
if [ -x target/release/keyrot-agent ]; then bin=$PWD/target/release/keyrot-agent; else cargo build --quiet; bin=$PWD/target/debug/keyrot-agent; fi

work=$(mktemp -d)
eval "$(bash tests/support/start_moto.sh "$work/moto.log")"
trap 'kill "$KEYROT_TEST_MOTO_PID" 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL="$KEYROT_TEST_MOTO_URL" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE="$work/credentials" AWS_CONFIG_FILE="$work/config" XDG_STATE_HOME="$work/state"
aws() { python3 -m awscli "$@"; }
admin() { AWS_ACCESS_KEY_ID="$KEYROT_TEST_ADMIN_KEY_ID" AWS_SECRET_ACCESS_KEY="$KEYROT_TEST_ADMIN_SECRET" aws "$@"; }
policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:CreateAccessKey","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed"],"Resource":"*"}]}'
touch "$work/config"

new_user() {
  admin iam create-user --user-name "$1" >/dev/null
  admin iam put-user-policy --user-name "$1" --policy-name self --policy-document "$policy"
  read -r id secret < <(admin iam create-access-key --user-name "$1" --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$secret" > "$work/credentials"
}

now_ms() { date +%s%N | cut -c1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

new_user bench-keyrot
: > "$work/keyrot.times"
for _ in $(seq "$runs"); do
  t0=$(now_ms); "$bin" now >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/keyrot.times"
done

new_user bench-manual
: > "$work/manual.times"
for _ in $(seq "$runs"); do
  t0=$(now_ms)
  old=$(aws iam list-access-keys --query 'AccessKeyMetadata[0].AccessKeyId' --output text)
  read -r id secret < <(aws iam create-access-key --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
  aws configure set aws_access_key_id "$id"
  aws configure set aws_secret_access_key "$secret"
  aws sts get-caller-identity >/dev/null
  aws iam update-access-key --access-key-id "$old" --status Inactive
  aws iam delete-access-key --access-key-id "$old"
  t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/manual.times"
done

k=$(median < "$work/keyrot.times"); m=$(median < "$work/manual.times")
echo "binary: $bin"
echo "keyrot-agent now (7 requests, verified twice):    median ${k} ms over $runs runs ($(tr '\n' ' ' < "$work/keyrot.times"))"
echo "AWS CLI manual procedure (7 commands, no waits):  median ${m} ms over $runs runs ($(tr '\n' ' ' < "$work/manual.times"))"
awk -v k="$k" -v m="$m" 'BEGIN { printf "ratio manual / keyrot-agent: %.1fx\n", m / k }'
