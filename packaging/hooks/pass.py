#!/usr/bin/env python3
"""keyrot-agent post_rotate hook: store the pair it is given in pass, the standard Unix password
manager, as `aws/PROFILE`.

    post_rotate = "python3 /usr/share/keyrot-agent/hooks/pass.py"
    hook_env = ["PASSWORD_STORE_DIR", "GNUPGHOME"]   # only if you use other than the defaults

`pass insert --multiline --force` reads the entry on its standard input: the secret on the first
line (what `pass show -c` copies), then `aws_access_key_id: …`. The secret is never in argv or
the environment. Run again with the same or the old pair, it stores that pair.
"""
import json
import subprocess
import sys


def main():
    given = json.load(sys.stdin)
    entry = f"aws/{given['Profile']}"
    text = f"{given['SecretAccessKey']}\naws_access_key_id: {given['AccessKeyId']}\n"
    done = subprocess.run(
        ["pass", "insert", "--multiline", "--force", entry],
        input=text.encode(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if done.returncode != 0:
        sys.exit(f"pass insert {entry} failed: {done.stderr.decode(errors='replace').strip()}")


if __name__ == "__main__":
    main()
