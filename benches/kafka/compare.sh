#!/usr/bin/env bash
# Runs the same `loadgen produce` against raftka and against Apache Kafka (default flushing and
# fsync after every message), alternating, each on a fresh single node in a fresh temp dir.
#
#   benches/kafka/compare.sh [--repeat N] [--targets raftka,kafka,kafka-flush] [--warmup N] \
#       -- PRODUCE_ARGS...
#
# Before the measured command, each fresh broker takes --warmup messages (default 1000000, 1 KiB,
# max rate, to a topic of its own), so that the JVM's JIT has compiled Kafka's hot paths before
# the first measured run; 0 skips it. With --wait-idle PCT, each run first waits (at most 10
# minutes) until the CPUs were at least PCT% idle over one second, since other work on the
# machine moves these figures a lot; the idle share seen is printed on the run's header line.
#
# e.g. benches/kafka/compare.sh --repeat 2 -- --topic t3 --partitions 3 --messages 200000 \
#          --size 1024 --idempotence both --rounds 3 [--rate 50000]
#
# Environment: RAFTKA and LOADGEN (default target/release/raftka and
# target/release/examples/loadgen; build them with
# `cargo build --release --example loadgen --bin raftka`), plus run.sh's variables for Kafka.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
raftka=${RAFTKA:-$root/target/release/raftka}
loadgen=${LOADGEN:-$root/target/release/examples/loadgen}
repeat=2
warmup=1000000
wait_idle=0
targets=raftka,kafka,kafka-flush

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) repeat=$2; shift 2 ;;
        --targets) targets=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --wait-idle) wait_idle=$2; shift 2 ;;
        --) shift; break ;;
        *) die "unknown option: $1 (loadgen arguments go after --)" ;;
    esac
done
[ -x "$raftka" ] || die "no raftka binary at $raftka"
[ -x "$loadgen" ] || die "no loadgen binary at $loadgen"

port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port _
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 30000))
        if ! port_answers "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# Percent of CPU time idle over the next second, from /proc/stat.
idle_pct() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do
        total=$((total + b[i] - a[i]))
    done
    echo $((100 * (b[4] - a[4] + b[5] - a[5]) / (total > 0 ? total : 1)))
}

# Waits until the machine is at least $wait_idle% idle (at most 10 minutes); prints the share.
await_idle() {
    local idle deadline=$((SECONDS + 600))
    idle=$(idle_pct)
    while [ "$idle" -lt "$wait_idle" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 4
        idle=$(idle_pct)
    done
    echo "$idle"
}

# True while process $1 runs (not a zombie).
alive() {
    grep -q '^State:[[:space:]]*[^Z[:space:]]' "/proc/$1/status" 2>/dev/null
}

raftka_pid=""
raftka_dir=""
stop_raftka() {
    local i
    if [ -n "$raftka_pid" ]; then
        kill -TERM "$raftka_pid" 2>/dev/null || true
        for i in $(seq 1 300); do
            alive "$raftka_pid" || break
            sleep 0.1
        done
        kill -KILL "$raftka_pid" 2>/dev/null || true
        wait "$raftka_pid" 2>/dev/null || true
        # Percent of CPU time idle over the next second, from /proc/stat.
idle_pct() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do
        total=$((total + b[i] - a[i]))
    done
    echo $((100 * (b[4] - a[4] + b[5] - a[5]) / (total > 0 ? total : 1)))
}

# Waits until the machine is at least $wait_idle% idle (at most 10 minutes); prints the share.
await_idle() {
    local idle deadline=$((SECONDS + 600))
    idle=$(idle_pct)
    while [ "$idle" -lt "$wait_idle" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 4
        idle=$(idle_pct)
    done
    echo "$idle"
}

raftka_pid=""
    fi
    if [ -n "$raftka_dir" ]; then
        rm -rf "$raftka_dir"
        raftka_dir=""
    fi
}

kafka_started=0
cleanup() {
    stop_raftka
    if [ "$kafka_started" = 1 ]; then
        "$here/run.sh" stop >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts raftka with its defaults in a fresh working dir; prints the bootstrap address.
start_raftka() {
    local port deadline
    port=$(free_port)
    raftka_dir=$(mktemp -d "${TMPDIR:-/tmp}/raftka-baseline.XXXXXX")
    (cd "$raftka_dir" && exec "$raftka" serve --listeners "PLAINTEXT://127.0.0.1:$port" \
        >"$raftka_dir/raftka.out" 2>&1 </dev/null) &
    raftka_pid=$!
    deadline=$((SECONDS + 60))
    until port_answers "$port"; do
        alive "$raftka_pid" || {
            tail -n 20 "$raftka_dir/raftka.out" >&2
            die "raftka exited during startup"
        }
        [ "$SECONDS" -lt "$deadline" ] || die "raftka did not listen within 60 s"
        sleep 0.1
    done
    bootstrap="127.0.0.1:$port"
}

start_kafka() {
    local out
    out=$("$here/run.sh" start "$@")
    kafka_started=1
    bootstrap=$(echo "$out" | sed -n 's/^bootstrap=//p')
    kafka_version=$(echo "$out" | sed -n 's/^kafka=\([^ ]*\).*/\1/p')
}

"$here/run.sh" install >/dev/null
IFS=, read -r -a target_list <<<"$targets"
echo "loadgen produce $*"
for r in $(seq 1 "$repeat"); do
    for target in "${target_list[@]}"; do
        case "$target" in
            raftka) start_raftka; label="raftka ($("$raftka" --version 2>/dev/null || echo raftka))" ;;
            kafka) start_kafka; label="kafka $kafka_version (default flush)" ;;
            kafka-flush) start_kafka --flush-every-message; label="kafka $kafka_version (log.flush.interval.messages=1)" ;;
            *) die "unknown target: $target" ;;
        esac
        if [ "$warmup" -gt 0 ]; then
            "$loadgen" produce --bootstrap "$bootstrap" --topic warmup --messages "$warmup" \
                --size 1024 >/dev/null || die "warm-up failed against $target"
        fi
        idle=$(await_idle)
        echo "== $(date +%T) repeat $r: $label, bootstrap $bootstrap, idle $idle%, load $(cut -d' ' -f1-3 /proc/loadavg)"
        "$loadgen" produce --bootstrap "$bootstrap" "$@" || echo "== loadgen failed against $target"
        case "$target" in
            raftka) stop_raftka ;;
            *) "$here/run.sh" stop >/dev/null; kafka_started=0 ;;
        esac
    done
done
echo "== $(date +%T) done"
