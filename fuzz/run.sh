#!/usr/bin/env bash
# Runs one fuzz target of natsd-core for a number of seconds.
#
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
#
# TARGET is client_parser, connection, sublist, route_parser, config,
# http_request or tls_connection. New inputs go to
# fuzz/corpus/TARGET (not committed); the committed seeds in
# fuzz/seeds/TARGET are read too. Crashes land in fuzz/artifacts/TARGET and
# can be replayed with `fuzz/run.sh TARGET 0 fuzz/artifacts/TARGET/crash-…`.
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass the
# -Z sanitizer flags it needs. SANITIZER=none (default: address) trades
# memory checking for speed.
set -euo pipefail

usage() { echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
target=$1
secs=$2
shift 2
case "$target" in
  client_parser|connection|sublist|route_parser|config|http_request|tls_connection) ;;
  *) echo "unknown target '$target'" >&2; usage ;;
esac

cd "$(dirname "$0")"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

mkdir -p "corpus/$target" "seeds/$target"
extra=()
case "$target" in
  connection | tls_connection) extra+=(-max_len=16384) ;;
  # Past MAX_HEAD (16 KiB), so over-long heads are reached too.
  http_request) extra+=(-max_len=17000) ;;
esac
if [ "$secs" = 0 ]; then
  # Replay the given inputs only.
  exec env RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "${SANITIZER:-address}" "$target" "$@"
fi
exec env RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer "${SANITIZER:-address}" "$target" \
  "corpus/$target" "seeds/$target" -- \
  -max_total_time="$secs" -timeout=10 -print_final_stats=1 "${extra[@]}" "$@"
