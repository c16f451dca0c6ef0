# Throwaway PostgreSQL, Redis, S3 (moto) and MariaDB servers for the tests that need them.
#
# Meant to be SOURCED (by scripts/test.sh, or by hand), not run: it defines functions and
# the servers it starts belong to the sourcing shell.
#
#   source scripts/services.sh
#   trap stop_services EXIT
#   start_postgres   # exports SALA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres
#   start_redis      # exports SALA_TEST_REDIS_URL=redis://127.0.0.1:PORT/
#   start_s3         # exports SALA_TEST_S3_ENDPOINT=http://127.0.0.1:PORT and AWS_* test keys
#   start_mariadb    # exports SALA_TEST_MYSQL_URL=mysql://sala:sala@127.0.0.1:PORT/
#
# Each server gets a fresh temp dir (data, socket, log) and a free loopback port, so runs
# never share state and several can run side by side. Durability is off (fsync, snapshots):
# the data is thrown away. It assumes Debian's `postgresql` and `redis-server` packages (and,
# for start_mariadb, `mariadb-server`) are installed. Works as root (CI): PostgreSQL and
# MariaDB refuse to run as root, so they run as the `postgres` and `mysql` users their
# packages create. Safe under `set -euo pipefail`.

# What stop_services needs: process ids and temp dirs, empty when nothing runs.
SALA_PG_PID=${SALA_PG_PID:-}
SALA_PG_WRAPPER_PID=${SALA_PG_WRAPPER_PID:-}
SALA_PG_DIR=${SALA_PG_DIR:-}
SALA_REDIS_PID=${SALA_REDIS_PID:-}
SALA_REDIS_DIR=${SALA_REDIS_DIR:-}
SALA_S3_PID=${SALA_S3_PID:-}
SALA_S3_DIR=${SALA_S3_DIR:-}
SALA_MYSQL_PID=${SALA_MYSQL_PID:-}
SALA_MYSQL_DIR=${SALA_MYSQL_DIR:-}

# A TCP port nothing listens on right now. Another process may take it before the server
# binds it; the start functions retry with a new port when the server does not come up.
_sala_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Runs a command as the postgres user when we are root, as ourselves otherwise.
_sala_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Starts PostgreSQL (the newest installed major version) on a free loopback port with trust
# authentication, and exports SALA_TEST_POSTGRES_URL, the admin URL that
# sala-store-postgres's test_support::TempDatabase creates test databases through.
start_postgres() {
  if [ -n "$SALA_PG_PID" ]; then
    echo "start_postgres: already running (pid $SALA_PG_PID)" >&2
    return 0
  fi
  local bin
  bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "start_postgres: no /usr/lib/postgresql/*/bin/initdb (install Debian's postgresql package)" >&2
    return 1
  fi

  SALA_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sala-postgres.XXXXXX")
  mkdir "$SALA_PG_DIR/socket"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$SALA_PG_DIR"
  fi
  if ! _sala_as_postgres "$bin/initdb" -D "$SALA_PG_DIR/data" --auth=trust -U postgres \
    --encoding=UTF8 --no-locale --no-sync >"$SALA_PG_DIR/initdb.log" 2>&1; then
    echo "start_postgres: initdb failed:" >&2
    cat "$SALA_PG_DIR/initdb.log" >&2
    return 1
  fi

  # Tests throw the data away, so durability is off; a benchmark sets SALA_PG_DURABLE=1 to
  # measure with PostgreSQL's defaults (fsync on every commit).
  local durability=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  if [ "${SALA_PG_DURABLE:-0}" = 1 ]; then
    durability=()
  fi
  local attempt port waited
  for attempt in 1 2 3; do
    port=$(_sala_free_port)
    _sala_as_postgres "$bin/postgres" -D "$SALA_PG_DIR/data" -k "$SALA_PG_DIR/socket" \
      -c listen_addresses=127.0.0.1 -p "$port" "${durability[@]}" \
      -c max_connections=200 >>"$SALA_PG_DIR/postgres.log" 2>&1 &
    SALA_PG_WRAPPER_PID=$!
    for ((waited = 0; waited < 300; waited++)); do
      if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 1; then
        # The postmaster's own pid (the first line of postmaster.pid): as root, $! is
        # runuser's, which may not pass every signal on.
        SALA_PG_PID=$(head -n 1 "$SALA_PG_DIR/data/postmaster.pid")
        export SALA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
        echo "PostgreSQL $(basename "$(dirname "$bin")") on 127.0.0.1:$port (pid $SALA_PG_PID, dir $SALA_PG_DIR)"
        return 0
      fi
      kill -0 "$SALA_PG_WRAPPER_PID" 2>/dev/null || break
      sleep 0.1
    done
    # Not ready within 30 s, or exited (most likely the port was taken meanwhile).
    if [ -f "$SALA_PG_DIR/data/postmaster.pid" ]; then
      _sala_stop_pid "$(head -n 1 "$SALA_PG_DIR/data/postmaster.pid")" INT 100 || true
    fi
    kill "$SALA_PG_WRAPPER_PID" 2>/dev/null || true
    wait "$SALA_PG_WRAPPER_PID" 2>/dev/null || true
    SALA_PG_WRAPPER_PID=
    echo "start_postgres: attempt $attempt on port $port failed" >&2
  done
  echo "start_postgres: PostgreSQL did not start; its log:" >&2
  tail -n 30 "$SALA_PG_DIR/postgres.log" >&2 || true
  return 1
}

