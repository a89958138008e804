"""Static checks of Tollgate's deployment files, run by deploy/check.sh (needs PyYAML).

Prints one line per check, "ok: ..." or "FAIL: ...", and exits 1 when something failed. The
checks are about what the files say: they parse, and they say what docs/deploy.md promises
(worker ids, volumes, probes, drain, permissions of each broker user, exchanges). The tools that
validate against real schemas (hadolint, docker compose config, kubernetes-validate,
systemd-analyze, RabbitMQ itself) are run by deploy/check.sh.
"""

import base64
import hashlib
import json
import os
import re
import sys
import urllib.parse

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
failures = 0


def check(ok, what, detail=""):
    global failures
    if ok:
        print(f"ok: {what}")
    else:
        failures += 1
        print(f"FAIL: {what}" + (f": {detail}" if detail else ""))
    return ok


def rel(path):
    return os.path.relpath(path, ROOT)


def load_yaml_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def amqp_users(urls):
    """The broker users of a ','-separated list of AMQP URLs."""
    return sorted({urllib.parse.unquote(urllib.parse.urlsplit(u.strip()).username or "")
                   for u in str(urls or "").split(",") if u.strip()})


def listen_port(argv):
    """The port of `--listen HOST:PORT` in an argument list, else None."""
    argv = [str(a) for a in argv or []]
    for i, a in enumerate(argv):
        value = argv[i + 1] if a == "--listen" and i + 1 < len(argv) else a[9:] if a.startswith("--listen=") else None
        if value is not None:
            m = re.fullmatch(r"(.+):(\d+)", value)
            return (m.group(1), int(m.group(2))) if m else None
    return None


# The gateway's broker user (deploy/rabbitmq/definitions.json), which the workers must trust
# (--trusted-gateway) for the votes of proxy users and bots, and the flags of `tollgate gateway`
# (.build/debug/tollgate gateway --help): those the deploy files mention must exist.
GATEWAY_USER = "tollgate-gateway"
GATEWAY_FLAGS = {
    "--amqp-url", "--prefix", "--tls-ca-file", "--tls-cert-file", "--tls-key-file", "--tls-no-verify",
    "--log-level", "--log-format", "--listen", "--tls-cert", "--tls-key", "--auth", "--trusted-proxy",
    "--user-header", "--bot-hmac", "--bot-token", "--session-idle-minutes", "--votes-per-minute",
}
GATEWAY_ENV = {
    "TOLLGATE_AMQP_URL", "TOLLGATE_PREFIX", "TOLLGATE_TLS_CA_FILE", "TOLLGATE_TLS_CERT_FILE", "TOLLGATE_TLS_KEY_FILE",
    "TOLLGATE_LOG_LEVEL", "TOLLGATE_LOG_FORMAT", "TOLLGATE_GATEWAY_LISTEN",
}


def unknown_gateway_flags(text):
    """Flags named in text (lines about systemctl aside) that `tollgate gateway` does not have."""
    text = "\n".join(line for line in text.splitlines() if "systemctl" not in line)
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text)) - GATEWAY_FLAGS)


def trusted(value):
    return GATEWAY_USER in [v.strip() for v in str(value or "").split(",")]


# ---------------------------------------------------------------- YAML and JSON parse
yaml_files = sorted(
    os.path.join(d, f)
    for d, _, fs in os.walk(DEPLOY)
    for f in fs
    if f.endswith((".yaml", ".yml"))
)
docs = {}
for path in yaml_files:
    try:
        docs[path] = load_yaml_all(path)
        check(True, f"{rel(path)} parses as YAML ({len(docs[path])} document(s))")
    except yaml.YAMLError as e:
        check(False, f"{rel(path)} parses as YAML", str(e).replace("\n", " "))

DEFS = os.path.join(DEPLOY, "rabbitmq", "definitions.json")
try:
    with open(DEFS) as f:
        defs = json.load(f)
    check(True, f"{rel(DEFS)} parses as JSON")
except (OSError, ValueError) as e:
    check(False, f"{rel(DEFS)} parses as JSON", str(e))
    defs = {}

# ---------------------------------------------------------------- RabbitMQ definitions
VHOST = "tollgate"
TRIAL_PASSWORD = "secret"
USERS = [
    "tollgate-worker", "finance-agent", "support-agent", "manager@corp.com",
    "compliance@corp.com", "cfo@corp.com", "tollgate-gateway", "tollgate-observer", "tollgate-webhook",
]
EXCHANGES = {
    "tollgate.toolcalls": "x-consistent-hash", "tollgate.approvals": "direct",
    "tollgate.escalations": "topic", "tollgate.decisions": "topic",
    "tollgate.dead": "fanout", "tollgate.control": "fanout",
}

