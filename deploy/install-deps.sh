#!/usr/bin/env bash
# Installs the system packages Tollgate needs to build and to run its broker tests:
#   librabbitmq-dev libsqlite3-dev rabbitmq-server pkg-config python3 (+ openssl for the TLS test
#   listener and certificates, curl for the gateway's HTTPS test)
# With --browser, also what the inbox's browser tests need: chromium chromium-driver python3-venv.
# Idempotent: a no-op when everything is present; `apt-get update` runs only when something is missing.
# Works as root (CI) or through sudo. Prints what it did.
set -euo pipefail

packages=(librabbitmq-dev libsqlite3-dev rabbitmq-server pkg-config python3 openssl curl)
if [ "${1:-}" = "--browser" ]; then packages+=(chromium chromium-driver python3-venv); fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all present (${packages[*]})"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-deps: missing ${missing[*]} and not root (no sudo either): install them as root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
