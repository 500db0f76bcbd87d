#!/usr/bin/env python3
"""Oracle for the credentials-parser differential test.

Usage: botocore_read.py FILE [FILE ...]

Reads every FILE exactly as botocore reads a shared-credentials file
(botocore.configloader.raw_config_parse, i.e. configparser.RawConfigParser
with its defaults) and prints ONE JSON object to stdout:

    {PATH: {"ok": {PROFILE: {"aws_access_key_id": ..., "aws_secret_access_key": ...,
                             "aws_session_token": ...}}}}   # only fields present
    {PATH: {"error": "<exception class>: <message>"}}

Every section is listed, even one without key fields (as {}).  Values are
reported verbatim (a value botocore turned into a nested dict stays a dict).
Exceptions are caught per file, so one bad file does not stop the others.

Encoding: configparser opens files with the locale's preferred encoding.  To
make results independent of the machine running the test, the script re-runs
itself in Python's UTF-8 mode (-X utf8), which is what botocore does on any
Linux/macOS machine with a UTF-8 locale.

Nothing but this JSON is written to stdout; secrets never go to stderr.
"""
import json
import os
import sys

KEY_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def _ensure_utf8_mode():
    if not sys.flags.utf8_mode:
        os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.argv])


def read_one(path):
    try:
        from botocore.configloader import raw_config_parse

        parsed = raw_config_parse(path)
        profiles = {}
        for section, options in parsed.items():
            profiles[section] = {k: options[k] for k in KEY_FIELDS if k in options}
        return {"ok": profiles}
    except BaseException as e:  # noqa: BLE001 - the oracle must never stop early
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv):
    if not argv:
        sys.stderr.write("usage: botocore_read.py FILE [FILE ...]\n")
        return 2
    result = {path: read_one(path) for path in argv}
    json.dump(result, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    _ensure_utf8_mode()
    sys.exit(main(sys.argv[1:]))