if defs:
    check([v.get("name") for v in defs.get("vhosts", [])] == [VHOST], f"definitions: exactly the vhost '{VHOST}'")
    users = {u.get("name"): u for u in defs.get("users", [])}
    check(sorted(users) == sorted(USERS), "definitions: the users " + ", ".join(USERS), f"found {sorted(users)}")
    trial, tagged, malformed = [], [], []
    for name, u in users.items():
        tags = u.get("tags", [])
        tags = tags.split(",") if isinstance(tags, str) else tags
        if "impersonator" in tags or "administrator" in tags:
            tagged.append(f"{name} {tags}")
        good = u.get("hashing_algorithm") == "rabbit_password_hashing_sha256"
        try:
            raw = base64.b64decode(u.get("password_hash", ""), validate=True)
            good = good and len(raw) == 36
        except ValueError:
            good = False
        if not good:
            malformed.append(name)
        elif hashlib.sha256(raw[:4] + TRIAL_PASSWORD.encode()).digest() == raw[4:]:
            trial.append(name)
    check(not tagged, "definitions: no user has the impersonator or administrator tag", "; ".join(tagged))
    check(not malformed, "definitions: every password hash is rabbit_password_hashing_sha256, 4-byte salt + 32 bytes",
          ", ".join(malformed))
    if trial:
        print(f"note: {len(trial)} user(s) have the trial password '{TRIAL_PASSWORD}' (for trying only): {', '.join(trial)}")

    perms, problems = {}, []
    for p in defs.get("permissions", []):
        if p.get("vhost") != VHOST:
            problems.append(f"{p.get('user')} on vhost {p.get('vhost')}")
        if p.get("user") in perms:
            problems.append(f"{p.get('user')} twice")
        try:
            perms[p["user"]] = {k: re.compile(p[k]) for k in ("configure", "write", "read")}
        except (KeyError, re.error) as e:
            problems.append(f"{p.get('user')}: {e}")
    check(not problems and sorted(perms) == sorted(USERS),
          f"definitions: one permission entry per user, on vhost '{VHOST}', regexes compile", "; ".join(problems))

    exchanges = {e.get("name"): e for e in defs.get("exchanges", [])}
    check(sorted(exchanges) == sorted(EXCHANGES), "definitions: the six tollgate.* exchanges")
    for name, kind in EXCHANGES.items():
        e = exchanges.get(name, {})
        # Must match the worker's own declaration (TollgateWorker/Loop/WorkerLoop+Connection.swift):
        # durable, not auto-delete, not internal, no arguments; else its declare fails with 406.
        check(e.get("vhost") == VHOST and e.get("type") == kind and e.get("durable") is True
              and e.get("auto_delete") is False and e.get("internal") is False and e.get("arguments") == {},
              f"definitions: exchange {name} is {kind}, durable, not auto-delete, no arguments", json.dumps(e))
    check(not defs.get("queues") and not defs.get("bindings"),
          "definitions: no queues or bindings (the workers declare theirs, with their arguments)")

    # What each user may do, as RabbitMQ checks it: publish = write on the exchange (the default
    # exchange is "amq.default"); consume = read on the queue; declare = configure on the queue;
    # bind = write on the queue + read on the exchange; a queue with a dead-letter exchange also
    # needs read on the queue and write on that exchange.
    def may(user, op, name):
        return bool(perms.get(user, {}).get(op) and perms[user][op].fullmatch(name))

    def may_bind(user, queue, exchange):
        return may(user, "write", queue) and may(user, "read", exchange)

    W = "tollgate-worker"
    gen = "amq.gen-AbC123"
    intent = [
        (W, "configure", "tollgate.toolcalls", True), (W, "configure", "tollgate.control", True),
        (W, "configure", "tollgate.toolcalls.w1", True), (W, "configure", "tollgate.approvals.w1", True),
        (W, "configure", "tollgate.owner.w1", True), (W, "configure", "tollgate.lock.w1", True),
        (W, "configure", "tollgate.dead", True), (W, "configure", gen, True),
        (W, "read", "tollgate.toolcalls.w1", True), (W, "read", "tollgate.approvals.w1", True),
        (W, "read", "tollgate.owner.w1", True), (W, "read", gen, True),
        (W, "write", "tollgate.dead", True), (W, "write", "tollgate.escalations", True),
        (W, "write", "tollgate.decisions", True), (W, "write", "tollgate.toolcalls", True),
        (W, "write", "amq.default", True),
        # Rebalance requests (a worker that bound or unbound its shard asks the others to
        # re-home their budgets) go to tollgate.control as the worker's user.
        (W, "write", "tollgate.control", True),
        (W, "write", "tollgate.approvals", False),
    ]
    for a in ("finance-agent", "support-agent"):
        intent += [
            (a, "write", "tollgate.toolcalls", True), (a, "configure", gen, True), (a, "read", gen, True),
            (a, "configure", f"replies.{a}.inbox", True), (a, "read", f"replies.{a}.inbox", True),
            (a, "configure", "tollgate.cli.0c1d", True),
            (a, "write", "tollgate.approvals", False), (a, "write", "tollgate.control", False),
            (a, "write", "amq.default", False), (a, "read", "tollgate.decisions", False),
            (a, "read", "tollgate.toolcalls.w1", False),
        ]
    intent += [("finance-agent", "configure", "replies.support-agent.inbox", False)]
    for u in ("manager@corp.com", "compliance@corp.com", "cfo@corp.com", "tollgate-gateway"):
        intent += [
            (u, "write", "tollgate.approvals", True), (u, "write", "tollgate.control", True),
            (u, "configure", gen, True), (u, "read", gen, True), (u, "configure", "tollgate.cli.0c1d", True),
            (u, "write", "tollgate.toolcalls", False), (u, "write", "amq.default", False),
            (u, "read", "tollgate.decisions", False), (u, "read", "tollgate.approvals", False),
        ]
    O = "tollgate-observer"
    intent += [
        (O, "configure", gen, True), (O, "read", gen, True), (O, "configure", "watch.tollgate-observer.audit", True),
        (O, "write", "tollgate.toolcalls", False), (O, "write", "tollgate.approvals", False),
        (O, "write", "tollgate.control", False), (O, "write", "tollgate.decisions", False),
        (O, "write", "amq.default", False),
    ]
    H = "tollgate-webhook"
    intent += [
        (H, "configure", "tollgate.webhook.slack", True), (H, "read", "tollgate.webhook.slack", True),
        (H, "write", "tollgate.dead", True),
        (H, "write", "tollgate.toolcalls", False), (H, "write", "tollgate.approvals", False),
        (H, "write", "tollgate.control", False), (H, "write", "tollgate.escalations", False),
        (H, "write", "amq.default", False), (H, "read", "tollgate.decisions", False), (H, "configure", gen, False),
    ]
    wrong = [f"{u} {op} {n}: expected {'allowed' if want else 'refused'}" for u, op, n, want in intent
             if may(u, op, n) != want]
    binds = [
        (W, "tollgate.toolcalls.w1", "tollgate.toolcalls", True), (W, "tollgate.approvals.w1", "tollgate.approvals", True),
        (W, "tollgate.dead", "tollgate.dead", True), (W, gen, "tollgate.control", True),
        ("manager@corp.com", gen, "tollgate.escalations", True), ("tollgate-gateway", gen, "tollgate.escalations", True),
        ("tollgate-gateway", "watch.tollgate-gateway.inbox", "tollgate.escalations", True),
        (O, gen, "tollgate.decisions", True), (O, gen, "tollgate.escalations", True),
        (O, "watch.tollgate-observer.audit", "tollgate.decisions", True),
        ("finance-agent", gen, "tollgate.decisions", False), ("manager@corp.com", gen, "tollgate.decisions", False),
        ("manager@corp.com", gen, "tollgate.approvals", False), (O, gen, "tollgate.toolcalls", False),
        (H, "tollgate.webhook.slack", "tollgate.escalations", True),
        (H, "tollgate.webhook.slack", "tollgate.decisions", False),
    ]
    wrong += [f"{u} bind {q} to {e}: expected {'allowed' if want else 'refused'}" for u, q, e, want in binds
              if may_bind(u, q, e) != want]
    # The worker's shard queues dead-letter to tollgate.dead: read on them, write on the exchange.
    for q in ("tollgate.toolcalls.w1", "tollgate.approvals.w1"):
        if not (may(W, "read", q) and may(W, "write", "tollgate.dead")):
            wrong.append(f"{W} declare {q} with x-dead-letter-exchange tollgate.dead")
    # So do the webhook bridge's queues.
    if not (may(H, "read", "tollgate.webhook.slack") and may(H, "write", "tollgate.dead")):
        wrong.append(f"{H} declare tollgate.webhook.slack with x-dead-letter-exchange tollgate.dead")
    check(not wrong, f"definitions: the permissions allow and refuse what docs/deploy.md says ({len(intent) + len(binds) + 3} cases)",
          "; ".join(wrong))

