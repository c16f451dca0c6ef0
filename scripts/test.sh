#!/usr/bin/env bash
# The one test command (README): installs what the tests need and is missing, then runs the
# whole suite, including the tests marked #[ignore = "needs ..."] that use outside services.
# Exits non-zero on any failure. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# --- What the tests need -----------------------------------------------------------------
# Debian packages, by the command that proves each is present. SQLite is compiled into the
# binary; the browser tests drive Debian's Chromium through chromedriver, the terminal
# client's tests run it inside tmux, and the cluster tests use PostgreSQL, MariaDB and Redis
# (scripts/services.sh starts throwaway servers of each).
declare -A APT_PACKAGES=(
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [tmux]=tmux
  [node]=nodejs
  [npm]=npm
  [python3]=python3
  [initdb]=postgresql
  [mariadbd]=mariadb-server
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [curl]=curl
)

# Whether a command is there. PostgreSQL's server programs live off the PATH, under
# /usr/lib/postgresql/VERSION/bin; MariaDB's server is /usr/sbin/mariadbd (off a user's PATH).
have() {
  if [ "$1" = initdb ]; then
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
  elif [ "$1" = mariadbd ]; then
    [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1
  else
    command -v "$1" >/dev/null 2>&1
  fi
}

apt_updated=0
ensure_apt() {
  local missing=()
  for command in "${!APT_PACKAGES[@]}"; do
    have "$command" || missing+=("${APT_PACKAGES[$command]}")
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

# The real Socket.io clients the Socket.io tests drive: socket.io-client from npm, and
# python-socketio from PyPI, each in a folder git ignores.
ensure_socketio_clients() {
  local clients=crates/sala-server/tests/sio/clients
  if [ ! -d "$clients/node_modules/socket.io-client" ]; then
    log "installing socket.io-client (npm)"
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -x .tools/sio-venv/bin/python ] || ! .tools/sio-venv/bin/python -c "import socketio, websocket" 2>/dev/null; then
    log "installing python-socketio (PyPI)"
    if ! python3 -c "import ensurepip" 2>/dev/null; then
      APT_PACKAGES=([python3-venv-marker]=python3-venv)
      ensure_apt
    fi
    python3 -m venv .tools/sio-venv
    .tools/sio-venv/bin/pip install --quiet --disable-pip-version-check -r "$clients/requirements.txt"
  fi
}

# The S3-compatible server the S3 file-storage tests use: moto from PyPI, in a folder git
# ignores (Debian has no MinIO or Garage).
ensure_s3_server() {
  if [ ! -x .tools/s3-venv/bin/moto_server ]; then
    log "installing moto[server] (PyPI)"
    if ! python3 -c "import ensurepip" 2>/dev/null; then
      APT_PACKAGES=([python3-venv-marker]=python3-venv)
      ensure_apt
    fi
    python3 -m venv .tools/s3-venv
    .tools/s3-venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
  fi
}

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
ensure_apt
ensure_socketio_clients
ensure_s3_server

# Throwaway PostgreSQL, MariaDB, Redis and S3 on loopback, stopped when this script exits.
source scripts/services.sh
trap stop_services EXIT
log "starting PostgreSQL, MariaDB, Redis and S3 (moto) for the cluster, MySQL and file-storage tests"
start_postgres
start_mariadb
start_redis
start_s3

# --- The suite ---------------------------------------------------------------------------
log "cargo test --workspace (including tests that need outside services)"
cargo test --workspace --all-targets --locked -- --include-ignored

# The web client's state reducer and resume logic, without a browser (node's own runner).
# web/ has no package.json: its plain .js modules load as ES modules by syntax detection,
# which Node.js has by default from 20.19 (this machine's is 20.20).
log "node --test crates/sala-server/tests/web/"
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "the web client's tests need Node.js 20.19 or newer (found $(node --version))" >&2
  exit 1
fi
node --test crates/sala-server/tests/web/

# --- Fuzzing (docs/fuzzing.md) -----------------------------------------------------------
# Every cargo-fuzz target for FUZZ_SECONDS (default 60; 0 skips the step): scripts/fuzz.sh.
if [ "${FUZZ_SECONDS:-60}" -gt 0 ]; then
  log "fuzzing (scripts/fuzz.sh)"
  scripts/fuzz.sh
fi
