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
policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:CreateAccessKey","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed","iam:TagUser","iam:UntagUser"],"Resource":"*"}]}'
touch "$work/config"

new_user() {
  admin iam create-user --user-name "$1" >/dev/null
  admin iam put-user-policy --user-name "$1" --policy-name self --policy-document "$policy"
  read -r id secret < <(admin iam create-access-key --user-name "$1" --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$id" "$secret" > "$work/credentials"
  chmod 600 "$work/credentials"
}

now_ms() { date +%s%N | cut -c1-13; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

new_user bench-keyrot
: > "$work/keyrot.times"
for _ in $(seq "$runs"); do
  t0=$(now_ms); "$bin" now >/dev/null; t1=$(now_ms)
  echo $((t1 - t0)) >> "$work/keyrot.times"
done

# A previous build, if one is given (benches/run.sh passes KEYROT_BASELINE_BIN), on its own user.
base=${KEYROT_BASELINE_BIN:-}
if [ -n "$base" ]; then
  new_user bench-baseline
  : > "$work/baseline.times"
  for _ in $(seq "$runs"); do
    t0=$(now_ms); "$base" now >/dev/null; t1=$(now_ms)
    echo $((t1 - t0)) >> "$work/baseline.times"
  done
fi

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

# What one rotation asks of the disk: fsyncs, renames and files created (strace, if present).
if command -v strace >/dev/null; then
  new_user bench-strace
  strace -f -qq -e trace=fsync,fdatasync,rename,renameat,renameat2,openat -o "$work/strace" "$bin" now >/dev/null
  fsyncs=$(grep -cE '(^|[ ])f(data)?sync\(' "$work/strace" || true)
  renames=$(grep -cE '(^|[ ])rename(at2?)?\(' "$work/strace" || true)
  created=$(grep -E '(^|[ ])openat\(' "$work/strace" | grep -c 'O_CREAT' || true)
  disk="one rotation: $fsyncs fsyncs, $renames renames, $created files opened with O_CREAT"
else
  disk="(strace not installed: fsyncs not counted)"
fi

k=$(median < "$work/keyrot.times"); m=$(median < "$work/manual.times")
echo "binary: $bin"
echo "keyrot-agent now (9-10 requests, verified twice): median ${k} ms over $runs runs ($(tr '\n' ' ' < "$work/keyrot.times"))"
echo "AWS CLI manual procedure (7 commands, no waits):  median ${m} ms over $runs runs ($(tr '\n' ' ' < "$work/manual.times"))"
awk -v k="$k" -v m="$m" 'BEGIN { printf "ratio manual / keyrot-agent: %.1fx\n", m / k }'
echo "$disk"
if [ -n "$base" ]; then
  b=$(median < "$work/baseline.times")
  echo "baseline $base now: median ${b} ms over $runs runs ($(tr '\n' ' ' < "$work/baseline.times"))"
  awk -v k="$k" -v b="$b" 'BEGIN { printf "ratio baseline / keyrot-agent: %.2fx\n", b / k }'
fi
