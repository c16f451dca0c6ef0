#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (docs/fuzzing.md). scripts/test.sh
# ends with it; run it alone to fuzz longer: FUZZ_SECONDS=600 scripts/fuzz.sh.
# Each target runs for FUZZ_SECONDS (default 60), starting from its committed seeds
# (fuzz/seeds/TARGET) and the corpus earlier runs on this machine left in fuzz/corpus/TARGET.
# A crash, a panic, an overflow or an input slower than 10 s fails the script; libFuzzer
# keeps the input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TARGETS=(ws_frames http_bodies sio_events)

if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz is made for nightly, which it needs for sanitizers (-Zsanitizer). With
# --sanitizer none (below) it passes rustc only stable options (-C and --cfg; checked with
# cargo-fuzz 0.13.2), so the default (stable) toolchain builds the targets as they are:
# no nightly to install, and no RUSTC_BOOTSTRAP=1, which would also make build scripts
# that probe for nightly features (anyhow, proc-macro2) turn them on.
#
# Build options shared by build and run, so that run does not build again.
# --sanitizer none: AddressSanitizer finds memory errors, which the server's safe Rust
# (unsafe_code = "forbid") cannot have, at about twice the run time and a nightly-only
# build. What we look for is still caught without it: panics, arithmetic overflows (debug
# assertions stay on), stack overflows, slow inputs. --codegen-units 16: a much shorter
# build of the whole server than cargo-fuzz's default of 1, for somewhat slower runs.
options=(--sanitizer none --codegen-units 16)
# The fuzz crate is outside the workspace, with a lock file of its own: start it from the
# workspace's, so the targets are built against the versions the server ships with.
cp Cargo.lock fuzz/Cargo.lock
log "building the fuzz targets"
cargo fuzz build "${options[@]}"
crashed=()
for target in "${FUZZ_TARGETS[@]}"; do
  log "fuzzing $target for ${FUZZ_SECONDS} s"
  mkdir -p "fuzz/corpus/$target"
  # The first folder takes the new inputs; the seeds are read only.
  if ! cargo fuzz run "${options[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
    -- -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1; then
    crashed+=("$target")
  fi
done
if [ ${#crashed[@]} -gt 0 ]; then
  echo "fuzzing found a crash in: ${crashed[*]} (inputs in fuzz/artifacts/; docs/fuzzing.md" \
    "says how to reproduce one and keep it as a regression test)" >&2
  exit 1
fi
