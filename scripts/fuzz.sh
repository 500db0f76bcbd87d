#!/usr/bin/env bash
# Coverage-guided fuzzing of keyrot-agent's parsers with cargo-fuzz (libFuzzer), for a bounded
# time per target:
#   bash scripts/fuzz.sh [seconds per target, default 300] [target ...]
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`). New inputs land in fuzz/corpus/<target>/; minimize them with
#   cargo +nightly fuzz cmin -O <target>
# before committing. A crash is saved in fuzz/artifacts/<target>/: fix it, and copy the input
# into fuzz/corpus/<target>/ so that tests/fuzz_corpus.rs replays it on stable Rust forever.
# CI does not run this (it needs nightly); it replays the corpus with the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(credentials edit config state)
for t in "${targets[@]}"; do
  echo "==> fuzz $t for ${secs}s"
  log="$(mktemp -t "keyrot-fuzz-$t.XXXXXX.log")"
  status=0
  cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|SUMMARY|==[0-9]+== ERROR)' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz $t FAILED (exit $status); log: $log; input in fuzz/artifacts/$t/" >&2
    exit "$status"
  fi
done