# Starts Redis on a free loopback port, without persistence, and exports SALA_TEST_REDIS_URL.
start_redis() {
  if [ -n "$SALA_REDIS_PID" ]; then
    echo "start_redis: already running (pid $SALA_REDIS_PID)" >&2
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "start_redis: redis-server is missing (install Debian's redis-server package)" >&2
    return 1
  fi
  SALA_REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sala-redis.XXXXXX")

  local attempt port waited
  for attempt in 1 2 3; do
    port=$(_sala_free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize no --dir "$SALA_REDIS_DIR" >>"$SALA_REDIS_DIR/redis.log" 2>&1 &
    SALA_REDIS_PID=$!
    for ((waited = 0; waited < 300; waited++)); do
      if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
        export SALA_TEST_REDIS_URL="redis://127.0.0.1:$port/"
        echo "Redis on 127.0.0.1:$port (pid $SALA_REDIS_PID, dir $SALA_REDIS_DIR)"
        return 0
      fi
      kill -0 "$SALA_REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$SALA_REDIS_PID" 2>/dev/null || true
    wait "$SALA_REDIS_PID" 2>/dev/null || true
    SALA_REDIS_PID=
    echo "start_redis: attempt $attempt on port $port failed" >&2
  done
  echo "start_redis: Redis did not start; its log:" >&2
  tail -n 30 "$SALA_REDIS_DIR/redis.log" >&2 || true
  return 1
}

# Starts an S3-compatible server (moto, the emulator AWS SDK projects test against, from
# PyPI: scripts/test.sh installs it in .tools/s3-venv) on a free loopback port, in memory.
# Exports SALA_TEST_S3_ENDPOINT and the AWS_* variables Sala's S3 client reads (moto takes
# any keys); tests create their own buckets.
start_s3() {
  if [ -n "$SALA_S3_PID" ]; then
    echo "start_s3: already running (pid $SALA_S3_PID)" >&2
    return 0
  fi
  local moto=${SALA_MOTO_SERVER:-.tools/s3-venv/bin/moto_server}
  if [ ! -x "$moto" ]; then
    echo "start_s3: $moto is missing (pip install 'moto[server]')" >&2
    return 1
  fi
  SALA_S3_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sala-s3.XXXXXX")
  local attempt port waited
  for attempt in 1 2 3; do
    port=$(_sala_free_port)
    "$moto" -H 127.0.0.1 -p "$port" >>"$SALA_S3_DIR/moto.log" 2>&1 &
    SALA_S3_PID=$!
    for ((waited = 0; waited < 300; waited++)); do
      if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
        export SALA_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
        export AWS_ACCESS_KEY_ID=sala-test AWS_SECRET_ACCESS_KEY=sala-test AWS_REGION=us-east-1
        echo "S3 (moto) on 127.0.0.1:$port (pid $SALA_S3_PID, log $SALA_S3_DIR/moto.log)"
        return 0
      fi
      kill -0 "$SALA_S3_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$SALA_S3_PID" 2>/dev/null || true
    wait "$SALA_S3_PID" 2>/dev/null || true
    SALA_S3_PID=
    echo "start_s3: attempt $attempt on port $port failed" >&2
  done
  echo "start_s3: moto did not start; its log:" >&2
  tail -n 30 "$SALA_S3_DIR/moto.log" >&2 || true
  return 1
}

# Starts MariaDB (Debian's mariadb-server) on a free loopback port, with a fresh data dir
# in a temp dir, and exports SALA_TEST_MYSQL_URL: an account `sala` (password `sala`) that
# may create and drop databases, for tests that make one each (issue 22). Text defaults to
# utf8mb4. Durability is off as for PostgreSQL (no flush at each commit, no binary log);
# SALA_MYSQL_DURABLE=1 keeps MariaDB's defaults, for a benchmark. As root, the server runs
# as the `mysql` user the package creates, since it refuses to run as root.
start_mariadb() {
  if [ -n "$SALA_MYSQL_PID" ]; then
    echo "start_mariadb: already running (pid $SALA_MYSQL_PID)" >&2
    return 0
  fi
  if ! command -v mariadb-install-db >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
    echo "start_mariadb: no mariadb-install-db or /usr/sbin/mariadbd (install Debian's mariadb-server package)" >&2
    return 1
  fi
  local user=()
  SALA_MYSQL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sala-mariadb.XXXXXX")
  if [ "$(id -u)" -eq 0 ]; then
    user=(--user=mysql)
    chown mysql: "$SALA_MYSQL_DIR"
  fi
  if ! mariadb-install-db --no-defaults "${user[@]}" --datadir="$SALA_MYSQL_DIR/data" \
    --auth-root-authentication-method=socket --skip-test-db >"$SALA_MYSQL_DIR/install.log" 2>&1; then
    echo "start_mariadb: mariadb-install-db failed:" >&2
    tail -n 30 "$SALA_MYSQL_DIR/install.log" >&2
    return 1
  fi

  local durability=(--innodb-flush-log-at-trx-commit=0 --skip-log-bin --innodb-doublewrite=0)
  if [ "${SALA_MYSQL_DURABLE:-0}" = 1 ]; then
    durability=()
  fi
  local socket=$SALA_MYSQL_DIR/mysqld.sock attempt port waited
  for attempt in 1 2 3; do
    port=$(_sala_free_port)
    /usr/sbin/mariadbd --no-defaults "${user[@]}" --datadir="$SALA_MYSQL_DIR/data" \
      --socket="$socket" --pid-file="$SALA_MYSQL_DIR/mysqld.pid" --port="$port" \
      --bind-address=127.0.0.1 --skip-name-resolve --character-set-server=utf8mb4 \
      --collation-server=utf8mb4_unicode_ci --max-connections=300 "${durability[@]}" \
      --log-error="$SALA_MYSQL_DIR/mariadb.log" >/dev/null 2>&1 &
    SALA_MYSQL_PID=$!
    for ((waited = 0; waited < 300; waited++)); do
      if mariadb-admin --no-defaults --socket="$socket" -u root ping >/dev/null 2>&1; then
        if ! mariadb --no-defaults --socket="$socket" -u root -e \
          "CREATE USER 'sala'@'127.0.0.1' IDENTIFIED BY 'sala'; GRANT ALL ON *.* TO 'sala'@'127.0.0.1';" \
          2>>"$SALA_MYSQL_DIR/mariadb.log"; then
          echo "start_mariadb: could not create the test account; the log:" >&2
          tail -n 30 "$SALA_MYSQL_DIR/mariadb.log" >&2
          return 1
        fi
        export SALA_TEST_MYSQL_URL="mysql://sala:sala@127.0.0.1:$port/"
        echo "MariaDB $(/usr/sbin/mariadbd --version | awk '{print $3}') on 127.0.0.1:$port (pid $SALA_MYSQL_PID, dir $SALA_MYSQL_DIR)"
        return 0
      fi
      kill -0 "$SALA_MYSQL_PID" 2>/dev/null || break
      sleep 0.1
    done
    # Not ready within 30 s, or exited (most likely the port was taken meanwhile).
    _sala_stop_pid "$SALA_MYSQL_PID" KILL 50 || true
    wait "$SALA_MYSQL_PID" 2>/dev/null || true
    SALA_MYSQL_PID=
    echo "start_mariadb: attempt $attempt on port $port failed" >&2
  done
  echo "start_mariadb: MariaDB did not start; its log:" >&2
  tail -n 30 "$SALA_MYSQL_DIR/mariadb.log" >&2 || true
  return 1
}

# Sends $2 to pid $1 and waits up to $3 tenths of a second for it to exit; returns whether
# it did.
_sala_stop_pid() {
  local pid=$1 signal=$2 tenths=$3 waited
  kill "-$signal" "$pid" 2>/dev/null || return 0
  for ((waited = 0; waited < tenths; waited++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

# Stops what start_postgres and start_redis started, by the pids they recorded, and removes
# their temp dirs. Safe to call twice, and when nothing was started (for `trap ... EXIT`).
stop_services() {
  if [ -n "$SALA_PG_PID" ]; then
    # SIGINT is PostgreSQL's fast shutdown: it ends sessions still open instead of waiting.
    # SIGQUIT (immediate) if that takes more than 30 s, SIGKILL as a last resort.
    _sala_stop_pid "$SALA_PG_PID" INT 300 ||
      _sala_stop_pid "$SALA_PG_PID" QUIT 50 ||
      _sala_stop_pid "$SALA_PG_PID" KILL 50 || true
    SALA_PG_PID=
  fi
  if [ -n "$SALA_PG_WRAPPER_PID" ]; then
    wait "$SALA_PG_WRAPPER_PID" 2>/dev/null || true
    SALA_PG_WRAPPER_PID=
  fi
  if [ -n "$SALA_REDIS_PID" ]; then
    _sala_stop_pid "$SALA_REDIS_PID" TERM 100 ||
      _sala_stop_pid "$SALA_REDIS_PID" KILL 50 || true
    wait "$SALA_REDIS_PID" 2>/dev/null || true
    SALA_REDIS_PID=
  fi
  if [ -n "$SALA_MYSQL_PID" ]; then
    # SIGTERM is MariaDB's clean shutdown; SIGKILL if it takes more than 30 s.
    _sala_stop_pid "$SALA_MYSQL_PID" TERM 300 ||
      _sala_stop_pid "$SALA_MYSQL_PID" KILL 50 || true
    wait "$SALA_MYSQL_PID" 2>/dev/null || true
    SALA_MYSQL_PID=
  fi
  if [ -n "$SALA_MYSQL_DIR" ]; then
    rm -rf "$SALA_MYSQL_DIR" || true
    SALA_MYSQL_DIR=
  fi
  if [ -n "$SALA_S3_PID" ]; then
    _sala_stop_pid "$SALA_S3_PID" TERM 100 ||
      _sala_stop_pid "$SALA_S3_PID" KILL 50 || true
    wait "$SALA_S3_PID" 2>/dev/null || true
    SALA_S3_PID=
  fi
  if [ -n "$SALA_S3_DIR" ]; then
    rm -rf "$SALA_S3_DIR" || true
    SALA_S3_DIR=
  fi
  if [ -n "$SALA_PG_DIR" ]; then
    rm -rf "$SALA_PG_DIR" || true
    SALA_PG_DIR=
  fi
  if [ -n "$SALA_REDIS_DIR" ]; then
    rm -rf "$SALA_REDIS_DIR" || true
    SALA_REDIS_DIR=
  fi
  unset SALA_TEST_POSTGRES_URL SALA_TEST_REDIS_URL SALA_TEST_S3_ENDPOINT
  return 0
}
