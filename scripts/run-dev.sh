#!/usr/bin/env bash
# Runs the whole development stack on one machine: the simulated OpenStack, a Celery worker, Celery beat
# and the API, after preparing .venv, the requirements, the database and a staff user.
# Idempotent and needs no standard input. Ctrl-C or SIGTERM stops every process it started.
#
# Usage: bash scripts/run-dev.sh [--setup-only]
# Environment: NODECONDUCTOR_API_PORT (8000), NODECONDUCTOR_CLOUDSIM_PORT (5100), NODECONDUCTOR_VAR_DIR (var/),
#              PYTHON (python3), NODECONDUCTOR_DEV_USER (staff).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
VAR="${NODECONDUCTOR_VAR_DIR:-$ROOT/var}"
LOG_DIR="$VAR/log"
HOST=127.0.0.1
API_PORT="${NODECONDUCTOR_API_PORT:-8000}"
SIM_PORT="${NODECONDUCTOR_CLOUDSIM_PORT:-5100}"
DEV_USER="${NODECONDUCTOR_DEV_USER:-staff}"
STOP_GRACE=15 # seconds each service gets to finish after SIGTERM before it is killed

export DJANGO_SETTINGS_MODULE=settings.development
export NODECONDUCTOR_CLOUDSIM_PORT="$SIM_PORT"
export NODECONDUCTOR_VAR_DIR="$VAR"
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

SETUP_ONLY=0
for arg in "$@"; do
    case "$arg" in
    --setup-only) SETUP_ONLY=1 ;;
    -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "run-dev: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

