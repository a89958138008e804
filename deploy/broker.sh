#!/usr/bin/env bash
# Makes a local RabbitMQ usable for Tollgate on 127.0.0.1:5672 (and a TLS listener on 5671
# for the TLS test), with the rabbitmq_consistent_hash_exchange plugin enabled.
#
#   deploy/broker.sh start    start (or adopt) the broker, enable the plugin, wait until it serves
#   deploy/broker.sh stop     stop the local broker
#   deploy/broker.sh status   say whether it answers, its version, plugin and listeners
#   deploy/broker.sh reset    wipe queues, exchanges, users (back to guest/guest); plugin stays enabled
#   deploy/broker.sh wait     wait (bounded) until the broker serves AMQP
#
# Works as root (CI) or through sudo, with or without systemd, and whether or not the Debian
# package already started its own service. Idempotent: `start` twice is fine.
# Environment: TOLLGATE_BROKER_WAIT (seconds, default 120), TOLLGATE_BROKER_TLS=0 to skip TLS.
# Test users: deploy/broker-users.sh. Keeps RabbitMQ's defaults otherwise (consumer timeout 30 min).
set -euo pipefail

PLUGIN=rabbitmq_consistent_hash_exchange
WAIT_SECONDS=${TOLLGATE_BROKER_WAIT:-120}
TLS=${TOLLGATE_BROKER_TLS:-1}
TLS_DIR=/var/lib/rabbitmq/tollgate-tls
CONF_DIR=/etc/rabbitmq/conf.d
TLS_CONF=$CONF_DIR/50-tollgate-tls.conf
ENV_CONF=/etc/rabbitmq/rabbitmq-env.conf
LOG_DIR=/var/log/rabbitmq

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
say() { echo "broker: $*"; }
die() { echo "broker: error: $*" >&2; exit 1; }

require_installed() {
    command -v rabbitmqctl >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmqctl ] ||
        die "rabbitmq-server is not installed: run deploy/install-deps.sh first"
    export PATH="$PATH:/usr/sbin:/sbin"
}

ctl() { "${SUDO[@]}" timeout 60 rabbitmqctl "$@"; }
plugins() { "${SUDO[@]}" timeout 60 rabbitmq-plugins "$@"; }
answers() { "${SUDO[@]}" timeout 20 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
have_systemd() { [ -d /run/systemd/system ]; }

log_hint() {
    local log
    log=$(ls -t "$LOG_DIR"/rabbit@*.log 2>/dev/null | head -n 1 || true)
    echo "broker: see the broker log: ${log:-$LOG_DIR/} (and $LOG_DIR/startup_err if present)" >&2
    [ -n "$log" ] && "${SUDO[@]}" tail -n 20 "$log" >&2 || true
}

# A self-signed CA and a server certificate for localhost/127.0.0.1, and a conf.d file that opens
# an AMQPS listener on 5671. Tests find the CA at $TLS_DIR/ca.pem. Prints "changed" when it wrote.
setup_tls() {
    [ "$TLS" = "1" ] || return 0
    command -v openssl >/dev/null 2>&1 || { say "openssl missing: no TLS listener (run deploy/install-deps.sh)"; return 0; }
    if [ ! -s "$TLS_DIR/server.pem" ]; then
        "${SUDO[@]}" mkdir -p "$TLS_DIR"
        local tmp
        tmp=$(mktemp -d)
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Tollgate test CA" \
            -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$tmp/server.key" -out "$tmp/server.csr" >/dev/null 2>&1
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tmp/ext.cnf"
        openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
            -days 3650 -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" >/dev/null 2>&1
        "${SUDO[@]}" cp "$tmp/ca.pem" "$tmp/server.pem" "$tmp/server.key" "$TLS_DIR/"
        rm -rf "$tmp"
        "${SUDO[@]}" chown -R rabbitmq:rabbitmq "$TLS_DIR"
        "${SUDO[@]}" chmod 755 "$TLS_DIR"; "${SUDO[@]}" chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem"
        "${SUDO[@]}" chmod 600 "$TLS_DIR/server.key"
        say "made a test CA and server certificate in $TLS_DIR"
    fi
    if [ ! -s "$TLS_CONF" ]; then
        "${SUDO[@]}" mkdir -p "$CONF_DIR"
        printf '%s\n' "# Written by tollgate deploy/broker.sh: an AMQPS listener for the TLS test." \
            "listeners.ssl.default = 5671" \
            "ssl_options.cacertfile = $TLS_DIR/ca.pem" \
            "ssl_options.certfile = $TLS_DIR/server.pem" \
            "ssl_options.keyfile = $TLS_DIR/server.key" \
            "ssl_options.verify = verify_none" \
            "ssl_options.fail_if_no_peer_cert = false" | "${SUDO[@]}" tee "$TLS_CONF" >/dev/null
        say "wrote $TLS_CONF (AMQPS on 5671)"
    fi
}

# Started as root, the server runs through `su rabbitmq`, which gives it an open-files soft limit
# of 1024. RabbitMQ 3.10's file-handle cache allows about 90% of that, every quorum queue holds
# some (test runs leave theirs behind), and at the limit new connections hang in the handshake
# (seen with 309 leftover quorum queues; docs/benchmarks-worker.md). rabbitmq-env.conf is sourced
# by the server's start script: raise the soft limit to the hard one there.
raise_open_files() {
    "${SUDO[@]}" grep -qs "tollgate: open files" "$ENV_CONF" && return 0
    printf '%s\n' "# tollgate: open files: soft limit = hard limit (su gives 1024); written by deploy/broker.sh" \
        'ulimit -S -n "$(ulimit -H -n)" 2>/dev/null || true' | "${SUDO[@]}" tee -a "$ENV_CONF" >/dev/null
    say "raised the server's open-files soft limit to the hard limit ($ENV_CONF)"
}

start_node() {
    if have_systemd; then
        say "starting rabbitmq-server (systemctl)"
        "${SUDO[@]}" systemctl start rabbitmq-server || true
    else
        say "starting rabbitmq-server -detached"
        "${SUDO[@]}" rabbitmq-server -detached >/dev/null 2>&1 || true
    fi
}

stop_node() {
    if ! answers; then say "not running"; return 0; fi
    if have_systemd && systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
        "${SUDO[@]}" systemctl stop rabbitmq-server
    else
        ctl stop >/dev/null
    fi
    local deadline=$((SECONDS + 60))
    while port_open 5672; do
        [ $SECONDS -lt $deadline ] || die "broker still listening on 5672 after 60 s"
        sleep 0.5
    done
    say "stopped"
}

wait_ready() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    until answers && ctl -q await_startup --timeout 30 >/dev/null 2>&1 && port_open 5672; do
        if [ $SECONDS -ge $deadline ]; then
            log_hint
            die "RabbitMQ did not come up on 127.0.0.1:5672 within ${WAIT_SECONDS}s"
        fi
        sleep 1
    done
}

