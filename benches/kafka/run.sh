#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, combined broker+controller, plaintext on 127.0.0.1) from
# Maven Central artifacts, as a baseline for raftka's benchmarks.
#
#   benches/kafka/run.sh install                    resolve the jars (quick when already done)
#   benches/kafka/run.sh [start] [OPTIONS]          install, format a temp dir, start, wait
#   benches/kafka/run.sh stop                       stop the broker, remove its temp dir
#   benches/kafka/run.sh status
#
# start options:
#   --flush-every-message   log.flush.interval.messages=1 (fsync after every append, as raftka
#                           does before acknowledging; Kafka's default leaves it to the OS)
#   --port N                PLAINTEXT port (default: a free one)
#   --controller-port N     CONTROLLER port (default: a free one)
#   --set KEY=VALUE         any broker setting, appended to server.properties; repeatable
#
# Environment: JAVA (default java), MVN (default mvn), KAFKA_HEAP_OPTS (default -Xmx1g -Xms1g),
# KAFKA_START_TIMEOUT seconds (default 60), TMPDIR (where the temp dir goes).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base="$root/target/kafka-baseline"
lib="$base/lib"
state="$base/state"
java=${JAVA:-java}
mvn=${MVN:-mvn}
heap=${KAFKA_HEAP_OPTS:--Xmx1g -Xms1g}
timeout=${KAFKA_START_TIMEOUT:-60}
# The JVM flags of Kafka's own start scripts (kafka-run-class.sh).
jvm_perf="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"

die() {
    echo "run.sh: $*" >&2
    exit 1
}

install() {
    local stamp
    stamp=$(cksum <"$here/pom.xml")
    if [ -f "$lib/.stamp" ] && [ "$(cat "$lib/.stamp")" = "$stamp" ]; then
        return 0
    fi
    mkdir -p "$base"
    rm -rf "$lib.tmp"
    echo "run.sh: resolving Kafka from Maven Central into $lib" >&2
    "$mvn" -B -q -Dstyle.color=never -f "$here/pom.xml" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib.tmp" >&2
    echo "$stamp" >"$lib.tmp/.stamp"
    rm -rf "$lib"
    mv "$lib.tmp" "$lib"
}

kafka_version() {
    local jar
    for jar in "$lib"/kafka_2.13-*.jar; do
        jar=${jar##*/kafka_2.13-}
        echo "${jar%.jar}"
        return 0
    done
    echo unknown
}

# True when something accepts connections on 127.0.0.1:$1.
port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port _
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 30000))
        if [ "$port" != "${1:-}" ] && ! port_answers "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# True while process $1 runs (a zombie, which a killed broker may be for a moment, does not).
alive() {
    grep -q '^State:[[:space:]]*[^Z[:space:]]' "/proc/$1/status" 2>/dev/null
}

# The recorded broker's pid, if that process still runs and is a Kafka broker.
running_pid() {
    [ -f "$state/pid" ] || return 1
    local pid
    pid=$(cat "$state/pid")
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
    echo "$pid"
}

stop() {
    local pid dir i
    if pid=$(running_pid); then
        kill -TERM "$pid"
        for i in $(seq 1 300); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "run.sh: broker $pid did not stop within 30 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "stopped pid=$pid"
    else
        echo "run.sh: no broker running" >&2
    fi
    if [ -f "$state/dir" ]; then
        dir=$(cat "$state/dir")
        case "$dir" in
            */kafka-baseline.*) rm -rf "$dir" ;;
        esac
    fi
    rm -rf "$state"
}

start() {
    local flush=0 port="" cport="" sets=() pid dir cluster_id deadline
    while [ $# -gt 0 ]; do
        case "$1" in
            --flush-every-message) flush=1 ;;
            --port) port=$2; shift ;;
            --controller-port) cport=$2; shift ;;
            --set) sets+=("$2"); shift ;;
            *) die "unknown option: $1" ;;
        esac
        shift
    done
    if pid=$(running_pid); then
        die "a broker is already running (pid $pid, $(cat "$state/bootstrap")); run.sh stop first"
    fi
    if [ -d "$state" ]; then
        stop >/dev/null 2>&1 # a broker that died: remove what it left
    fi
    install
    port=${port:-$(free_port)}
    cport=${cport:-$(free_port "$port")}
    port_answers "$port" && die "port $port is in use"
    port_answers "$cport" && die "port $cport is in use"

    dir=$(mktemp -d "${TMPDIR:-/tmp}/kafka-baseline.XXXXXX")
    mkdir -p "$state"
    echo "$dir" >"$state/dir"
    {
        echo "node.id=1"
        echo "process.roles=broker,controller"
        echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
        echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        echo "inter.broker.listener.name=PLAINTEXT"
        echo "controller.listener.names=CONTROLLER"
        echo "controller.quorum.voters=1@127.0.0.1:$cport"
        echo "log.dirs=$dir/data"
        echo "num.partitions=1"
        echo "offsets.topic.replication.factor=1"
        echo "transaction.state.log.replication.factor=1"
        echo "transaction.state.log.min.isr=1"
        echo "share.coordinator.state.topic.replication.factor=1"
        echo "share.coordinator.state.topic.min.isr=1"
        echo "group.initial.rebalance.delay.ms=0"
        if [ "$flush" = 1 ]; then
            echo "log.flush.interval.messages=1"
        fi
        if [ ${#sets[@]} -gt 0 ]; then
            printf '%s\n' "${sets[@]}"
        fi
    } >"$dir/server.properties"

    # A random cluster id: 16 bytes, URL-safe base64 without padding (Kafka's Uuid form).
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    local logging=("-Dlog4j2.configurationFile=$here/log4j2.properties" "-Dkafka.logs.dir=$dir")
    # shellcheck disable=SC2086
    if ! "$java" $heap "${logging[@]}" -cp "$lib/*" kafka.tools.StorageTool format \
        -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.out" 2>&1; then
        cat "$dir/format.out" >&2
        die "formatting storage failed (files in $dir)"
    fi

    # shellcheck disable=SC2086
    nohup "$java" $heap $jvm_perf "${logging[@]}" -cp "$lib/*" \
        kafka.Kafka "$dir/server.properties" >"$dir/kafka.out" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$state/pid"
    echo "127.0.0.1:$port" >"$state/bootstrap"

    deadline=$((SECONDS + timeout))
    until port_answers "$port" && grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; do
        if ! alive "$pid"; then
            tail -n 30 "$dir/kafka.out" "$dir/server.log" >&2 2>/dev/null || true
            rm -rf "$state"
            die "the broker exited during startup (files in $dir)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$dir/server.log" >&2 2>/dev/null || true
            stop >&2
            die "the broker did not start within $timeout s"
        fi
        sleep 0.2
    done
    echo "kafka=$(kafka_version) flush_every_message=$([ "$flush" = 1 ] && echo yes || echo no)"
    echo "bootstrap=127.0.0.1:$port"
    echo "pid=$pid"
    echo "dir=$dir"
    echo "stop with: $0 stop   (or: kill $pid; rm -rf $dir)"
}

cmd=${1:-start}
case "$cmd" in
    install) install; echo "kafka=$(kafka_version) lib=$lib" ;;
    start) [ $# -gt 0 ] && shift; start "$@" ;;
    --*) start "$@" ;;
    stop) stop ;;
    status)
        if pid=$(running_pid); then
            echo "running pid=$pid bootstrap=$(cat "$state/bootstrap") dir=$(cat "$state/dir")"
        else
            echo "not running"
        fi
        ;;
    *) die "usage: run.sh [install | start [OPTIONS] | stop | status]" ;;
esac