# ---------------------------------------------------------------- systemd
ENV_EXAMPLE = os.path.join(DEPLOY, "systemd", "tollgate.env.example")
bad = []
with open(ENV_EXAMPLE) as f:
    for n, line in enumerate(f, 1):
        s = line.strip()
        if s and not s.startswith("#") and not re.fullmatch(r"TOLLGATE_[A-Z_]+=\S*", s):
            bad.append(f"line {n}: {s}")
check(not bad, f"{rel(ENV_EXAMPLE)}: only comments and TOLLGATE_*=VALUE lines", "; ".join(bad))

UNIT = os.path.join(DEPLOY, "systemd", "tollgate@.service")
with open(UNIT) as f:
    unit = f.read()
settings = {}
for line in unit.splitlines():
    m = re.match(r"^([A-Za-z]+)=(.*)$", line)
    if m:
        settings.setdefault(m.group(1), []).append(m.group(2))
want = {
    "StateDirectory": "tollgate/%i", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
    "PrivateTmp": "yes", "ProtectHome": "yes", "Restart": "on-failure",
    "ExecReload": "/bin/kill -HUP $MAINPID",
}
for k, v in want.items():
    check(v in settings.get(k, []), f"tollgate@.service: {k}={v}", f"found {settings.get(k)}")
