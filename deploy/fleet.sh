#!/usr/bin/env bash
# Three Tollgate workers (w1, w2, w3) on this machine, without Docker: a local RabbitMQ, a release
# build, and the workers in the background with the seed policy (policies/approval-workflow.yaml).
#
#   deploy/fleet.sh start [wN...] [-- WORKER-FLAGS]   install what is missing, start the broker,
#                                  build, start the workers (all three, or those named) and wait
#                                  until each is ready
#   deploy/fleet.sh status         each worker: running or not, /readyz, its last progress line
#                                  (exit 0: all running and ready; 1: some are not; 3: none runs)
#   deploy/fleet.sh drain wN       SIGUSR1: wN hands its agents to the others, decides its pending
#                                  escalations and exits 0; follows its log until it has exited
#   deploy/fleet.sh stop [wN...]   SIGTERM (graceful: in-flight calls finished within 10 s) and wait
#   deploy/fleet.sh logs wN        its log (followed on a terminal)
#
# Worker wN: --worker-id wN, --db var/fleet/wN.db, --metrics-port 910N (http://127.0.0.1:910N/
# metrics, /healthz, /readyz), log var/fleet/wN.log (--log-format text), pid var/fleet/wN.pid,
# exit status var/fleet/wN.exit once it has stopped. The broker: TOLLGATE_AMQP_URL if set (the
# worker reads it), else the worker's default amqp://guest:guest@127.0.0.1:5672/. Other policies:
# TOLLGATE_POLICY (':'-separated). Flags after `--` go to every worker started.
# The broker and the packages need root: deploy/install-deps.sh and deploy/broker.sh use sudo
# when not run as root. The workers run as the user who runs this script.
# Environment: TOLLGATE_FLEET_WAIT (seconds to wait for a worker to be ready, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=(w1 w2 w3)
DIR=var/fleet
BIN=.build/release/tollgate
POLICY=policies/approval-workflow.yaml
WAIT_SECONDS=${TOLLGATE_FLEET_WAIT:-60}
STOP_SECONDS=30

