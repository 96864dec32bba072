#!/usr/bin/env bash
# The fuzzing part of CI (called from .ci/run): builds every fuzz target,
# then runs each for a short, bounded time from the committed seeds.
#
#   fuzz/ci.sh              # FUZZ_SECONDS per target, default 20
#   FUZZ_SECONDS=300 fuzz/ci.sh
#
# A crash, a leak or a timeout found by libFuzzer fails the script (and CI);
# the input is saved under fuzz/artifacts/TARGET/ and libFuzzer prints how
# to replay it (`fuzz/run.sh TARGET 0 fuzz/artifacts/TARGET/crash-...`).
# Longer runs by hand: fuzz/run.sh TARGET SECONDS (see fuzz/README.md).
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the
# -Z flags it needs. Installs cargo-fuzz if it is missing.
set -euo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-20}
start=$(date +%s)

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
echo "fuzz/ci: cargo-fuzz ready after $(( $(date +%s) - start )) s"

targets=$(cargo fuzz list)
[ -n "$targets" ] || { echo "fuzz/ci: no fuzz targets found" >&2; exit 1; }

# Build all targets first (the same sanitizer run.sh uses), so a target
# that no longer compiles fails here even if it would never be run.
RUSTC_BOOTSTRAP=1 cargo fuzz build --sanitizer "${SANITIZER:-address}"
echo "fuzz/ci: built $(echo "$targets" | wc -w) targets after $(( $(date +%s) - start )) s"

for t in $targets; do
  [ -d "seeds/$t" ] || { echo "fuzz/ci: target $t has no seeds/$t" >&2; exit 1; }
  t0=$(date +%s)
  # libFuzzer stops itself after -max_total_time; the outer timeout only
  # guards against a stuck process (and leaves room for cargo to rebuild
  # if the sources changed since the build above).
  timeout --kill-after=10 $(( secs + 900 )) bash ./run.sh "$t" "$secs"
  echo "fuzz/ci: $t ran $(( $(date +%s) - t0 )) s without a finding"
done
echo "fuzz/ci: done in $(( $(date +%s) - start )) s"
