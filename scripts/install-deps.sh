#!/usr/bin/env bash
# Installs the system packages pgproxy needs (Debian 12). Fast no-op when all are present.
set -euo pipefail

packages=(postgresql-15 postgresql-contrib libpq-dev libpg-query-dev libprotobuf-c-dev
          libssl-dev openssl pgbouncer python3 python3-prometheus-client curl make gcc)

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}"
    # Debian starts a default pgbouncer on localhost:6432, the port the demo's pgproxy uses.
    if [[ " ${missing[*]} " == *" pgbouncer "* ]]; then
        if [ -d /run/systemd/system ]; then
            "${sudo[@]}" systemctl disable --now pgbouncer.service >/dev/null 2>&1 || true
        else
            "${sudo[@]}" service pgbouncer stop >/dev/null 2>&1 || true
        fi
    fi
fi

# The postgresql packages create this user; make sure it exists regardless.
if ! id postgres >/dev/null 2>&1; then
    "${sudo[@]}" useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres
fi