plugin_enabled() { plugins -q list -e 2>/dev/null | grep -q "$PLUGIN"; }

cmd_start() {
    require_installed
    setup_tls
    raise_open_files
    if answers; then
        say "a broker already answers"
        if [ "$TLS" = "1" ] && [ -s "$TLS_CONF" ] && ! port_open 5671; then
            say "its AMQPS listener is not active yet: restarting it once to load $TLS_CONF"
            plugins -q enable --offline "$PLUGIN" >/dev/null
            stop_node
            start_node
        fi
    else
        plugins -q enable --offline "$PLUGIN" >/dev/null
        say "enabled $PLUGIN (offline)"
        start_node
    fi
    wait_ready
    if ! plugin_enabled; then
        plugins -q enable "$PLUGIN" >/dev/null
        say "enabled $PLUGIN"
    fi
    plugin_enabled || { log_hint; die "could not enable $PLUGIN"; }
    say "ready: RabbitMQ $(ctl -q version 2>/dev/null) on amqp://127.0.0.1:5672$(port_open 5671 && echo ' and amqps://localhost:5671'), plugin $PLUGIN enabled"
}

cmd_status() {
    require_installed
    if ! answers; then say "not running (deploy/broker.sh start)"; exit 1; fi
    say "running: RabbitMQ $(ctl -q version 2>/dev/null)"
    if plugin_enabled; then say "plugin $PLUGIN enabled"; else say "plugin $PLUGIN NOT enabled"; fi
    "${SUDO[@]}" timeout 60 rabbitmq-diagnostics -q listeners 2>/dev/null | sed 's/^/broker: /' || true
}

cmd_reset() {
    require_installed
    answers || die "not running: deploy/broker.sh start first"
    ctl -q stop_app >/dev/null
    ctl -q reset >/dev/null
    ctl -q start_app >/dev/null
    wait_ready
    say "reset: all queues, exchanges and users removed (guest/guest again); run deploy/broker-users.sh for the test users"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) require_installed; stop_node ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    wait) require_installed; wait_ready; say "ready on 127.0.0.1:5672" ;;
    *) echo "usage: deploy/broker.sh start|stop|status|reset|wait" >&2; exit 2 ;;
esac
