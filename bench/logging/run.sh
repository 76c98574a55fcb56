#!/usr/bin/env bash
# The cost of secret masking in the job log, side by side: no secrets, the
# dozen well-known variables, and 50 (a config naming many *_env secrets).
#   BenchmarkLogLine  one log entry (ns per entry)
#   BenchmarkStream   a command's output streamed through the log (MB/s)
# Usage: bash bench/logging/run.sh [count]   (default count 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go test ./internal/logging -run '^$' -bench . -count "${1:-5}" | tee bench/out/logging.txt
