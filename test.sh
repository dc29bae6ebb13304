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
if [ "${#missing[@]}" -gt 0 ]; then
  as_root apt-get update
  as_root apt-get install -y "${missing[@]}"
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
