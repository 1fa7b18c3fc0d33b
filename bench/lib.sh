# Shared by bench/run and bench/routing: sourced, not run. Callers set PORT and UP (associative
# arrays keyed by target name) and DURATION.

note() { echo "bench: $*" >&2; }

answers() { pg_isready -q -t 2 -h 127.0.0.1 -p "$1" -U bench -d bench; }

wait_ready() { # PORT [PID]: waits up to 10 s for a server answering on PORT (while PID lives)
    local deadline=$((SECONDS + 10))
    until answers "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        if [ -n "${2:-}" ]; then kill -0 "$2" 2>/dev/null || return 1; fi
        sleep 0.2
    done
}

run_pgbench() { # TARGET ARGS...: prints tps (connection time excluded, except with -C) or nothing
    local target=$1 out rc=0 tps; shift
    [ "${UP[$target]}" = 1 ] || return 0
    # TARGET_HOST and TARGET_DB (associative arrays, optional) override 127.0.0.1 and bench per
    # target; BENCH_SSLMODE (default disable) is libpq's sslmode.
    out=$(PGSSLMODE=${BENCH_SSLMODE:-disable} timeout $((DURATION + 60)) pgbench -n -T "$DURATION" -h "${TARGET_HOST[$target]:-127.0.0.1}" -p "${PORT[$target]}" \
              -U bench "$@" "${TARGET_DB[$target]:-bench}" 2>&1) || rc=$?
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
    if [ -n "${BENCH_TX_LOG:-}" ]; then # transactions per target, for CPU per transaction
        echo "$target $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")" >>"$BENCH_TX_LOG"
    fi
    if [ "$rc" = 0 ] && [ -n "$tps" ]; then echo "$tps"; return; fi
    note "$target failed (exit $rc): $(grep -m 3 -iE 'error|fatal|abort' <<<"$out" | tr '\n' ' ')"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ratio() { if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo "-"; fi; }

# Runs pgbench ROUNDS times against each target in TARGETS, interleaved, and sets MEDIAN[target]
# and CELL[target] (median tps, or "fail", with failed rounds counted), and RUNS[target] (each
# round's tps or "fail", in round order, for `paired_ratio`).
# The order of the targets turns by one each round, so none always runs right after the same
# one (a run can leave the machine busier for the next: PostgreSQL's checkpoints and autovacuum,
# and with -C thousands of sockets in TIME_WAIT).
declare -A RUNS=()
bench_targets() { # ARGS...: pgbench flags
    local t r v ok failed i n=${#TARGETS[@]}
    declare -A seen=()
    for t in "${TARGETS[@]}"; do seen[$t]=""; done
    for r in $(seq "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            t=${TARGETS[$(((i + r - 1) % n))]}
            v=$(run_pgbench "$t" "$@")
            note "${BENCH_NAME:-run} round $r/$ROUNDS $t: ${v:-fail}"
            if [ -z "$v" ] && [ "${UP[$t]}" = 1 ] && ! answers "${PORT[$t]}"; then
                note "$t no longer answers; skipping its remaining runs"; UP[$t]=0
            fi
            seen[$t]+="${v:-fail} "
        done
    done
    for t in "${TARGETS[@]}"; do
        RUNS[$t]=${seen[$t]}
        ok=$(tr ' ' '\n' <<<"${seen[$t]}" | grep -E '^[0-9.]+$' || true)
        failed=$(tr ' ' '\n' <<<"${seen[$t]}" | grep -c fail || true)
        MEDIAN[$t]=$(median <<<"$ok")
        if [ -z "${MEDIAN[$t]}" ]; then CELL[$t]=fail
        else CELL[$t]=$(printf '%.0f' "${MEDIAN[$t]}"); if [ "$failed" -gt 0 ]; then CELL[$t]+=" ($failed/$ROUNDS failed)"; fi; fi
    done
}

# The median over rounds of A's tps divided by B's in the same round: runs minutes apart on a
# shared machine differ more than runs seconds apart, so this moves less than MEDIAN[A]/MEDIAN[B].
paired_ratio() { # A B
    local -a a b
    read -ra a <<<"${RUNS[$1]:-}"
    read -ra b <<<"${RUNS[$2]:-}"
    local i out=""
    for i in "${!a[@]}"; do
        if [[ ${a[$i]} =~ ^[0-9.]+$ && ${b[$i]:-} =~ ^[0-9.]+$ ]]; then
            out+=$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { printf "%.4f\n", x / y }')$'\n'
        fi
    done
    out=$(grep -E '^[0-9.]+$' <<<"$out" | median || true)
    if [ -n "$out" ]; then printf '%.2fx' "$out"; else echo "-"; fi
}

cpu_ticks() { # PID: user + system CPU time of the process so far, in clock ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU microseconds per transaction of process PID for TARGET's runs: the process's CPU ticks
# since TICKS_BEFORE over the transactions TARGET's runs logged in TX_LOG (see BENCH_TX_LOG).
# Steadier than tps on a shared machine: it does not move with what else runs.
cpu_per_transaction() { # PID TARGET TX_LOG TICKS_BEFORE
    local ticks count
    ticks=$(( $(cpu_ticks "${1:-0}") - $4 ))
    count=$(awk -v t="$2" '$1 == t { n += $2 } END { print n + 0 }' "$3" 2>/dev/null || echo 0)
    awk -v k="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$count" 'BEGIN { if (n > 0) printf "%.1f", k * 1e6 / hz / n; else print "-" }'
}