check(any("@system-service" in v for v in settings.get("SystemCallFilter", [])), "tollgate@.service: SystemCallFilter=@system-service")
check(settings.get("EnvironmentFile") == ["-/etc/tollgate/common.env", "-/etc/tollgate/%i.env"],
      "tollgate@.service: optional EnvironmentFile common.env then %i.env")
exec_start = " ".join(settings.get("ExecStart", []))
check("--worker-id %i" in exec_start and "--db /var/lib/tollgate/%i/tollgate.db" in exec_start,
      "tollgate@.service: worker id = instance, db in /var/lib/tollgate/%i/")
stop = int(settings.get("TimeoutStopSec", ["0"])[0])
check(15 <= stop <= 120, f"tollgate@.service: TimeoutStopSec={stop} fits a graceful stop (10 s) with margin")
check("systemctl kill -s USR1" in unit, "tollgate@.service: documents the drain (systemctl kill -s USR1)")
with open(ENV_EXAMPLE) as f:
    worker_env = dict(re.findall(r"^(TOLLGATE_[A-Z_]+)=(\S*)$", f.read(), re.M))
check(trusted(worker_env.get("TOLLGATE_TRUSTED_GATEWAY")) and amqp_users(worker_env.get("TOLLGATE_AMQP_URL")) == ["tollgate-worker"],
      f"tollgate.env.example: the workers log in as tollgate-worker and trust the gateway (TOLLGATE_TRUSTED_GATEWAY={GATEWAY_USER})",
      str(worker_env.get("TOLLGATE_TRUSTED_GATEWAY")))

# The gateway's unit and environment file.
GW_ENV_EXAMPLE = os.path.join(DEPLOY, "systemd", "tollgate-gateway.env.example")
bad, gw_env = [], {}
with open(GW_ENV_EXAMPLE) as f:
    gw_env_text = f.read()
for n, line in enumerate(gw_env_text.splitlines(), 1):
    s_ = line.strip()
    m = re.fullmatch(r"#?(TOLLGATE_[A-Z_]+)=(\S*)", s_)
    if m and m.group(1) not in GATEWAY_ENV:
        bad.append(f"line {n}: {m.group(1)} is not read by tollgate gateway")
    elif m and not s_.startswith("#"):
        gw_env[m.group(1)] = m.group(2)
    elif s_.startswith("GATEWAY_FLAGS="):
        gw_env["GATEWAY_FLAGS"] = s_.split("=", 1)[1]
    elif s_ and not s_.startswith("#"):
        bad.append(f"line {n}: {s_}")
check(not bad, f"{rel(GW_ENV_EXAMPLE)}: only comments, GATEWAY_FLAGS= and TOLLGATE_*=VALUE lines of variables the gateway reads",
      "; ".join(bad))
check(amqp_users(gw_env.get("TOLLGATE_AMQP_URL")) == [GATEWAY_USER],
      f"tollgate-gateway.env.example: the gateway logs in as {GATEWAY_USER}", str(amqp_users(gw_env.get("TOLLGATE_AMQP_URL"))))
check(re.fullmatch(r"127\.0\.0\.1:\d+", gw_env.get("TOLLGATE_GATEWAY_LISTEN", "")) is not None,
      "tollgate-gateway.env.example: listens on 127.0.0.1 (plain HTTP, behind a TLS proxy)", str(gw_env.get("TOLLGATE_GATEWAY_LISTEN")))
check(not unknown_gateway_flags(gw_env_text), "tollgate-gateway.env.example: every flag it names is a flag of tollgate gateway",
      str(unknown_gateway_flags(gw_env_text)))

GW_UNIT = os.path.join(DEPLOY, "systemd", "tollgate-gateway.service")
with open(GW_UNIT) as f:
    gw_unit = f.read()
gw = {}
for line in gw_unit.splitlines():
    m = re.match(r"^([A-Za-z]+)=(.*)$", line)
    if m:
        gw.setdefault(m.group(1), []).append(m.group(2))
for k, v in {"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
             "ProtectHome": "yes", "Restart": "on-failure", "KillSignal": "SIGTERM"}.items():
    check(v in gw.get(k, []), f"tollgate-gateway.service: {k}={v}", f"found {gw.get(k)}")
check(any("@system-service" in v for v in gw.get("SystemCallFilter", [])), "tollgate-gateway.service: SystemCallFilter=@system-service")
check(gw.get("EnvironmentFile") == ["-/etc/tollgate/gateway.env"],
      "tollgate-gateway.service: optional EnvironmentFile /etc/tollgate/gateway.env only (not the workers' common.env)",
      str(gw.get("EnvironmentFile")))
check(gw.get("ExecStart") == ["/usr/local/bin/tollgate gateway $GATEWAY_FLAGS"] and "GATEWAY_FLAGS=" in gw.get("Environment", []),
      "tollgate-gateway.service: ExecStart tollgate gateway $GATEWAY_FLAGS (empty by default)", str(gw.get("ExecStart")))
