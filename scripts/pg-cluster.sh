#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the demo, the integration tests and the benchmark.
#
#   pg-cluster.sh [-v] create DIR PORT [--max-connections N]
#   pg-cluster.sh [-v] replica DIR PORT PRIMARY_PORT   (streaming replica: pg_basebackup -R)
#   pg-cluster.sh [-v] promote DIR
#   pg-cluster.sh [-v] start DIR
#   pg-cluster.sh [-v] stop DIR [fast|immediate]
#   pg-cluster.sh [-v] status DIR        (exit 0: running, 3: stopped)
#   pg-cluster.sh [-v] destroy DIR
#
# Layout: DIR/data (data directory), DIR/log (server log), DIR/.s.PGSQL.PORT (socket).
# Roles (password = name): postgres (trust), app (scram-sha-256, superuser), md5_user (md5),
# plain_user (password), trust_user (trust), bench (trust). Databases: app, bench.
set -euo pipefail
umask 022

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
verbose=0
args=()
max_connections=200
while [ $# -gt 0 ]; do
    case $1 in
        -v) verbose=1 ;;
        --max-connections) max_connections=${2:?--max-connections needs a value}; shift ;;
        *) args+=("$1") ;;
    esac
    shift
done
set -- "${args[@]}"

usage() { sed -n '4,10s/^# \{0,3\}//p' "$0" >&2; exit 2; }
die() { echo "pg-cluster: $*" >&2; exit 1; }
die_log() {
    echo "--- tail of $dir/log ---" >&2
    tail -n 20 "$dir/log" >&2 || true
    die "$@"
}
log() { if [ "$verbose" = 1 ]; then echo "pg-cluster: $*"; fi; }

# Runs a command; its output is shown only with -v or when it fails.
run() {
    if [ "$verbose" = 1 ]; then "$@"; return; fi
    local out
    out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
}
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
pg_ctl() { as_postgres "$PGBIN/pg_ctl" -D "$dir/data" "$@"; }
is_running() { pg_ctl status >/dev/null 2>&1; }
psql_local() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }

cmd=${1:-}
[ $# -ge 2 ] || usage
dir=$(realpath -m -- "$2")

create() {
    port=$1
    [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
    [ ! -e "$dir/data" ] || die "$dir/data already exists"
    local parent=$dir
    while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
    as_postgres test -x "$parent" ||
        die "the postgres user cannot reach $parent (chmod 755 it, or use a directory under /tmp)"
    mkdir -p "$dir"
    touch "$dir/.pg-cluster"
    chown -R postgres:postgres "$dir"
    chmod 0755 "$dir"

    log "initdb $dir/data"
    run as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C --no-sync || die "initdb failed"
    cat >>"$dir/data/postgresql.conf" <<EOF

# pg-cluster.sh: throwaway test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = $max_connections
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 10
EOF
    cat >"$dir/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE     USER        ADDRESS       METHOD
local   all          all                       trust
local   replication  all                       trust
host    replication  postgres    127.0.0.1/32  trust
host    all          postgres    127.0.0.1/32  trust
host    all          app         127.0.0.1/32  scram-sha-256
host    all          md5_user    127.0.0.1/32  md5
host    all          plain_user  127.0.0.1/32  password
host    all          trust_user  127.0.0.1/32  trust
host    all          bench       127.0.0.1/32  trust
host    all          all         127.0.0.1/32  scram-sha-256
EOF
    start
    log "creating roles and databases"
    run psql_local -d postgres <<'EOF' || die_log "creating roles failed"
ALTER ROLE postgres PASSWORD 'postgres';
CREATE ROLE app LOGIN SUPERUSER PASSWORD 'app';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_user';
RESET password_encryption;
CREATE ROLE plain_user LOGIN PASSWORD 'plain_user';
CREATE ROLE trust_user LOGIN PASSWORD 'trust_user';
CREATE ROLE bench LOGIN PASSWORD 'bench';
CREATE DATABASE app OWNER app;
CREATE DATABASE bench OWNER bench;
EOF
}

replica() {
    port=$1
    local primary_port=$2
    [[ $port =~ ^[0-9]+$ && $primary_port =~ ^[0-9]+$ ]] || die "bad port"
    [ ! -e "$dir/data" ] || die "$dir/data already exists"
    mkdir -p "$dir"
    touch "$dir/.pg-cluster"
    chown -R postgres:postgres "$dir"
    chmod 0755 "$dir"
    log "pg_basebackup from port $primary_port into $dir/data"
    run as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/data" -R -X stream --checkpoint=fast \
        || die "pg_basebackup failed"
    cat >>"$dir/data/postgresql.conf" <<EOF

# pg-cluster.sh: streaming replica of port $primary_port
port = $port
unix_socket_directories = '$dir'
hot_standby = on
EOF
    start
}

promote() {
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
    log "promoting $dir"
    run pg_ctl -w -t 60 promote || die_log "promote failed"
}

start() {
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
    if is_running; then log "already running"; return; fi
    log "starting $dir"
    run pg_ctl -l "$dir/log" -w -t 60 start || die_log "start failed"
}

stop() {
    local mode=${1:-fast}
    [[ $mode =~ ^(fast|immediate|smart)$ ]] || die "bad stop mode: $mode"
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
    if ! is_running; then log "not running"; return; fi
    log "stopping $dir ($mode)"
    run pg_ctl -m "$mode" -w -t 60 stop || die_log "stop failed"
}

status() {
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in $dir"
    if is_running; then log "running"; else log "stopped"; return 3; fi
}

destroy() {
    [ -e "$dir" ] || return 0
    [ -f "$dir/.pg-cluster" ] || die "$dir was not made by pg-cluster.sh; not removing it"
    if [ -f "$dir/data/PG_VERSION" ] && is_running; then stop immediate; fi
    log "removing $dir"
    rm -rf -- "$dir"
}

case $cmd in
    create) [ $# -eq 3 ] || usage; create "$3" ;;
    replica) [ $# -eq 4 ] || usage; replica "$3" "$4" ;;
    promote) [ $# -eq 2 ] || usage; promote ;;
    start) [ $# -eq 2 ] || usage; start ;;
    stop) [ $# -le 3 ] || usage; stop "${3:-fast}" ;;
    status) [ $# -eq 2 ] || usage; status ;;
    destroy) [ $# -eq 2 ] || usage; destroy ;;
    *) usage ;;
esac