say() { echo "fleet: $*"; }
die() { echo "fleet: error: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

port_of() { echo $((9100 + ${1#w})); }
pid_of() { if [ -s "$DIR/$1.pid" ]; then cat "$DIR/$1.pid"; fi; }
# Running: the pid file names a live process that is a tollgate worker (not a reused pid).
alive() {
    local pid
    pid=$(pid_of "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa tollgate "/proc/$pid/cmdline" 2>/dev/null
}

check_name() {
    local w
    for w in "${WORKERS[@]}"; do [ "$1" = "$w" ] && return 0; done
    die "no worker '$1' (the fleet is ${WORKERS[*]})"
}

# The HTTP status of GET http://127.0.0.1:PORT/PATH, or 000 when nothing answers.
http_code() {
    local port=$1 path=$2 line code
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port$path" || true
        return 0
    fi
    # No curl: plain HTTP/1.0 over bash's /dev/tcp.
    # shellcheck disable=SC2016 # expanded by the inner bash
    line=$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3; head -n 1 <&3' _ "$port" "$path" 2>/dev/null) || true
    read -r _ code _ <<<"$line" || true
    echo "${code:-000}"
}

last_progress() {
    [ -f "$DIR/$1.log" ] || return 0
    grep -a 'progress' "$DIR/$1.log" | tail -n 1 || true
}

start_worker() {
    local w=$1 port log
    shift
    port=$(port_of "$w")
    log=$DIR/$w.log
    if alive "$w"; then
        say "$w already runs (pid $(pid_of "$w"))"
        return 0
    fi
    rm -f "$DIR/$w.pid" "$DIR/$w.exit"
    local policy=()
    [ -n "${TOLLGATE_POLICY:-}" ] || policy=(--policy "$POLICY")
    echo "---- $(date -u +%Y-%m-%dT%H:%M:%SZ) deploy/fleet.sh start $w" >>"$log"
    # setsid: the worker outlives this terminal (no SIGHUP, no Ctrl-C of this shell). The small
    # bash around it records the worker's pid and, when it stops, its exit status.
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c '
        log=$1 pidf=$2 exitf=$3; shift 3
        "$@" </dev/null >>"$log" 2>&1 &
        child=$!
        echo "$child" >"$pidf"
        wait "$child"
        echo $? >"$exitf"' fleet "$log" "$DIR/$w.pid" "$DIR/$w.exit" \
        "$BIN" worker "${policy[@]}" --worker-id "$w" --db "$DIR/$w.db" \
        --metrics-port "$port" --log-format text "$@" </dev/null >/dev/null 2>&1 &
    local deadline=$((SECONDS + 5))
    until [ -s "$DIR/$w.pid" ]; do
        [ $SECONDS -lt $deadline ] || die "$w did not start (see $log)"
        sleep 0.1
    done
    say "started $w (pid $(pid_of "$w"), metrics http://127.0.0.1:$port/metrics, log $log)"
}

wait_ready() {
    local w=$1 port deadline
    port=$(port_of "$w")
    deadline=$((SECONDS + WAIT_SECONDS))
    while [ "$(http_code "$port" /readyz)" != 200 ]; do
        if ! alive "$w"; then
            tail -n 20 "$DIR/$w.log" >&2 || true
            die "$w exited (status $(cat "$DIR/$w.exit" 2>/dev/null || echo '?')) before it was ready; its log is above"
        fi
        if [ $SECONDS -ge $deadline ]; then
            tail -n 10 "$DIR/$w.log" >&2 || true
            die "$w is running but not ready after ${WAIT_SECONDS}s (http://127.0.0.1:$port/readyz); see $DIR/$w.log"
        fi
        sleep 0.5
    done
    say "$w ready"
}

cmd_start() {
    local names=() flags=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --) shift; flags=("$@"); break ;;
        w*) check_name "$1"; names+=("$1"); shift ;;
        *) die "start: unknown argument '$1' (worker flags go after --)" ;;
        esac
    done
    [ ${#names[@]} -gt 0 ] || names=("${WORKERS[@]}")
    command -v swift >/dev/null 2>&1 ||
        die "swift is not on PATH: install Swift 6 (https://swift.org/install) and try again"
    deploy/install-deps.sh
    deploy/broker.sh start
    say "building tollgate (release)"
    deploy/build.sh -c release --product tollgate || die "build failed"
    [ -x "$BIN" ] || die "no $BIN after the build"
    mkdir -p "$DIR"
    local w
    for w in "${names[@]}"; do start_worker "$w" "${flags[@]}"; done
    for w in "${names[@]}"; do wait_ready "$w"; done
    say "running: ${names[*]} (deploy/fleet.sh status; stop with deploy/fleet.sh stop)"
}

cmd_status() {
    local w port running=0 ready=0 code pid
    for w in "${WORKERS[@]}"; do
        port=$(port_of "$w")
        if alive "$w"; then
            pid=$(pid_of "$w")
            running=$((running + 1))
            code=$(http_code "$port" /readyz)
            case "$code" in
            200) ready=$((ready + 1)); say "$w: running (pid $pid), ready (:$port/readyz 200)" ;;
            000) say "$w: running (pid $pid), metrics port $port does not answer" ;;
            *) say "$w: running (pid $pid), NOT ready (:$port/readyz $code: connecting, paused or draining)" ;;
            esac
        elif [ -s "$DIR/$w.exit" ]; then
            say "$w: not running (exited with status $(cat "$DIR/$w.exit"))"
        else
            say "$w: not running"
        fi
        local p
        p=$(last_progress "$w")
        [ -z "$p" ] || echo "      $p"
    done
    [ $running -gt 0 ] || { say "no worker runs (deploy/fleet.sh start)"; exit 3; }
    [ $ready -eq ${#WORKERS[@]} ] || exit 1
}

cmd_drain() {
    [ $# -eq 1 ] || die "usage: deploy/fleet.sh drain wN"
    local w=$1 pid start
    check_name "$w"
    alive "$w" || die "$w is not running"
    pid=$(pid_of "$w")
    start=$SECONDS
    say "draining $w (pid $pid): SIGUSR1. It unbinds its queue, hands its agents' budgets to the"
    say "other workers, decides its pending escalations (up to their deadlines, 300 s by default) and exits."
    say "Ctrl-C stops following, not the drain."
    # Every line it logs from the signal on, until it exits.
    local from
    from=$(($(stat -c %s "$DIR/$w.log") + 1))
    kill -USR1 "$pid"
    tail -c "+$from" -F --pid="$pid" "$DIR/$w.log" 2>/dev/null | sed -u "s/^/  $w| /" || true
    local deadline=$((SECONDS + 5)) status=""
    while [ -z "$status" ] && [ $SECONDS -lt $deadline ]; do
        status=$(cat "$DIR/$w.exit" 2>/dev/null || true)
        [ -n "$status" ] || sleep 0.2
    done
    say "$w exited after $((SECONDS - start)) s with status ${status:-unknown}"
    [ "${status:-1}" = 0 ]
}

cmd_stop() {
    local names=("$@") w pid stopping=()
    [ ${#names[@]} -gt 0 ] || names=("${WORKERS[@]}")
    for w in "${names[@]}"; do
        check_name "$w"
        if alive "$w"; then
            pid=$(pid_of "$w")
            kill -TERM "$pid"
            stopping+=("$w")
            say "$w: SIGTERM (pid $pid)"
        else
            say "$w: not running"
        fi
    done
    local deadline=$((SECONDS + STOP_SECONDS)) status=0
    for w in "${stopping[@]}"; do
        while alive "$w" && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        if alive "$w"; then
            say "$w still runs after ${STOP_SECONDS}s: SIGKILL (what it had not acked is redelivered)"
            kill -KILL "$(pid_of "$w")" 2>/dev/null || true
            status=1
        else
            sleep 0.2
            say "$w stopped (status $(cat "$DIR/$w.exit" 2>/dev/null || echo '?'))"
        fi
    done
    return $status
}

cmd_logs() {
    [ $# -eq 1 ] || die "usage: deploy/fleet.sh logs wN"
    check_name "$1"
    local log=$DIR/$1.log
    [ -f "$log" ] || die "no log for $1 yet ($log)"
    if [ -t 1 ]; then exec tail -n 100 -F "$log"; else exec cat "$log"; fi
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
status) cmd_status ;;
drain) shift; cmd_drain "$@" ;;
stop) shift; cmd_stop "$@" ;;
logs) shift; cmd_logs "$@" ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