check("StateDirectory" not in gw and "User" not in gw, "tollgate-gateway.service: no state directory, no fixed user (it keeps no state)")
listen = [v.split("=", 1)[1] for v in gw.get("Environment", []) if v.startswith("TOLLGATE_GATEWAY_LISTEN=")]
check(listen and listen[0].startswith("127.0.0.1:"), "tollgate-gateway.service: listens on 127.0.0.1 by default", str(listen))
stop = int(gw.get("TimeoutStopSec", ["0"])[0])
check(10 <= stop <= 120, f"tollgate-gateway.service: TimeoutStopSec={stop} fits a graceful stop")
check(not unknown_gateway_flags(gw_unit), "tollgate-gateway.service: every flag it names is a flag of tollgate gateway",
      str(unknown_gateway_flags(gw_unit)))

# ---------------------------------------------------------------- Dockerfile (own checks)
DOCKERFILE = os.path.join(DEPLOY, "docker", "Dockerfile")
with open(DOCKERFILE) as f:
    dockerfile = f.read()
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile, re.M)
arg_swift = re.search(r"^ARG SWIFT_IMAGE=(\S+)", dockerfile, re.M)
check(arg_swift and re.fullmatch(r"swift:6\.\d+(\.\d+)?-bookworm", arg_swift.group(1)) and stages[0][0] == "${SWIFT_IMAGE}",
      "Dockerfile: builder FROM an official swift:6.x-bookworm image", str(stages))
check(len(stages) == 2 and stages[1][0] == "debian:12-slim", "Dockerfile: runtime stage FROM debian:12-slim")
runtime = dockerfile.split("FROM debian:12-slim", 1)[-1]
pkgs = re.findall(r"apt-get install -y --no-install-recommends ([^\\\n&]+)", runtime)
check(pkgs and sorted(pkgs[0].split()) == ["ca-certificates", "librabbitmq4", "libsqlite3-0"],
      "Dockerfile: runtime installs librabbitmq4 libsqlite3-0 ca-certificates only", str(pkgs))
check("swift build -c release --product tollgate --static-swift-stdlib" in dockerfile, "Dockerfile: static Swift stdlib release build")
check(all(p in dockerfile for p in ("librabbitmq-dev", "libsqlite3-dev", "pkg-config")), "Dockerfile: builder installs the -dev packages")
user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
check(user and user[-1].split(":")[0] not in ("root", "0"), "Dockerfile: runs as a non-root user", str(user))
check(re.search(r"^VOLUME\s+\[\"/var/lib/tollgate\"\]", runtime, re.M) is not None, "Dockerfile: VOLUME /var/lib/tollgate")
check(re.search(r"^EXPOSE\s+9100\b", runtime, re.M) is not None, "Dockerfile: EXPOSE 9100")
check('ENTRYPOINT ["tollgate", "worker"]' in runtime, 'Dockerfile: ENTRYPOINT ["tollgate", "worker"]')
hc = re.search(r"^HEALTHCHECK[^\n]*\\\n\s+CMD (\[.*\])$", runtime, re.M)
check(hc is not None and "/healthz" in hc.group(1), "Dockerfile: HEALTHCHECK on /healthz")
if hc:
    with open(os.environ.get("HEALTHCHECK_OUT", os.devnull), "w") as out:
        out.write("\n".join(json.loads(hc.group(1))))  # for deploy/check.sh to run it
with open(os.path.join(ROOT, ".dockerignore")) as f:
    ignored = {line.strip().rstrip("/") for line in f if line.strip() and not line.startswith("#")}
check({".build", "var", ".git"} <= ignored, ".dockerignore: excludes .build, var, .git", str(sorted(ignored)))

# ---------------------------------------------------------------- compose
COMPOSE = os.path.join(DEPLOY, "docker", "compose.yaml")
compose = (docs.get(COMPOSE) or [{}])[0]
services = compose.get("services", {})
check("rabbitmq" in services and re.fullmatch(r"rabbitmq:3\.(1[0-3])-management", services["rabbitmq"].get("image", "")),
      "compose: a rabbitmq:3.x-management broker")
mounts = services.get("rabbitmq", {}).get("volumes", [])
for name, target in (("rabbitmq.conf", "/etc/rabbitmq/rabbitmq.conf"), ("enabled_plugins", "/etc/rabbitmq/enabled_plugins"),
                     ("definitions.json", "/etc/rabbitmq/definitions.json")):
    m = [v for v in mounts if v.startswith(f"../rabbitmq/{name}:{target}")]
    check(m and os.path.isfile(os.path.join(DEPLOY, "rabbitmq", name)), f"compose: the broker mounts deploy/rabbitmq/{name} at {target}")
with open(os.path.join(DEPLOY, "rabbitmq", "enabled_plugins")) as f:
    check("rabbitmq_consistent_hash_exchange" in f.read(), "enabled_plugins: rabbitmq_consistent_hash_exchange")
