#!/usr/bin/env bash
# The one test command (README): installs what the tests need and is missing, then runs the
# whole suite, including the tests marked #[ignore = "needs ..."] that use outside services.
# Exits non-zero on any failure. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- What the tests need -----------------------------------------------------------------
# Debian packages, by the command that proves each is present. SQLite is compiled into the
# binary; the browser tests drive Debian's Chromium through chromedriver, and the terminal
# client's tests run it inside tmux.
declare -A APT_PACKAGES=(
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [tmux]=tmux
)

apt_updated=0
ensure_apt() {
  local missing=()
  for command in "${!APT_PACKAGES[@]}"; do
    command -v "$command" >/dev/null 2>&1 || missing+=("${APT_PACKAGES[$command]}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
ensure_apt

# --- The suite ---------------------------------------------------------------------------
log "cargo test --workspace (including tests that need outside services)"
cargo test --workspace --all-targets --locked -- --include-ignored
