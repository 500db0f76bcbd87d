#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need (pinned Python packages),
# starts moto_server with SigV4 authentication enforced on a free loopback port, runs every test
# against it, and stops it by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> installing test requirements"
# Debian packages (each only if missing): strace (the durability-order test traces fsync/rename), util-linux's
# script (a real terminal for the progress test).
missing=()
command -v strace >/dev/null || missing+=(strace)
command -v script >/dev/null || missing+=(bsdutils)
# systemd (systemd-analyze verify, and a real `systemd --user` for the service tests) and
# desktop-file-utils (desktop-file-validate), for tests/service.rs.
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v desktop-file-validate >/dev/null || missing+=(desktop-file-utils)
# A real desktop for the notification tests (tests/support/desktop.rs): an X server, a private
# D-Bus session bus, and the dunst notification server (with dunstctl).
command -v Xvfb >/dev/null || missing+=(xvfb xauth)
command -v dbus-daemon >/dev/null || missing+=(dbus)
command -v dbus-send >/dev/null || missing+=(dbus-bin)
command -v dunstctl >/dev/null || missing+=(dunst)
# A real Secret Service for keyring mode (tests/support/secrets.rs, tests/keyring.rs).
command -v gnome-keyring-daemon >/dev/null || missing+=(gnome-keyring)
command -v secret-tool >/dev/null || missing+=(libsecret-tools)
# pass and GnuPG, for the password-manager example hook (tests/hooks.rs).
command -v pass >/dev/null || missing+=(pass)
command -v gpg >/dev/null || missing+=(gnupg)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Pinned Python packages: moto (IAM/STS endpoint), the AWS CLI and botocore (reference readers).
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
# Pinned npm packages (tests/oracle/package-lock.json): the AWS SDK for JavaScript v3, a third
# reader of the shared files and a client that authenticates from them. Node.js is required.
command -v node >/dev/null || { echo "Node.js 20 (node, npm) is needed for tests/oracle" >&2; exit 1; }
npm ci --prefix tests/oracle --ignore-scripts --no-audit --no-fund --loglevel=error

echo "==> starting moto_server (SigV4 enforced)"
log="$(mktemp -t keyrot-moto.XXXXXX.log)"
eval "$(bash tests/support/start_moto.sh "$log")"
trap 'kill "$KEYROT_TEST_MOTO_PID" 2>/dev/null || true' EXIT
echo "    $KEYROT_TEST_MOTO_URL (pid $KEYROT_TEST_MOTO_PID, log $log)"

echo "==> cargo test (with failpoints, for the crash matrix)"
cargo test --locked --features failpoints

echo "==> the Debian package (cargo-deb, dpkg -i, dpkg -r)"
bash tests/deb.sh

echo "==> supply chain: cargo deny (licenses, bans, sources; deny.toml)"
command -v cargo-deny >/dev/null || cargo install --locked --quiet cargo-deny@0.20.2
cargo deny --log-level error check bans licenses sources