with open(os.path.join(DEPLOY, "rabbitmq", "rabbitmq.conf")) as f:
    conf = f.read()
check(re.search(r"^definitions\.local\.path\s*=\s*/etc/rabbitmq/definitions\.json$", conf, re.M) is not None,
      "rabbitmq.conf: definitions imported at boot from /etc/rabbitmq/definitions.json")
check("healthcheck" in services.get("rabbitmq", {}), "compose: the broker has a healthcheck")
ids, vols, ports = [], [], []
for w in ("w1", "w2", "w3"):
    s = services.get(w, {})
    env = s.get("environment", {})
    ids.append(env.get("TOLLGATE_WORKER_ID"))
    vols += [v.split(":")[0] for v in s.get("volumes", []) if v.split(":")[1:2] == ["/var/lib/tollgate"]]
    ports += s.get("ports", [])
    check(s.get("depends_on", {}).get("rabbitmq", {}).get("condition") == "service_healthy",
          f"compose: {w} depends on the broker being healthy")
    check(any(v.startswith("../../policies:") and v.endswith(":ro") for v in s.get("volumes", [])),
          f"compose: {w} mounts ../../policies read-only")
    check(s.get("restart") == "on-failure", f"compose: {w} restart on-failure (a drained worker stays down)")
    g = re.fullmatch(r"(\d+)s", str(s.get("stop_grace_period", "")))
    check(g and int(g.group(1)) >= 15, f"compose: {w} stop_grace_period fits a graceful stop", str(s.get("stop_grace_period")))
check(ids == ["w1", "w2", "w3"], "compose: worker ids w1, w2, w3", str(ids))
check(len(set(vols)) == 3 and all(v in compose.get("volumes", {}) for v in vols), "compose: one named volume per worker", str(vols))
check([p.rsplit(":", 2)[-2] for p in ports] == ["9101", "9102", "9103"] and all(p.endswith(":9100") for p in ports),
      "compose: metrics ports 9101-9103 published", str(ports))
check(os.path.isfile(os.path.join(ROOT, "policies", "approval-workflow.yaml")), "compose: policies/approval-workflow.yaml exists")
check(all(trusted(services.get(w, {}).get("environment", {}).get("TOLLGATE_TRUSTED_GATEWAY")) for w in ("w1", "w2", "w3")),
      f"compose: w1-w3 trust the gateway (TOLLGATE_TRUSTED_GATEWAY={GATEWAY_USER})")
g = services.get("gateway", {})
check(g.get("image") and g.get("image") == services.get("w1", {}).get("image") and "build" not in g,
      "compose: the gateway runs the workers' image", str(g.get("image")))
gcmd = g.get("command") or []
check(g.get("entrypoint") == ["tollgate"] and gcmd[:1] == ["gateway"], "compose: the gateway's command is tollgate gateway",
      f"entrypoint {g.get('entrypoint')} command {gcmd}")
gl = listen_port(gcmd)
check(gl is not None and gl[0] == "0.0.0.0", "compose: the gateway listens on 0.0.0.0 in its container", str(gl))
gport = gl[1] if gl else None
check(g.get("ports") == [f"127.0.0.1:{gport}:{gport}"], f"compose: the gateway's port {gport} published on 127.0.0.1",
      str(g.get("ports")))
check(g.get("depends_on", {}).get("rabbitmq", {}).get("condition") == "service_healthy",
      "compose: the gateway depends on the broker being healthy")
check(amqp_users(g.get("environment", {}).get("TOLLGATE_AMQP_URL")) == [GATEWAY_USER],
      f"compose: the gateway logs in as {GATEWAY_USER}", str(g.get("environment", {}).get("TOLLGATE_AMQP_URL")))
check(not [v for v in g.get("volumes", []) if not str(v).endswith(":ro")] and "/var/lib/tollgate" in g.get("tmpfs", []),
      "compose: the gateway keeps no state (no writable volume; a tmpfs over the image's VOLUME)")
check(g.get("read_only") is True and g.get("cap_drop") == ["ALL"] and "no-new-privileges:true" in g.get("security_opt", []),
      "compose: the gateway runs read-only, without capabilities, no-new-privileges")
check(not unknown_gateway_flags(" ".join(map(str, gcmd))), "compose: the gateway's flags exist")
ghc = g.get("healthcheck", {}).get("test") or []
ghc_script = ghc[-1] if ghc else ""
# Compose interpolates $VAR in the file: the shell's $ must be written $$.
unescaped = re.search(r"\$(?!\$)", ghc_script.replace("$$", ""))
check(ghc[:3] == ["CMD", "bash", "-c"] and "GET /readyz " in ghc_script and f"/dev/tcp/127.0.0.1/{gport} " in ghc_script
      and not re.search(r"\b(curl|wget)\b", ghc_script) and not unescaped,
      f"compose: the gateway's healthcheck is GET /readyz on 127.0.0.1:{gport} with bash's /dev/tcp, $ escaped as $$", str(ghc))
