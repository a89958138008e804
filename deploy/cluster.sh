#!/usr/bin/env bash
# A local THREE-NODE RabbitMQ cluster on this one machine, for fault tests (stop the node a worker
# is connected to, under load, and check that nothing is lost). Nodes tg1@localhost, tg2@localhost,
# tg3@localhost on amqp://127.0.0.1:5701, 5702, 5703, rabbitmq_consistent_hash_exchange enabled,
# no management plugin, no TLS listener, the test users of deploy/broker-users.sh.
#
#   deploy/cluster.sh start          start the three nodes (or adopt those that run), wait until each
#                                    serves, join tg2 and tg3 to tg1 if not yet clustered, create the
#                                    test users, print the AMQP URLs
#   deploy/cluster.sh stop           stop all nodes (membership and data are kept)
#   deploy/cluster.sh status         each node: running / app stopped / down; the cluster members
#                                    (exit 0: all three serve and are clustered; 1: otherwise)
#   deploy/cluster.sh stop-node N    stop node tgN's whole server (graceful rabbitmqctl stop)
#   deploy/cluster.sh kill-node N    SIGKILL node tgN's Erlang VM (a crash, no clean shutdown)
#   deploy/cluster.sh start-node N   start node tgN's server, wait until it serves and has rejoined
#   deploy/cluster.sh stop-app N     rabbitmqctl stop_app on tgN (the VM stays up, AMQP closes)
#   deploy/cluster.sh start-app N    rabbitmqctl start_app on tgN, wait until it serves
#   deploy/cluster.sh reset          stop all nodes and delete the cluster's folder
#   deploy/cluster.sh urls           the AMQP URLs, ','-separated (for TOLLGATE_AMQP_URL)
#
# Coexists with the single broker of deploy/broker.sh (rabbit@<host> on 5672/5671): other node
# names, ports and folders; it never reads /etc/rabbitmq/conf.d, /etc/rabbitmq/enabled_plugins or
# /etc/rabbitmq/rabbitmq-env.conf and never touches /var/lib/rabbitmq/mnesia. The nodes run as the
# rabbitmq user with HOME=/var/lib/rabbitmq, so they share the Erlang cookie of the default node
# and plain `rabbitmqctl -n tg1@localhost ...` (as root) reaches them.
# Node tgN: AMQP port BASE+N on 127.0.0.1, Erlang distribution port 20000+BASE+N on 127.0.0.1,
# folder DIR/tgN (etc/ config, mnesia/ data, log/ logs, tgN.pid). Starting is done with all nodes
# at once, as clustered nodes wait for each other at boot. A second cluster next to this one needs
# its own TOLLGATE_CLUSTER_NAME, TOLLGATE_CLUSTER_BASE_PORT and TOLLGATE_CLUSTER_DIR.
# Environment: TOLLGATE_CLUSTER_DIR (default /var/lib/tollgate-cluster), TOLLGATE_CLUSTER_BASE_PORT
# (default 5700), TOLLGATE_CLUSTER_HOST (host part of the node names, default localhost),
# TOLLGATE_CLUSTER_NAME (node names NAME1..3, default tg), TOLLGATE_CLUSTER_WAIT (seconds to wait
# for a node, default 120), TOLLGATE_TEST_PASSWORD (the test users' password, default secret).
# Root, or sudo when not root. TEST PASSWORDS ONLY: never expose these ports.
set -euo pipefail
cd "$(dirname "$0")/.."

