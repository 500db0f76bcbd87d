#!/usr/bin/env bash
# See a rotation without an AWS account: starts moto_server (IAM/STS, SigV4 enforced) on a
# loopback port, creates an IAM user "alice" with keyrot-agent's self-service policy, writes a
# throwaway credentials file holding alice's key, and runs `keyrot-agent now` against it.
# Nothing outside a temp directory is touched; everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
cargo build --quiet
bin="$PWD/target/debug/keyrot-agent"

work=$(mktemp -d)
eval "$(bash tests/support/start_moto.sh "$work/moto.log")"
trap 'kill "$KEYROT_TEST_MOTO_PID" 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL="$KEYROT_TEST_MOTO_URL" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_SHARED_CREDENTIALS_FILE="$work/credentials" AWS_CONFIG_FILE="$work/config"
export XDG_STATE_HOME="$work/state"
aws() { python3 -m awscli "$@"; }
admin() { AWS_ACCESS_KEY_ID="$KEYROT_TEST_ADMIN_KEY_ID" AWS_SECRET_ACCESS_KEY="$KEYROT_TEST_ADMIN_SECRET" aws "$@"; }

# moto matches IAM policies only against Resource "*"; on AWS use the README's policy.
policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListAccessKeys","iam:CreateAccessKey","iam:UpdateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed","iam:TagUser","iam:UntagUser"],"Resource":"*"}]}'
admin iam create-user --user-name alice >/dev/null
admin iam put-user-policy --user-name alice --policy-name keyrot-self-service --policy-document "$policy"
read -r id secret < <(admin iam create-access-key --user-name alice \
  --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
printf '# throwaway file for keyrot-agent try-local\n[default]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = us-east-1\n' \
  "$id" "$secret" > "$work/credentials"
touch "$work/config"
cp "$work/credentials" "$work/credentials.before"

echo "\$ keyrot-agent now --dry-run"
"$bin" now --dry-run
echo
echo "\$ keyrot-agent now"
"$bin" now
echo
echo "What changed in the credentials file (secrets masked):"
diff "$work/credentials.before" "$work/credentials" | sed -E 's/(aws_secret_access_key = ).*/\1****/' || true
echo
echo "\$ aws sts get-caller-identity   # the AWS CLI reads the rewritten file"
aws sts get-caller-identity --output text --query Arn
echo "\$ aws iam list-access-keys --user-name alice   # only the new key is left"
admin iam list-access-keys --user-name alice --output text --query 'AccessKeyMetadata[].[AccessKeyId,Status]'
