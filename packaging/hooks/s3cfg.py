#!/usr/bin/env python3
"""keyrot-agent post_rotate hook: put the pair it is given into ~/.s3cfg (s3cmd's config).

    post_rotate = "python3 /usr/share/keyrot-agent/hooks/s3cfg.py"

Only the `access_key` and `secret_key` lines change; everything else stays byte for byte. The
file is replaced atomically (a private temp file in the same directory, fsynced, renamed) and
keeps its mode. keyrot-agent may run a hook more than once with the same pair, and after a
rollback again with the old pair: this hook writes whatever pair it is given, so either is fine.
Set S3CFG (and list it in hook_env) to update another file.
"""
import json
import os
import sys
import tempfile


def main():
    given = json.load(sys.stdin)
    path = os.environ.get("S3CFG") or os.path.expanduser("~/.s3cfg")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    wanted = {"access_key": given["AccessKeyId"], "secret_key": given["SecretAccessKey"]}
    seen = set()
    out = []
    for line in lines:
        name = line.split("=", 1)[0].strip()
        if "=" in line and name in wanted:
            ending = "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""
            out.append(f"{name} = {wanted[name]}{ending}")
            seen.add(name)
        else:
            out.append(line)
    missing = [n for n in wanted if n not in seen]
    if missing:
        sys.exit(f"{path} has no {' or '.join(missing)} line; run s3cmd --configure first")
    replace(path, "".join(out))


def replace(path, text):
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".s3cfg.")
    try:
        os.fchmod(fd, mode & 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


if __name__ == "__main__":
    main()