NODES=(1 2 3)
DIR=${TOLLGATE_CLUSTER_DIR:-/var/lib/tollgate-cluster}
BASE_PORT=${TOLLGATE_CLUSTER_BASE_PORT:-5700}
HOST=${TOLLGATE_CLUSTER_HOST:-localhost}
NAME=${TOLLGATE_CLUSTER_NAME:-tg}
WAIT_SECONDS=${TOLLGATE_CLUSTER_WAIT:-120}
STOP_SECONDS=60
PLUGIN=rabbitmq_consistent_hash_exchange
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_HOME=/var/lib/rabbitmq
MARKER=.tollgate-cluster

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { echo "cluster: $*"; }
die() { echo "cluster: error: $*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

require_installed() {
    { [ -x "$RMQ_BIN/rabbitmq-server" ] && id rabbitmq >/dev/null 2>&1; } ||
        die "rabbitmq-server (Debian package) is not installed: run deploy/install-deps.sh first"
    command -v runuser >/dev/null 2>&1 || die "runuser (util-linux) is missing"
    case "$NAME" in '' | *[!a-zA-Z0-9_-]*) die "TOLLGATE_CLUSTER_NAME must be letters, digits, - or _, not '$NAME'" ;; esac
    case "$BASE_PORT" in '' | *[!0-9]*) die "TOLLGATE_CLUSTER_BASE_PORT must be a number, not '$BASE_PORT'" ;; esac
    local n
    for n in "${NODES[@]}"; do
        case $((BASE_PORT + n)) in 5671 | 5672 | 25672) die "port $((BASE_PORT + n)) belongs to the default broker: choose another TOLLGATE_CLUSTER_BASE_PORT" ;; esac
    done
    case "$DIR" in
        /* ) ;; *) die "TOLLGATE_CLUSTER_DIR must be an absolute path, not '$DIR'" ;;
    esac
    case "${DIR%/}" in
        "" | /var/lib/rabbitmq | /var/lib/rabbitmq/* | /etc/rabbitmq | /etc/rabbitmq/* | /var/lib | /var | /tmp)
            die "TOLLGATE_CLUSTER_DIR=$DIR is not a folder of its own" ;;
    esac
}

short_name() { echo "$NAME$1"; }
node_name() { echo "$NAME$1@$HOST"; }
amqp_port() { echo $((BASE_PORT + $1)); }
dist_port() { echo $((20000 + BASE_PORT + $1)); }
node_dir() { echo "$DIR/$NAME$1"; }
url_of() { echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$1")/"; }
all_urls() { local n out=(); for n in "${NODES[@]}"; do out+=("$(url_of "$n")"); done; (IFS=,; echo "${out[*]}"); }

check_number() {
    local n
    for n in "${NODES[@]}"; do [ "${1:-}" = "$n" ] && return 0; done
    die "no node '${1:-}' (give 1, 2 or 3)"
}

# The RabbitMQ tools as the rabbitmq user, with its HOME (the shared Erlang cookie).
as_rabbitmq() { "${SUDO[@]}" runuser -u rabbitmq -- env HOME="$RMQ_HOME" "$@"; }
ctl() { local n=$1; shift; as_rabbitmq timeout 60 "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"; }
diag() { local n=$1; shift; as_rabbitmq timeout 30 "$RMQ_BIN/rabbitmq-diagnostics" -n "$(node_name "$n")" "$@"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_file() { echo "$(node_dir "$1")/$NAME$1.pid"; }
pid_of() { "${SUDO[@]}" cat "$(pid_file "$1")" 2>/dev/null || true; }
# The node's Erlang VM runs: its pid file names a live beam process.
vm_alive() {
    local pid
    pid=$(pid_of "$1")
    [ -n "$pid" ] && grep -qa beam "/proc/$pid/cmdline" 2>/dev/null
}
# The VM answers the distribution (it may still be booting, or have its app stopped).
answers() { diag "$1" -q ping -t 10 >/dev/null 2>&1; }
# The RabbitMQ application runs on it and its AMQP port is open.
serving() { diag "$1" -q check_running >/dev/null 2>&1 && port_open "$(amqp_port "$1")"; }

log_hint() {
    local n=$1 d
    d=$(node_dir "$n")
    echo "cluster: see the log of $(short_name "$n"): $d/log/$(node_name "$n").log (and $d/log/startup.log)" >&2
    "${SUDO[@]}" tail -n 15 "$d/log/$(node_name "$n").log" >&2 2>/dev/null || true
    "${SUDO[@]}" tail -n 5 "$d/log/startup.log" >&2 2>/dev/null || true
}

# The node's files: config, enabled plugins, env file, folders. Rewritten at every start (cheap,
# and a changed script takes effect); the data in mnesia/ is left alone.
write_node_files() {
    local n=$1 d tmp
    d=$(node_dir "$n")
    "${SUDO[@]}" mkdir -p "$d/etc/conf.d" "$d/mnesia" "$d/log"
    tmp=$(mktemp -d)
    printf '%s\n' "# Written by tollgate deploy/cluster.sh for node $(node_name "$n") (local fault-test cluster)." \
        "# The AMQP listener comes from RABBITMQ_NODE_IP_ADDRESS/RABBITMQ_NODE_PORT (127.0.0.1:$(amqp_port "$n"))." \
        "# guest/guest is the default user (loopback only: every listener here is on 127.0.0.1)." \
        "cluster_name = tollgate-local" \
        "log.console = false" \
        "log.file.level = info" >"$tmp/rabbitmq.conf"
    echo "[$PLUGIN]." >"$tmp/enabled_plugins"
    # Sourced by the server's start script instead of /etc/rabbitmq/rabbitmq-env.conf. runuser gives
    # an open-files soft limit of 1024 and every quorum queue holds file handles (deploy/broker.sh).
    # shellcheck disable=SC2016 # expanded by the start script, not here
    printf '%s\n' "# Written by tollgate deploy/cluster.sh: open files soft limit = hard limit." \
        'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true' >"$tmp/rabbitmq-env.conf"
    "${SUDO[@]}" cp "$tmp/rabbitmq.conf" "$tmp/enabled_plugins" "$tmp/rabbitmq-env.conf" "$d/etc/"
    rm -rf "$tmp"
    "${SUDO[@]}" touch "$DIR/$MARKER"
    "${SUDO[@]}" chown -R rabbitmq:rabbitmq "$DIR"
    "${SUDO[@]}" chmod 755 "$DIR" "$d" "$d/etc" "$d/log"
}

# Launch node N detached (returns at once; wait_serving waits).
launch() {
    local n=$1 d node
    d=$(node_dir "$n")
    node=$(node_name "$n")
    if port_open "$(amqp_port "$n")"; then die "port $(amqp_port "$n") is in use by something that is not node $node"; fi
    if port_open "$(dist_port "$n")"; then die "port $(dist_port "$n") is in use by something that is not node $node"; fi
    # Node names are unique per host (epmd): a second cluster needs its own TOLLGATE_CLUSTER_NAME.
    if epmd -names 2>/dev/null | grep -q "^name $(short_name "$n") at port"; then
        die "the node name $node is taken by a node that is not $d's (another cluster? set TOLLGATE_CLUSTER_NAME)"
    fi
    write_node_files "$n"
    "${SUDO[@]}" rm -f "$(pid_file "$n")"
    # shellcheck disable=SC2016 # $0/$1 belong to the inner sh
    as_rabbitmq RABBITMQ_NODENAME="$node" RABBITMQ_USE_LONGNAME=false \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$(amqp_port "$n")" \
        RABBITMQ_DIST_PORT="$(dist_port "$n")" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CONF_ENV_FILE="$d/etc/rabbitmq-env.conf" \
        RABBITMQ_CONFIG_FILE="$d/etc/rabbitmq.conf" RABBITMQ_CONFIG_FILES="$d/etc/conf.d" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$d/etc/advanced.config" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/etc/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_MNESIA_DIR="$d/mnesia/$node" \
        RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$(pid_file "$n")" \
        sh -c 'cd "$2" && exec "$0" -detached >>"$1" 2>&1' \
        "$RMQ_BIN/rabbitmq-server" "$d/log/startup.log" "$RMQ_HOME" ||
        { log_hint "$n"; die "could not start $node"; }
}

# Wait (bounded) until node N's app runs and its AMQP port is open.
wait_serving() {
    local n=$1 deadline=$((SECONDS + WAIT_SECONDS))
    until serving "$n"; do
        if [ $SECONDS -ge $deadline ]; then
            log_hint "$n"
            die "$(node_name "$n") did not serve on 127.0.0.1:$(amqp_port "$n") within ${WAIT_SECONDS}s" \
                "(a clustered node waits at boot for the node that stopped last: deploy/cluster.sh start starts all three)"
        fi
        if ! vm_alive "$n" && [ $SECONDS -gt $((deadline - WAIT_SECONDS + 5)) ]; then
            log_hint "$n"
            die "$(node_name "$n") exited while starting"
        fi
        sleep 1
    done
}

# The cluster as node N sees it: "DISK-NODES|RUNNING-NODES" (space-separated names), empty if it
# does not answer.
members_of() {
    local json
    json=$(ctl "$1" -q cluster_status --formatter json 2>/dev/null) || return 0
    python3 -c 'import json, sys
s = json.loads(sys.argv[1])
print(" ".join(sorted(s.get("disk_nodes", []) + s.get("ram_nodes", []))) + "|" + " ".join(sorted(s.get("running_nodes", []))))' "$json" 2>/dev/null || true
}
in_list() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Join node N (N > 1) to tg1 unless tg1 is already a member of its cluster.
join_to_first() {
    local n=$1 first members
    first=$(node_name 1)
    members=$(members_of "$n")
    if in_list "$first" "${members%%|*}"; then return 0; fi
    say "joining $(node_name "$n") to $first"
    # The CLI prints harmless feature-flag warnings while a node joins: shown only on failure.
    local step out
    for step in stop_app reset "join_cluster $first" start_app; do
        # shellcheck disable=SC2086 # $step is a command and its argument
        out=$(ctl "$n" -q $step 2>&1) ||
            { echo "$out" >&2; log_hint "$n"; die "$(node_name "$n"): rabbitmqctl $step failed"; }
    done
    wait_serving "$n"
}

# Wait (bounded) until node N lists itself and every other serving node as running.
wait_rejoined() {
    local n=$1 m deadline=$((SECONDS + WAIT_SECONDS)) running ok
    while :; do
        running=$(members_of "$n"); running=${running#*|}
        ok=1
        in_list "$(node_name "$n")" "$running" || ok=0
        for m in "${NODES[@]}"; do
            [ "$m" = "$n" ] && continue
            if serving "$m" && ! in_list "$(node_name "$m")" "$running"; then ok=0; fi
        done
        [ $ok = 1 ] && return 0
        [ $SECONDS -lt $deadline ] || { log_hint "$n"; die "$(node_name "$n") did not rejoin within ${WAIT_SECONDS}s (it sees: ${running:-nothing})"; }
        sleep 1
    done
}

# Stop node N's server and wait until its VM has exited; kill it if it does not stop.
stop_server() {
    local n=$1 pid deadline
    if ! vm_alive "$n"; then say "$(node_name "$n") is not running"; return 0; fi
    pid=$(pid_of "$n")
    ctl "$n" -q stop >/dev/null 2>&1 || true
    deadline=$((SECONDS + STOP_SECONDS))
    while vm_alive "$n"; do
        if [ $SECONDS -ge $deadline ]; then
            say "$(node_name "$n") did not stop within ${STOP_SECONDS}s: killing pid $pid"
            "${SUDO[@]}" kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    say "stopped $(node_name "$n")"
}

start_app() {
    local n=$1
    say "start_app on $(node_name "$n")"
    ctl "$n" -q start_app >/dev/null || { log_hint "$n"; die "start_app failed on $(node_name "$n")"; }
    wait_serving "$n"
}

cmd_start() {
    local n t0=$SECONDS launched=()
    for n in "${NODES[@]}"; do
        if vm_alive "$n"; then
            say "$(node_name "$n") already runs"
        else
            launch "$n"
            launched+=("$n")
        fi
    done
    [ ${#launched[@]} -eq 0 ] || say "launched$(printf ' tg%s' "${launched[@]}"), waiting until each serves"
    for n in "${NODES[@]}"; do
        serving "$n" && continue
        # A node adopted with its app stopped (stop-app N) gets it started again.
        if ! in_list "$n" "${launched[*]:-}" && answers "$n"; then start_app "$n"; else wait_serving "$n"; fi
    done
    for n in "${NODES[@]}"; do [ "$n" = 1 ] || join_to_first "$n"; done
    TOLLGATE_BROKER_NODE=$(node_name 1) deploy/broker-users.sh | sed 's/^/cluster: /'
    say "ready in $((SECONDS - t0)) s: RabbitMQ $(ctl 1 -q version 2>/dev/null), nodes $(members_of 1 | cut -d'|' -f2)"
    for n in "${NODES[@]}"; do say "  $(node_name "$n")  $(url_of "$n")"; done
    say "TOLLGATE_AMQP_URL=$(all_urls)"
}

cmd_stop() {
    local n
    # Last to stop is tg1: it is the first to be able to boot alone again.
    for n in 3 2 1; do stop_server "$n"; done
}

cmd_status() {
    local n state members="" all_ok=1 m
    for n in "${NODES[@]}"; do
        if serving "$n"; then
            state="running, $(url_of "$n")"
            [ -n "$members" ] || members=$(members_of "$n")
        elif vm_alive "$n" && answers "$n"; then
            state="app stopped (VM up, AMQP closed)"; all_ok=0
        elif vm_alive "$n"; then
            state="VM up, not answering (booting?)"; all_ok=0
        else
            state="down"; all_ok=0
        fi
        say "$(node_name "$n"): $state"
    done
    if [ -z "$members" ]; then say "no node serves (deploy/cluster.sh start)"; exit 1; fi
    say "members: ${members%%|*}"
    say "running: ${members#*|}"
    for n in "${NODES[@]}"; do
        m=$(node_name "$n")
        in_list "$m" "${members%%|*}" || { say "$m is not a member (deploy/cluster.sh start joins it)"; all_ok=0; }
    done
    [ $all_ok = 1 ] || exit 1
}

cmd_start_node() {
    local n=$1 t0=$SECONDS
    if vm_alive "$n"; then
        say "$(node_name "$n") already runs"
        if ! serving "$n" && answers "$n"; then start_app "$n"; fi
    else
        launch "$n"
    fi
    wait_serving "$n"
    wait_rejoined "$n"
    say "$(node_name "$n") serves on $(url_of "$n") and runs in the cluster ($((SECONDS - t0)) s)"
}

cmd_stop_node() {
    local t0=$SECONDS
    stop_server "$1"
    say "took $((SECONDS - t0)) s"
}

cmd_kill_node() {
    local n=$1 pid
    if ! vm_alive "$n"; then say "$(node_name "$n") is not running"; return 0; fi
    pid=$(pid_of "$n")
    "${SUDO[@]}" kill -KILL "$pid"
    while vm_alive "$n"; do sleep 0.2; done
    say "killed $(node_name "$n") (pid $pid)"
}

cmd_reset() {
    cmd_stop
    [ -d "$DIR" ] || { say "nothing to delete ($DIR does not exist)"; return 0; }
    "${SUDO[@]}" test -e "$DIR/$MARKER" || die "$DIR has no $MARKER file: not deleting a folder this script did not make"
    "${SUDO[@]}" rm -rf "$DIR"
    say "deleted $DIR"
}

case "${1:-}" in
    start | stop | status | reset | urls) require_installed ;;
    stop-node | start-node | kill-node | stop-app | start-app) require_installed; check_number "${2:-}" ;;
esac
case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    stop-node) cmd_stop_node "$2" ;;
    kill-node) cmd_kill_node "$2" ;;
    start-node) cmd_start_node "$2" ;;
    stop-app) ctl "$2" -q stop_app >/dev/null; say "stopped the app of $(node_name "$2") (start-app $2 to restart it)" ;;
    start-app) start_app "$2"; say "$(node_name "$2") serves on $(url_of "$2")" ;;
    reset) cmd_reset ;;
    urls) all_urls ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
esac
