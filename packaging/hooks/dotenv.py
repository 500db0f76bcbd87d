#!/usr/bin/env python3
"""keyrot-agent post_rotate hook: put the pair it is given into a `.env` file.

    post_rotate = "python3 /usr/share/keyrot-agent/hooks/dotenv.py ~/src/app/.env"

Rewrites the `AWS_ACCESS_KEY_ID=` and `AWS_SECRET_ACCESS_KEY=` lines (with or without `export `,
and keeping the quotes the file uses). Every other line stays as it is. The file is replaced
atomically (a private temp file in the same directory, fsynced, renamed) and keeps its mode. It
writes whatever pair it is given, so running it twice, or with the old pair after a rollback, is
fine. The path is an argument. The secret comes only on standard input.
"""
import json
import os
import re
import sys
import tempfile

LINE = re.compile(r"^(\s*(?:export\s+)?)(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)(\s*=\s*)(['\"]?)(.*?)(\4)(\s*)$")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: dotenv.py PATH/.env  (the pair comes on standard input)")
    path = os.path.expanduser(sys.argv[1])
    given = json.load(sys.stdin)
    wanted = {
        "AWS_ACCESS_KEY_ID": given["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": given["SecretAccessKey"],
    }
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    seen = set()
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        m = LINE.match(body)
        if m:
            name = m.group(2)
            seen.add(name)
            out.append(f"{m.group(1)}{name}{m.group(3)}{m.group(4)}{wanted[name]}{m.group(6)}{m.group(7)}{ending}")
        else:
            out.append(line)
    for name in wanted:
        if name not in seen:
            if out and not out[-1].endswith("\n"):
                out.append("\n")
            out.append(f"{name}={wanted[name]}\n")
    replace(path, "".join(out))


def replace(path, text):
    mode = os.stat(path).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".env.")
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
