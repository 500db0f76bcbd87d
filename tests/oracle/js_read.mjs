#!/usr/bin/env node
// Oracle for the credentials-parser differential test: the AWS SDK for JavaScript v3.
//
// Usage: node js_read.mjs EMPTY_CONFIG FILE [FILE ...]
//
// Reads every FILE as the shared credentials file exactly as every Node.js AWS program does
// (`loadSharedConfigFiles` of @smithy/shared-ini-file-loader, with EMPTY_CONFIG as the config
// file and no cache) and prints ONE JSON object to stdout, in the shape botocore_read.py uses:
//
//     {PATH: {"ok": {PROFILE: {"aws_access_key_id": ..., "aws_secret_access_key": ...,
//                              "aws_session_token": ...}}}}   // only fields present
//     {PATH: {"error": "<message>"}}
//
// Key names are looked up as the SDK looks them up (exactly, in lower case), so a profile whose
// names are written otherwise has no key here. A profile without any setting is not listed (the
// SDK does not keep it either). Nothing but this JSON goes to stdout; secrets never to stderr.
import { loadSharedConfigFiles } from "@smithy/shared-ini-file-loader";

const KEY_FIELDS = ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"];

async function readOne(configFilepath, filepath) {
  try {
    const { credentialsFile } = await loadSharedConfigFiles({
      filepath,
      configFilepath,
      ignoreCache: true,
    });
    const profiles = {};
    for (const [name, settings] of Object.entries(credentialsFile)) {
      const fields = {};
      for (const k of KEY_FIELDS) {
        if (Object.hasOwn(settings, k)) fields[k] = settings[k];
      }
      profiles[name] = fields;
    }
    return { ok: profiles };
  } catch (e) {
    return { error: `${e?.name ?? "Error"}: ${e?.message ?? e}` };
  }
}

const [configFilepath, ...files] = process.argv.slice(2);
if (!configFilepath || files.length === 0) {
  process.stderr.write("usage: node js_read.mjs EMPTY_CONFIG FILE [FILE ...]\n");
  process.exit(2);
}
const result = {};
for (const f of files) result[f] = await readOne(configFilepath, f);
process.stdout.write(JSON.stringify(result) + "\n");