if ghc[:1] == ["CMD"] and gport:
    with open(os.environ.get("GATEWAY_HEALTHCHECK_OUT", os.devnull), "w") as out:
        # For deploy/check.sh to run it as Docker would (after compose's $$ -> $), against a
        # stand-in on the port it writes in place of {PORT}.
        out.write("\n".join(a.replace("$$", "$").replace(f"/dev/tcp/127.0.0.1/{gport} ", "/dev/tcp/127.0.0.1/{PORT} ")
                            for a in ghc[1:]))

# ---------------------------------------------------------------- Kubernetes
K8S = os.path.join(DEPLOY, "kubernetes")
kust = (docs.get(os.path.join(K8S, "kustomization.yaml")) or [{}])[0]
resources = kust.get("resources", [])
missing = [r for r in resources if not os.path.isfile(os.path.join(K8S, r))]
check(resources and not missing, "kubernetes: every resource of kustomization.yaml exists", str(missing))
objs = {}
for r in resources:
    for d in docs.get(os.path.join(K8S, r), []):
        objs[(d.get("kind"), d.get("metadata", {}).get("name"))] = d
sts = objs.get(("StatefulSet", "tollgate"), {})
spec = sts.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
c = (pod.get("containers") or [{}])[0]
env = {e["name"]: e for e in c.get("env", [])}
check(env.get("TOLLGATE_WORKER_ID", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
      "kubernetes: TOLLGATE_WORKER_ID from metadata.name (the pod ordinal)")
check(env.get("TOLLGATE_AMQP_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "tollgate-amqp"
      and ("Secret", "tollgate-amqp") in objs, "kubernetes: TOLLGATE_AMQP_URL from the Secret tollgate-amqp")
check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "kubernetes: readiness probe on /readyz")
check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "kubernetes: liveness probe on /healthz")
pre = " ".join(c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", []))
check("kill -USR1 1" in pre and "kill -0 1" in pre, "kubernetes: preStop drains (kill -USR1 1, waits for PID 1)")
grace = pod.get("terminationGracePeriodSeconds", 0)
check(grace >= 330, f"kubernetes: terminationGracePeriodSeconds {grace} >= 300 s escalation deadline + margin")
vct = [t.get("metadata", {}).get("name") for t in spec.get("volumeClaimTemplates", [])]
mnt = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
check(vct and mnt.get(vct[0]) == "/var/lib/tollgate" and env.get("TOLLGATE_DB", {}).get("value", "").startswith("/var/lib/tollgate/"),
      "kubernetes: the database on a volumeClaimTemplate at /var/lib/tollgate")
headless = objs.get(("Service", spec.get("serviceName")), {})
check(headless.get("spec", {}).get("clusterIP") == "None", "kubernetes: serviceName is a headless Service")
metrics = objs.get(("Service", "tollgate-metrics"), {})
ann = metrics.get("metadata", {}).get("annotations", {})
check(ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == "9100",
      "kubernetes: metrics Service with prometheus.io annotations")
labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
sel_ok = all(
    all(labels.get(k) == v for k, v in sel.items())
    for sel in [spec.get("selector", {}).get("matchLabels", {}), headless.get("spec", {}).get("selector", {}),
                metrics.get("spec", {}).get("selector", {}),
                objs.get(("PodDisruptionBudget", "tollgate"), {}).get("spec", {}).get("selector", {}).get("matchLabels", {})]
)
check(sel_ok, "kubernetes: StatefulSet, Services and PodDisruptionBudget select the same pods")
cm = objs.get(("ConfigMap", "tollgate-policies"), {})
data = cm.get("data", {})
with open(os.path.join(ROOT, "policies", "approval-workflow.yaml")) as f:
    check(data.get("approval-workflow.yaml") == f.read(), "kubernetes: the policies ConfigMap holds policies/approval-workflow.yaml unchanged")
digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
have = spec.get("template", {}).get("metadata", {}).get("annotations", {}).get("tollgate.dev/policies-sha256")
check(have == digest, "kubernetes: the pod template's tollgate.dev/policies-sha256 matches the ConfigMap",
      f"is {have}, should be {digest}")
vols = {v["name"]: v for v in pod.get("volumes", [])}
check(vols.get("policies", {}).get("configMap", {}).get("name") == "tollgate-policies"
      and mnt.get("policies") == "/etc/tollgate/policies", "kubernetes: policies mounted from the ConfigMap")
check(trusted(env.get("TOLLGATE_TRUSTED_GATEWAY", {}).get("value")),
      f"kubernetes: the workers trust the gateway (TOLLGATE_TRUSTED_GATEWAY={GATEWAY_USER})")


def secret_url_users(name):
    s_ = objs.get(("Secret", name), {})
    return amqp_users(s_.get("stringData", {}).get("url"))


check(secret_url_users("tollgate-amqp") == ["tollgate-worker"], "kubernetes: the workers' Secret tollgate-amqp is for tollgate-worker",
      str(secret_url_users("tollgate-amqp")))

# The gateway: a Deployment and its Service (gateway.yaml).
check("gateway.yaml" in resources, "kubernetes: gateway.yaml is a resource of kustomization.yaml")
dep = objs.get(("Deployment", "tollgate-gateway"), {})
dspec = dep.get("spec", {})
dpod = dspec.get("template", {}).get("spec", {})
gc = (dpod.get("containers") or [{}])[0]
genv = {e["name"]: e for e in gc.get("env", [])}
check(dspec.get("replicas") == 1, "kubernetes: the gateway Deployment has 1 replica (sessions are per process)",
      str(dspec.get("replicas")))
gargs = gc.get("args") or []
check(gc.get("image") == c.get("image") and gc.get("command") == ["tollgate"] and gargs[:1] == ["gateway"],
      "kubernetes: the gateway runs tollgate gateway from the workers' image", f"{gc.get('image')} {gc.get('command')} {gargs}")
kl = listen_port(gargs)
kport = kl[1] if kl else None
cports = {p.get("name"): p.get("containerPort") for p in gc.get("ports", [])}
check(kl is not None and kl[0] == "0.0.0.0" and cports.get("http") == kport,
      f"kubernetes: the gateway listens on 0.0.0.0:{kport}, its containerPort http", f"{kl} {cports}")
check(not unknown_gateway_flags(" ".join(map(str, gargs))), "kubernetes: the gateway's flags exist")
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
    hg = gc.get(probe, {}).get("httpGet", {})
    check(hg.get("path") == path and hg.get("port") in ("http", kport), f"kubernetes: the gateway's {probe} on {path}", str(hg))
gsecret = genv.get("TOLLGATE_AMQP_URL", {}).get("valueFrom", {}).get("secretKeyRef", {})
check(gsecret.get("name") and gsecret.get("name") != "tollgate-amqp" and gsecret.get("key") == "url"
      and secret_url_users(gsecret.get("name")) == [GATEWAY_USER],
      f"kubernetes: the gateway's TOLLGATE_AMQP_URL from a Secret of its own, for {GATEWAY_USER}",
      f"{gsecret} {secret_url_users(gsecret.get('name', ''))}")
psc, csc = dpod.get("securityContext", {}), gc.get("securityContext", {})
check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") not in (None, 0)
      and csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
      and csc.get("capabilities", {}).get("drop") == ["ALL"],
      "kubernetes: the gateway runs as non-root, read-only root file system, no privilege escalation, no capabilities")
