#!/usr/bin/env bash
# Builds the wire fuzzer (libFuzzer coverage; Swift itself traps on bad indexes and overflow)
# and runs it for FUZZ_SECONDS seconds (default 60) from the seeds in Fuzz/corpus. New inputs
# it finds go to a scratch directory; an input that crashes a decoder is saved in Fuzz/crashes/
# and fails the run (replay it with .build/release/wire-fuzzer crashes/<file>).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${FUZZ_SECONDS:-60}
swift build -c release --sanitize=fuzzer --product wire-fuzzer
# libFuzzer, not the Swift runtime, must catch the trap, to save the input that caused it.
export SWIFT_BACKTRACE=enable=no
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p crashes
./.build/release/wire-fuzzer "$scratch" corpus -max_total_time="$seconds" -max_len=4096 \
    -timeout=5 -artifact_prefix=crashes/ -print_final_stats=1
