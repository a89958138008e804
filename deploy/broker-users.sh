#!/usr/bin/env bash
# Creates the users the tests (and a local demo) log in as, all with password
# ${TOLLGATE_TEST_PASSWORD:-secret} and full permissions on vhost "/":
#   manager@corp.com compliance@corp.com cfo@corp.com   approvers (votes carry their user_id)
#   finance-agent support-agent                          agents publishing tool calls
#   tollgate-gateway                                     a trusted gateway (--trusted-gateway)
#   tollgate-worker                                      a worker that does not use guest
# and tollgate-novhost (same password, NO permissions anywhere) for the "missing vhost / no access" test.
# Idempotent: re-running resets these users' passwords and permissions, nothing else.
# One `rabbitmqctl import_definitions` call (password hashes made here with python3), so it is fast.
# TOLLGATE_BROKER_NODE=NAME targets another node than the default one (deploy/cluster.sh: tg1@localhost).
# TEST PASSWORDS ONLY: never run this against a broker that matters.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

password=${TOLLGATE_TEST_PASSWORD:-secret}
node=()
[ -z "${TOLLGATE_BROKER_NODE:-}" ] || node=(-n "$TOLLGATE_BROKER_NODE")
users=(manager@corp.com compliance@corp.com cfo@corp.com finance-agent support-agent tollgate-gateway tollgate-worker)
no_access=(tollgate-novhost)

defs=$(mktemp --suffix=.json)
trap 'rm -f "$defs"' EXIT
TOLLGATE_PW="$password" python3 - "${#users[@]}" "${users[@]}" "${no_access[@]}" >"$defs" <<'PY'
import base64, hashlib, json, os, sys
# RabbitMQ's default rabbit_password_hashing_sha256: base64(salt4 + sha256(salt4 + password)).
def h(pw):
    salt = os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + pw.encode()).digest()).decode()
n = int(sys.argv[1]); full = sys.argv[2:2 + n]; none = sys.argv[2 + n:]
pw = os.environ["TOLLGATE_PW"]
users = [{"name": u, "password_hash": h(pw), "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}
         for u in full + none]
perms = [{"user": u, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"} for u in full]
print(json.dumps({"users": users, "permissions": perms}))
PY
chmod 644 "$defs"
"${SUDO[@]}" timeout 60 rabbitmqctl "${node[@]}" -q import_definitions "$defs" >/dev/null ||
    { echo "broker-users: rabbitmqctl import_definitions failed: is the broker${TOLLGATE_BROKER_NODE:+ $TOLLGATE_BROKER_NODE} running? (deploy/broker.sh start)" >&2; exit 1; }
# import_definitions adds permissions but never removes them: make sure the no-access user has none.
for u in "${no_access[@]}"; do
    "${SUDO[@]}" timeout 60 rabbitmqctl "${node[@]}" -q clear_permissions -p / "$u" >/dev/null 2>&1 || true
done
echo "broker-users: ${users[*]} (password '$password', all permissions on /); ${no_access[*]} (no vhost access)"