res = gc.get("resources", {})
check(res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory") and res.get("limits", {}).get("memory"),
      "kubernetes: the gateway has cpu and memory requests and a memory limit", str(res))
check(not dpod.get("volumes") or all("persistentVolumeClaim" not in v for v in dpod["volumes"]),
      "kubernetes: the gateway has no persistent volume (it keeps no state)")
glabels = dspec.get("template", {}).get("metadata", {}).get("labels", {})
gsvc = objs.get(("Service", "tollgate-gateway"), {}).get("spec", {})
gsel = gsvc.get("selector", {})


def selects(sel, labels):
    return bool(sel) and all(labels.get(k) == v for k, v in sel.items())


check(selects(dspec.get("selector", {}).get("matchLabels", {}), glabels) and selects(gsel, glabels)
      and not selects(gsel, labels)
      and not any(selects(s_, glabels) for s_ in (spec.get("selector", {}).get("matchLabels", {}), headless.get("spec", {}).get("selector", {}),
                                                  metrics.get("spec", {}).get("selector", {}))),
      "kubernetes: the gateway's Deployment and Service select the gateway's pods, and none of the workers' select them")
check(gsvc.get("sessionAffinity") == "ClientIP", "kubernetes: the gateway Service has sessionAffinity ClientIP (sessions are per process)")
check([p.get("targetPort") in ("http", kport) for p in gsvc.get("ports", [])] == [True],
      "kubernetes: the gateway Service targets its http port", str(gsvc.get("ports")))

# ---------------------------------------------------------------- docs
with open(os.path.join(ROOT, "docs", "deploy.md")) as f:
    guide = f.read()
named = ["systemd/tollgate@.service", "systemd/tollgate.env.example", "systemd/tollgate-gateway.service",
         "tollgate-gateway.env.example", "docker/Dockerfile", "docker/compose.yaml", "kubernetes/", "gateway.yaml",
         "rabbitmq/definitions.json", "rabbitmq/rabbitmq.conf", "check.sh", "fleet.sh"]
check(all(n in guide for n in named), "docs/deploy.md names every deployment file", str([n for n in named if n not in guide]))
gw_doc = guide.split("\n## Gateway", 1)[1].split("\n## ", 1)[0] if "\n## Gateway" in guide else ""
check(all(w in gw_doc for w in ("--trusted-gateway", GATEWAY_USER, "/readyz", "/healthz", "sessionAffinity", "TLS")),
      "docs/deploy.md: a Gateway section (broker user, --trusted-gateway, probes, TLS, one replica or sticky sessions)")

sys.exit(1 if failures else 0)
