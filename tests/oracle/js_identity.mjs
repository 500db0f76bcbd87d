#!/usr/bin/env node
// A Node.js AWS program, for the tests: the AWS SDK for JavaScript v3 authenticates from the
// shared files exactly as every Node.js program does (`fromIni`, which honours
// AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE and credential_process) and asks STS who it is.
//
// Usage: node js_identity.mjs PROFILE
//
// Prints ONE JSON object: {"Arn": ..., "Account": ..., "AccessKeyId": ..., "AccountId": ...}
// (AccountId: what the credentials carried, e.g. from credential_process), or {"error": ...}
// with exit 1. Region and endpoint come from AWS_REGION and AWS_ENDPOINT_URL. The secret is
// never printed.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromIni } from "@aws-sdk/credential-providers";

const profile = process.argv[2];
if (!profile) {
  process.stderr.write("usage: node js_identity.mjs PROFILE\n");
  process.exit(2);
}
try {
  const credentials = fromIni({ profile, ignoreCache: true });
  const resolved = await credentials();
  const client = new STSClient({
    region: process.env.AWS_REGION,
    endpoint: process.env.AWS_ENDPOINT_URL,
    credentials: async () => resolved,
    maxAttempts: 1,
  });
  const id = await client.send(new GetCallerIdentityCommand({}));
  process.stdout.write(
    JSON.stringify({
      Arn: id.Arn,
      Account: id.Account,
      AccessKeyId: resolved.accessKeyId,
      AccountId: resolved.accountId ?? null,
    }) + "\n",
  );
} catch (e) {
  process.stdout.write(JSON.stringify({ error: `${e?.name ?? "Error"}: ${e?.message ?? e}` }) + "\n");
  process.exit(1);
}