if [ -t 1 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' PLAIN=$'\033[0m'; else BOLD="" RED="" PLAIN=""; fi
say() { printf '%srun-dev:%s %s\n' "$BOLD" "$PLAIN" "$*"; }
die() {
    printf '%srun-dev: %s%s\n' "$RED" "$*" "$PLAIN" >&2
    exit 1
}

# ---------------------------------------------------------------- checks that need nothing installed
command -v "$PYTHON" >/dev/null 2>&1 ||
    die "$PYTHON not found. Install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$("$PYTHON" -V 2>&1) is too old; NodeConductor needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)."

port_free() {
    # Binding is the only reliable test: a connect test misses sockets that are bound but not yet listening.
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
# As the servers do: a port whose last run left only TIME_WAIT connections is free (Linux still refuses a
# port someone listens on).
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

check_port() {
    local port=$1 what=$2 variable=$3 holder=""
    if ! port_free "$port"; then
        if command -v ss >/dev/null 2>&1; then
            holder=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*' | head -n1 | sed 's/users:((//')
        fi
        die "port $port ($what) is already in use${holder:+ by $holder}. Stop that process (another run-dev.sh?) or set $variable to a free port."
    fi
}

for port in "$API_PORT" "$SIM_PORT"; do
    if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        die "'$port' is not a TCP port number (check NODECONDUCTOR_API_PORT and NODECONDUCTOR_CLOUDSIM_PORT)."
    fi
done
if [ "$SETUP_ONLY" = 0 ]; then
    [ "$API_PORT" != "$SIM_PORT" ] || die "the API and the simulated OpenStack cannot share port $API_PORT."
    check_port "$API_PORT" "the API" NODECONDUCTOR_API_PORT
    check_port "$SIM_PORT" "the simulated OpenStack" NODECONDUCTOR_CLOUDSIM_PORT
fi

mkdir -p "$VAR" "$LOG_DIR" "$VAR/celery-queue" "$VAR/celery-processed"
SETUP_LOG="$LOG_DIR/setup.log"
: >"$SETUP_LOG"

run_logged() {
    # Keeps the console short; on failure shows the end of the output, where the reason usually is.
    local what=$1
    shift
    if ! "$@" >>"$SETUP_LOG" 2>&1 </dev/null; then
        tail -n 25 "$SETUP_LOG" >&2
        die "$what failed; the full output is in $SETUP_LOG."
    fi
}

# ---------------------------------------------------------------- virtualenv
venv_usable() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

if ! venv_usable; then
    say "creating the virtualenv in .venv"
    if ! "$PYTHON" -m venv --clear "$VENV" >>"$SETUP_LOG" 2>&1; then
        # Debian ships venv and ensurepip separately (python3-venv); a failed attempt leaves a .venv without pip.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
            say "python3 -m venv is missing; installing python$pyver-venv with apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get install -y -q "python$pyver-venv" >>"$SETUP_LOG" 2>&1 ||
                { apt-get update -q >>"$SETUP_LOG" 2>&1 && apt-get install -y -q "python$pyver-venv" >>"$SETUP_LOG" 2>&1; } ||
                die "could not install python$pyver-venv with apt-get; see $SETUP_LOG."
            run_logged "creating the virtualenv" "$PYTHON" -m venv --clear "$VENV"
        else
            tail -n 5 "$SETUP_LOG" >&2
            die "'$PYTHON -m venv' does not work. Install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv) and run this again."
        fi
    fi
    venv_usable || die "the new virtualenv in .venv has no pip; remove .venv and run this again (see $SETUP_LOG)."
fi
PY="$VENV/bin/python"

# ---------------------------------------------------------------- requirements, skipped when unchanged
STAMP="$VAR/requirements.stamp"
# The venv's own identity (inode of pyvenv.cfg) is part of the stamp, so a recreated .venv installs again.
want_stamp="$(
    {
        cat requirements.txt
        stat -c '%i %Y' "$VENV/pyvenv.cfg"
        "$PY" -V
    } | sha256sum | cut -d' ' -f1
)"
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want_stamp" ]; then
    say "installing requirements.txt into .venv (first run or requirements changed; this takes a minute)"
    run_logged "pip install -r requirements.txt" "$PY" -m pip install -q -r requirements.txt
    echo "$want_stamp" >"$STAMP"
else
    say "requirements unchanged since the last install; skipping pip"
fi

# ---------------------------------------------------------------- database and demo user
say "applying migrations to $VAR/db.sqlite3"
run_logged "manage.py migrate" "$PY" manage.py migrate --noinput

user_output=$("$PY" manage.py createstaffuser --username "$DEV_USER" --email "$DEV_USER@localhost" \
    --if-missing --print-password </dev/null 2>&1) || {
    echo "$user_output" >&2
    die "could not create the staff user '$DEV_USER'."
}
# The generated password exists only in this variable: it is printed once and stored nowhere.
dev_password=$(sed -n 's/^Password: //p' <<<"$user_output")
unset user_output

if [ "$SETUP_ONLY" = 1 ]; then
    if [ -n "$dev_password" ]; then
        say "created staff user '$DEV_USER' with password: $dev_password   (shown only this once)"
    fi
    say "setup done (--setup-only): nothing started."
    exit 0
fi

# ---------------------------------------------------------------- services
declare -a PIDS=() NAMES=() CMDS=() RESTARTS=()
STOPPING=0

start() {
    # Each service runs in its own process group (set -m) so it and its children can be stopped together,
    # and a Ctrl-C on the terminal reaches only this script, which then stops them in order.
    local name=$1
    shift
    printf '\n=== %s: starting %s ===\n' "$(date -Is)" "$*" >>"$LOG_DIR/$name.log"
    set -m
    "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
    local pid=$!
    set +m
    PIDS+=("$pid")
    NAMES+=("$name")
    CMDS+=("$(printf '%q ' "$@")")
}

# The worker and beat come back when they exit, as docker compose's restart policy (unless-stopped) brings them
# back: kombu 5.7's Redis transport can make a worker exit when Redis restarts (CELERY_BROKER_URL=redis://...).
# A service that keeps exiting (a fifth time within a minute) stops everything instead, with its reason.
restart() {
    local i=$1 name=${NAMES[$1]} now=$SECONDS recent=() at
    [[ $name == worker || $name == beat ]] || return 1
    for at in ${RESTARTS[i]:-}; do ((now - at < 60)) && recent+=("$at"); done
    ((${#recent[@]} < 4)) || return 1
    RESTARTS[i]="${recent[*]} $now"
    say "$name exited; starting it again (see $LOG_DIR/$name.log)"
    printf '\n=== %s: starting %s again ===\n' "$(date -Is)" "${CMDS[i]}" >>"$LOG_DIR/$name.log"
    set -m
    eval "exec ${CMDS[i]}" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
    PIDS[i]=$!
    set +m
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

stop_all() {
    [ "$STOPPING" = 0 ] || return 0
    STOPPING=1
    trap '' INT TERM # a second Ctrl-C must not interrupt the clean-up halfway
    [ "${#PIDS[@]}" -gt 0 ] || return 0
    local i pid deadline started=$SECONDS note=""
    if [[ " ${NAMES[*]} " == *" worker "* ]]; then note=" (the worker first finishes the tasks it is running)"; fi
    say "stopping ${NAMES[*]}$note"
    # Newest first: the API stops taking requests before the worker and the simulator behind it go away.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
    done
    deadline=$((SECONDS + STOP_GRACE))
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        # Whatever the leader left behind (pool processes, a hung leader) goes with its group.
        if group_alive "$pid"; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            sleep 1
            if group_alive "$pid"; then
                say "${NAMES[i]} did not stop in time; killing it"
                kill -KILL -- "-$pid" 2>/dev/null || true
            fi
        fi
        wait "$pid" 2>/dev/null || true
    done
    say "all stopped ($((SECONDS - started)) s)."
}

on_signal() {
    echo
    stop_all
    exit "$1"
}
on_exit() {
    local rc=$?
    stop_all
    exit "$rc"
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP
trap on_exit EXIT

tcp_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_for_port() {
    local port=$1 name=$2 i
    for ((i = 0; i < 600; i++)); do
        tcp_open "$port" && return 0
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || break 2
        done
        sleep 0.1
    done
    tail -n 20 "$LOG_DIR/$name.log" >&2
    die "$name did not start listening on port $port; see $LOG_DIR/$name.log."
}

SIM_STATUS="not started: nodeconductor/cloudsim/__main__.py does not exist yet, so cloud operations will fail"
if [ -f nodeconductor/cloudsim/__main__.py ]; then
    say "starting the simulated OpenStack on $HOST:$SIM_PORT"
    start cloudsim "$PY" -m nodeconductor.cloudsim --port "$SIM_PORT" --delays realistic
    wait_for_port "$SIM_PORT" cloudsim
    SIM_STATUS="http://$HOST:$SIM_PORT/v3  (admin / admin)"
else
    say "WARNING: simulated OpenStack $SIM_STATUS"
fi

say "starting the Celery worker and beat"
start worker "$PY" -m celery -A nodeconductor worker -l info -n "dev@%h"
start beat "$PY" -m celery -A nodeconductor beat -l info -s "$VAR/celerybeat-schedule"

say "starting the API on $HOST:$API_PORT"
start api "$PY" manage.py runserver --noreload "$HOST:$API_PORT"
wait_for_port "$API_PORT" api

BASE="http://$HOST:$API_PORT"
cat <<EOF

  NodeConductor is running (settings.development)
    Portal          $BASE/   (open it in a browser and log in as the staff user below)
    API root        $BASE/api/
    OpenAPI schema  $BASE/api/schema/
    Swagger UI      $BASE/api/schema/swagger/
    ReDoc           $BASE/api/schema/redoc/
    Admin           $BASE/admin/
    Token login     POST $BASE/api-auth/password/  {"username": ..., "password": ...}
    OpenStack sim   $SIM_STATUS
    Database        $VAR/db.sqlite3
    Logs            $LOG_DIR/{api,worker,beat,cloudsim}.log   (tail -f $LOG_DIR/*.log)
EOF
if [ -n "$dev_password" ]; then
    cat <<EOF
    Staff user      $DEV_USER / $dev_password
                    The password is shown only this once: note it now. To reset it later:
                    .venv/bin/python manage.py changepassword $DEV_USER
EOF
else
    cat <<EOF
    Staff user      $DEV_USER (its password was shown on the first run; to reset it:
                    .venv/bin/python manage.py changepassword $DEV_USER)
EOF
fi
unset dev_password
printf '\n  Press Ctrl-C to stop everything.\n\n'

# Sleep until a signal arrives or a service dies; the worker and beat come back, any other dead service takes
# the others down with a reason.
while true; do
    wait -n "${PIDS[@]}" 2>/dev/null || true
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
            restart "$i" && continue
            tail -n 20 "$LOG_DIR/${NAMES[i]}.log" >&2
            die "${NAMES[i]} exited unexpectedly; see $LOG_DIR/${NAMES[i]}.log. Stopping the rest."
        fi
    done
done
