#!/usr/bin/env bash
# A throwaway redis-server for the tests that share state across processes
# (tests/integration/test_redis_shared.py), used by the Makefile and .ci/run.
#
#   scripts/redis-test-server.sh install        install redis-server (Debian package) if missing
#   scripts/redis-test-server.sh run CMD ARGS…  run CMD with TOKENWIRE_REDIS_URL set to a fresh
#                                               server, stopped when CMD ends (CMD's exit status)
#   scripts/redis-test-server.sh start          start one, print `export TOKENWIRE_REDIS_URL=…`
#                                               and `export TOKENWIRE_REDIS_DIR=…` (eval them)
#   scripts/redis-test-server.sh stop [DIR]     stop the one started in DIR ($TOKENWIRE_REDIS_DIR)
#
# The server listens on 127.0.0.1 only, on a free port picked at start, daemonized with its
# pidfile, log and working directory in a temporary directory; no persistence
# (--save '' --appendonly no). `run` keeps an already set TOKENWIRE_REDIS_URL (your own server).
#
# Installing needs root and apt-get; elsewhere it is skipped with a note, `run` then runs CMD
# without TOKENWIRE_REDIS_URL, and the Redis tests skip with a reason — unless CI=true or
# TOKENWIRE_REQUIRE_REDIS=1, where they fail (this script never decides that: the tests do).
set -euo pipefail

PYTHON=${PYTHON:-python3}

note() { echo "redis-test-server: $*" >&2; }

install_redis() {
    if command -v redis-server >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        note "redis-server is not installed and cannot be installed here (needs root and apt-get)"
        return 1
    fi
    note "installing redis-server (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q redis-server >/dev/null; then
        # The package lists may be missing or stale on a fresh machine.
        apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null || {
            note "apt-get install redis-server failed"
            return 1
        }
    fi
    command -v redis-server >/dev/null 2>&1
}

free_port() {
    # Bind port 0 on loopback and report what the kernel chose (then release it).
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ping() { # ping PORT: true once the server answers PING
    "$PYTHON" - "$1" <<'EOF' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
EOF
}

# start: sets REDIS_DIR and REDIS_URL, or returns 1 (with a note) if no server could start.
start_server() {
    install_redis || return 1
    REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tokenwire-redis.XXXXXX")
    local attempt port
    for attempt in 1 2 3; do
        port=$(free_port)
        # The port may be taken between free_port and the bind: then try another one.
        if redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
            --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --dir "$REDIS_DIR" \
            --save '' --appendonly no >/dev/null; then
            local tries
            for tries in $(seq 1 100); do
                if ping "$port"; then
                    echo "$port" >"$REDIS_DIR/port"
                    REDIS_URL="redis://127.0.0.1:$port/0"
                    return 0
                fi
                # Daemonized: a failed bind shows as the process gone and no answer.
                if [ -s "$REDIS_DIR/redis.pid" ] && ! kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
                    break
                fi
                sleep 0.05
            done
        fi
        stop_server "$REDIS_DIR" keep-dir
        note "redis-server did not start on port $port (attempt $attempt); log: $(tail -n 3 "$REDIS_DIR/redis.log" 2>/dev/null | tr '\n' ' ')"
    done
    rm -rf "$REDIS_DIR"
    return 1
}

stop_server() { # stop_server DIR [keep-dir]
    local dir=$1 pid
    if [ -s "$dir/redis.pid" ]; then
        pid=$(cat "$dir/redis.pid")
        if kill "$pid" 2>/dev/null; then
            local i
            for i in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
            done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/redis.pid"
    fi
    [ "${2:-}" = keep-dir ] || rm -rf "$dir"
}

case "${1:-}" in
    install)
        install_redis
        ;;
    start)
        if start_server; then
            echo "export TOKENWIRE_REDIS_URL=$REDIS_URL"
            echo "export TOKENWIRE_REDIS_DIR=$REDIS_DIR"
        else
            exit 1
        fi
        ;;
    stop)
        dir=${2:-${TOKENWIRE_REDIS_DIR:-}}
        [ -n "$dir" ] || { note "stop: no directory given and TOKENWIRE_REDIS_DIR is unset"; exit 2; }
        stop_server "$dir"
        ;;
    run)
        shift
        [ $# -gt 0 ] || { note "run: no command given"; exit 2; }
        if [ -n "${TOKENWIRE_REDIS_URL:-}" ]; then
            exec "$@"
        fi
        if start_server; then
            trap 'stop_server "$REDIS_DIR"' EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
            export TOKENWIRE_REDIS_URL=$REDIS_URL
            note "redis-server at $REDIS_URL"
        else
            note "running without Redis: its tests skip (or fail under CI=true / TOKENWIRE_REQUIRE_REDIS=1)"
        fi
        status=0
        "$@" || status=$?
        exit "$status"
        ;;
    *)
        sed -n '2,17p' "$0" >&2
        exit 2
        ;;
esac
