#!/usr/bin/env bash
# Every performance figure of keyrot-agent, each next to a baseline measured in the same run:
#   1. the binary's size (and a previous build's, with KEYROT_BASELINE_BIN=path);
#   2. start-up as whole processes: `status --json` offline and `credential-process`, next to
#      `--version`, libsecret's own `secret-tool lookup` of the same entry (the Secret Service's
#      floor), and the previous build;
#   3. one rotation (`now`) next to the seeds' manual procedure with the real AWS CLI, and the
#      fsyncs and renames it makes (benches/e2e.sh);
#   4. parsing, classifying and editing files of 10 to 100,000 profiles (criterion, benches/editor.rs);
#   5. propagation: detection lag at 0/2/8 s, and ten users' keys vs one (benches/propagation.rs);
#   6. the idle agent's memory and CPU (benches/idle.sh).
# Starts its own moto on loopback (and a private D-Bus with gnome-keyring for credential-process).
# Usage: bash benches/run.sh [--smoke]
#   --smoke: a debug build and one run of each, to check that the benchmark still works (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

if $smoke; then
  cargo build --quiet --locked
  # The benches in the test profile, run once each (criterion's test mode): no release build.
  bin=$PWD/target/debug/keyrot-agent runs=1 startup_runs=3 e2e_runs=1 idle=3 bench=(cargo test --quiet --locked --bench)
else
  cargo build --quiet --locked --release
  bin=$PWD/target/release/keyrot-agent runs=5 startup_runs=50 e2e_runs=7 idle=60 bench=(cargo bench --quiet --locked --bench)
fi
base=${KEYROT_BASELINE_BIN:-}
echo "machine: $(nproc) cores, $(uname -sr), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "binary:  $bin"

echo "==> 1. binary size"
size() { stat -c %s "$1"; }
stripped() { local t; t=$(mktemp); strip -o "$t" "$1" && size "$t"; rm -f "$t"; }
echo "  $(basename "$bin"): $(size "$bin") bytes ($(stripped "$bin") stripped)"
if [ -n "$base" ]; then
  echo "  baseline $base: $(size "$base") bytes ($(stripped "$base") stripped)"
  awk -v a="$(size "$bin")" -v b="$(size "$base")" 'BEGIN { printf "  ratio: %.2fx the baseline\n", a / b }'
fi

echo "==> 2. start-up (whole processes, median of $startup_runs)"
work=$(mktemp -d)
read -r addr dbus_pid < <(dbus-daemon --config-file=tests/support/session-bus.conf --fork --nopidfile --print-address=1 --print-pid=1 | paste -sd' ')
export DBUS_SESSION_BUS_ADDRESS=$addr
printf 'bench-password' | XDG_DATA_HOME=$work/data gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
gk=$!
trap 'kill $gk $dbus_pid 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/home/.aws"
for i in $(seq 1 20); do
  printf '[p%s]\naws_access_key_id = AKIABENCHSTARTUP%04d\naws_secret_access_key = benchSecretStartup/%022d\n' "$i" "$i" "$i"
done > "$work/home/.aws/credentials"
printf '[p1]\naws_access_key_id = AKIABENCHSTARTUP0001\naws_secret_access_key = benchSecretStartup/0000000000000000000001\n' > "$work/one"
envs="env -i HOME=$work/home PATH=$PATH DBUS_SESSION_BUS_ADDRESS=$addr XDG_STATE_HOME=$work/state AWS_ENDPOINT_URL=http://127.0.0.1:9"
for _ in $(seq 1 100); do
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.05
done
# One keyring entry for credential-process, as `keyring adopt` stores it.
printf '{"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}' |
  secret-tool store --label 'keyrot-agent bench' service keyrot-agent username profile:p1
cmds=("--version=$envs $bin --version" "status --json (20 profiles, offline)=$envs $bin status --json"
      "credential-process (keyring)=$envs AWS_SHARED_CREDENTIALS_FILE=$work/one $bin credential-process --profile p1"
      "secret-tool lookup, the same entry (libsecret)=$envs secret-tool lookup service keyrot-agent username profile:p1")
if [ -n "$base" ]; then
  cmds+=("baseline status --json=$envs $base status --json"
         "baseline credential-process=$envs AWS_SHARED_CREDENTIALS_FILE=$work/one $base credential-process --profile p1")
fi
python3 benches/startup.py "$startup_runs" "${cmds[@]}"

echo "==> 3. one rotation, next to the AWS CLI procedure"
bash benches/e2e.sh "$e2e_runs"

echo "==> 4. files of 10 to 100,000 profiles (criterion)"
# One line per benchmark: its name and criterion's [low median high] time (or "Success" in smoke).
"${bench[@]}" editor 2>&1 | awk '
  /^profiles\// { name = $1; for (i = 2; i <= NF && $i != "time:"; i++) name = name " " $i }
  /time:/ { sub(/.*time: */, ""); printf "  %-40s %s\n", name, $0 }
  /^Testing / { print "  " $0 }'

echo "==> 5. propagation, and many keys"
KEYROT_BENCH_RUNS=$runs KEYROT_TEST_BIN=$bin "${bench[@]}" propagation

echo "==> 6. the idle agent"
bash benches/idle.sh "$idle"
