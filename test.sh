#!/usr/bin/env bash
# The test command (README.md, CI): installs what the tests need when it is missing, builds
# everything, runs every test. Arguments go to `cargo test`: `./test.sh --test protocol`,
# `./test.sh --test protocol -- kcat`. With RAFTKA_BOOTSTRAP=host:port the protocol suite judges
# that broker.
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
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update
  as_root apt-get install -y "${missing[@]}"
fi

cargo build --release --all-targets

cargo test --release "$@"
