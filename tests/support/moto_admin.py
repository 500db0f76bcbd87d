#!/usr/bin/env python3
"""Bootstraps an admin user on a fresh moto_server that enforces SigV4 authentication.

Usage: moto_admin.py URL

moto_server must have been started with INITIAL_NO_AUTH_ACTION_COUNT=3: this script spends
exactly those three unauthenticated requests on create-user, put-user-policy and
create-access-key, and prints the admin key as JSON on stdout:
{"key_id": "...", "secret": "..."}. Every later request to the server must be signed.
"""
import json
import sys

import boto3

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def main(url):
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIABOOTSTRAPBOOTSTR",
        aws_secret_access_key="bootstrap-only-not-a-secret-0000000000000",
    )
    iam.create_user(UserName="keyrot-test-admin")
    iam.put_user_policy(
        UserName="keyrot-test-admin",
        PolicyName="admin",
        PolicyDocument=json.dumps(ADMIN_POLICY),
    )
    key = iam.create_access_key(UserName="keyrot-test-admin")["AccessKey"]
    print(json.dumps({"key_id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))


if __name__ == "__main__":
    main(sys.argv[1])
