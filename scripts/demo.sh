#!/usr/bin/env bash
# `make demo`: runs pgproxy (port 6432) in front of a throwaway PostgreSQL on port 15432.
# The cluster lives in a temp dir (linked from .demo/pgdata) and survives; `make demo-stop` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/release-build.sh pgproxy

# The postgres user cannot read a checkout under /root, so the data lives in a temp dir.
pgdata="${TMPDIR:-/tmp}/pgproxy-demo-$(pwd | md5sum | cut -c1-8)"
mkdir -p .demo
if [ -f "$pgdata/data/PG_VERSION" ]; then
    scripts/pg-cluster.sh start "$pgdata"
else
    scripts/pg-cluster.sh destroy "$pgdata"
    scripts/pg-cluster.sh create "$pgdata" 15432
fi
ln -sfn "$pgdata" .demo/pgdata
ln -sfn "$pgdata/log" .demo/postgres.log

if (exec 3<>/dev/tcp/127.0.0.1/6432) 2>/dev/null; then
    echo "demo: port 6432 is already in use (Debian's pgbouncer service? try: systemctl stop pgbouncer)" >&2
    exit 1
fi

cat <<'EOF'

PostgreSQL is on 127.0.0.1:15432 (log: .demo/postgres.log). Starting pgproxy on 127.0.0.1:6432.
Connect with:

    psql "host=127.0.0.1 port=6432 user=app password=app dbname=app"

Ctrl-C stops pgproxy; `make demo-stop` stops PostgreSQL.

EOF
exec .build/release/pgproxy --config pgproxy.toml --users users.toml
