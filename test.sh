#!/usr/bin/env bash
# The test command (README.md, CI): installs what the tests need when it is missing, builds
# everything, runs every test. Arguments go to `cargo test`: `./test.sh --test protocol`,
# `./test.sh --test protocol -- kcat`. With RAFTKA_BOOTSTRAP=host:port the protocol suite judges
# that broker, and its tests that need a broker of their own are reported as ignored.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# kcat is used by the real-client tests (they fail without it, they never skip); librdkafka is
# built from source by rdkafka, which needs a C toolchain, make and zlib headers.
missing=()
command -v kcat >/dev/null 2>&1 || command -v kafkacat >/dev/null 2>&1 || missing+=(kcat)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v make >/dev/null 2>&1 || missing+=(make)
# The disk-full test gives the broker a small tmpfs of its own in a private mount namespace.
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
# The other-language client tests (tests/clients.rs) run kafka-python and aiokafka from a venv,
# kafkajs under node, and the Apache Kafka Java client from a jar that Maven builds.
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
apt_updated=no
apt_install() {
  [ "$apt_updated" = yes ] || as_root apt-get update
  apt_updated=yes
  as_root apt-get install -y "$@"
}
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi

# Each client is installed again only when what pins it changed: a copy of the pin file marks
# an install that finished.
clients=tests/clients
venv=target/clients-venv
if ! cmp -s "$clients/python/requirements.txt" "$venv/requirements.txt"; then
  # Debian's python3 makes a venv only with python3-venv.
  python3 -m venv --clear "$venv" || { apt_install python3-venv && python3 -m venv --clear "$venv"; }
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$clients/python/requirements.txt"
  cp "$clients/python/requirements.txt" "$venv/requirements.txt"
fi
node_modules="$clients/node/node_modules"
if ! cmp -s "$clients/node/package-lock.json" "$node_modules/.installed-package-lock.json"; then
  (cd "$clients/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$clients/node/package-lock.json" "$node_modules/.installed-package-lock.json"
fi
# Maven works offline once its first run has downloaded the client and the plugins.
jar=target/clients-java/client-check.jar
if [ ! -e "$jar" ] || [ -n "$(find "$clients/java/pom.xml" "$clients/java/src" -newer "$jar")" ]; then
  (cd "$clients/java" && { mvn -q -B -o package 2>/dev/null || mvn -q -B package; })
fi

cargo build --release --all-targets

# Tests that need a broker of their own are #[ignore]d with the reason (protocol-tests/main.rs):
# they run here too unless the suite is pointed at another broker (or the caller chose).
include_ignored=yes
separator=no
for arg in "$@"; do
  case "$arg" in
    --) separator=yes ;;
    --ignored | --include-ignored) include_ignored=no ;;
  esac
done
[ -z "${RAFTKA_BOOTSTRAP:-}" ] || include_ignored=no
if [ "$include_ignored" = no ]; then
  exec cargo test --release "$@"
elif [ "$separator" = yes ]; then
  exec cargo test --release "$@" --include-ignored
else
  exec cargo test --release "$@" -- --include-ignored
fi
