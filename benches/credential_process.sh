#!/usr/bin/env bash
# Latency of `keyrot-agent credential-process`, which AWS clients run for every new session:
# a private session bus with gnome-keyring, one entry, then N runs timed one by one. Prints the
# median, p90 and worst in milliseconds (target: well under 50 ms). Uses target/release if built.
# Usage: bash benches/credential_process.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
if [ -x target/release/keyrot-agent ]; then bin=$PWD/target/release/keyrot-agent; else cargo build --quiet; bin=$PWD/target/debug/keyrot-agent; fi
work=$(mktemp -d)
read -r addr pid < <(dbus-daemon --config-file=tests/support/session-bus.conf --fork --nopidfile --print-address=1 --print-pid=1 | paste -sd' ')
export DBUS_SESSION_BUS_ADDRESS=$addr
printf 'bench-password' | XDG_DATA_HOME=$work gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
gk=$!
trap 'kill $gk $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  dbus-send --session --print-reply=literal --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break
  sleep 0.05
done
printf '{"AccessKeyId":"AKIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}' |
  secret-tool store --label 'keyrot-agent bench' service keyrot-agent username profile:bench
"$bin" credential-process --profile bench >/dev/null   # warm the page cache
python3 - "$bin" "$runs" <<'PY'
import statistics, subprocess, sys, time
bin, runs = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(runs):
    t = time.perf_counter()
    subprocess.run([bin, "credential-process", "--profile", "bench"], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"binary: {bin}")
print(f"credential-process over {runs} runs: median {statistics.median(times):.1f} ms, "
      f"p90 {times[int(runs * 0.9) - 1]:.1f} ms, worst {times[-1]:.1f} ms (target: well under 50 ms)")
PY
