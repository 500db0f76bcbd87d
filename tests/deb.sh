#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it with dpkg -i, checks what it installed,
# removes it with dpkg -r, and checks that nothing is left. Run as root (or with sudo available);
# scripts/test.sh runs it after cargo test.
#
# The package is built from the dev profile, stripped: cargo test has already built every
# dependency for that profile, while a release build of the AWS SDK takes about ten minutes on
# two cores. (cargo-deb warns that the dev profile is unsupported; 3.8 still builds with it, and
# the pin below keeps that true.) This replaces target/debug/keyrot-agent with a build without
# the failpoints feature; the next cargo test links its own again.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "==> installing cargo-deb $CARGO_DEB_VERSION"
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if dpkg-query -W -f='${Status}' keyrot-agent 2>/dev/null | grep -q 'install ok'; then
  echo "keyrot-agent is already installed from a package on this machine; not touching it" >&2
  exit 1
fi

work="$(mktemp -d -t keyrot-deb.XXXXXX)"
installed=""
cleanup() {
  if [ -n "$installed" ]; then $SUDO dpkg -r keyrot-agent >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> cargo deb (dev profile, stripped)"
cargo deb --locked --profile dev --strip --no-separate-debug-symbols --no-dbgsym --fast \
  --output "$work/keyrot-agent.deb"
deb="$work/keyrot-agent.deb"
dpkg-deb --field "$deb" Package Version Architecture Depends Section Priority
contents="$(dpkg-deb --contents "$deb")"
for f in ./usr/bin/keyrot-agent ./usr/lib/systemd/user/keyrot-agent.service \
  ./usr/share/doc/keyrot-agent/README.md ./usr/share/keyrot-agent/hooks/s3cfg.py \
  ./usr/share/keyrot-agent/hooks/dotenv.py ./usr/share/keyrot-agent/hooks/pass.py \
  ./usr/share/bash-completion/completions/keyrot-agent ./usr/share/zsh/vendor-completions/_keyrot-agent \
  ./usr/share/fish/vendor_completions.d/keyrot-agent.fish ./usr/share/man/man1/keyrot-agent.1.gz; do
  grep -q " $f\$" <<<"$contents" || { echo "the package lacks $f:" >&2; echo "$contents" >&2; exit 1; }
done
echo "    $(du -h "$deb" | cut -f1) $deb"

echo "==> dpkg -i"
installed=1
$SUDO dpkg -i "$deb"
/usr/bin/keyrot-agent --version
[ "$(stat -c %a /usr/bin/keyrot-agent)" = 755 ]
[ "$(stat -c %a /usr/lib/systemd/user/keyrot-agent.service)" = 644 ]
if file /usr/bin/keyrot-agent 2>/dev/null | grep -q 'not stripped'; then
  echo "/usr/bin/keyrot-agent is not stripped" >&2; exit 1
fi

echo "==> the installed completions and manual page work"
bash -c 'source /usr/share/bash-completion/completions/keyrot-agent && complete -p keyrot-agent' >/dev/null
# cargo-deb compresses manual pages, as Debian policy asks.
zcat /usr/share/man/man1/keyrot-agent.1.gz | grep '^.TH keyrot-agent 1' >/dev/null

echo "==> systemd-analyze verify --user"
mkdir -m 700 "$work/runtime"
XDG_RUNTIME_DIR="$work/runtime" systemd-analyze verify --user \
  /usr/lib/systemd/user/keyrot-agent.service

echo "==> the packaged unit is what 'service install' writes for /usr/bin/keyrot-agent"
mkdir -p "$work/home"
env -i PATH="$PATH" HOME="$work/home" XDG_CONFIG_HOME="$work/config" \
  XDG_STATE_HOME="$work/state" /usr/bin/keyrot-agent service install --kind systemd --no-start
cmp "$work/config/systemd/user/keyrot-agent.service" /usr/lib/systemd/user/keyrot-agent.service

echo "==> dpkg -r"
$SUDO dpkg -r keyrot-agent
installed=""
for f in /usr/bin/keyrot-agent /usr/lib/systemd/user/keyrot-agent.service \
  /usr/share/doc/keyrot-agent /usr/share/keyrot-agent /usr/share/man/man1/keyrot-agent.1.gz \
  /usr/share/bash-completion/completions/keyrot-agent; do
  if [ -e "$f" ]; then echo "dpkg -r left $f behind" >&2; exit 1; fi
done
echo "==> the .deb installs, verifies and removes cleanly"
