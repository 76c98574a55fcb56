#!/usr/bin/env bash
# Benchmark of `pipeline serve`'s intake: the real binary (built by the e2e
# tests' TestMain) takes signed merge-request events from 1, 16 and 64
# concurrent connections on loopback, while its 4 workers answer the fake
# GitLab in the benchmark's own process. Prints requests per second and the
# p50 / p99 latency to the 202 (nothing is refused: the queue holds the
# whole run). The figures in docs/serve.md and README come from here.
#
#   bench/serve/run.sh                     # 5,000 events per client count
#   BENCHTIME=20000x COUNT=3 bench/serve/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go test ./e2e/ -run '^$' -bench 'Serve202' -benchtime "${BENCHTIME:-5000x}" -count "${COUNT:-1}" \
  | tee bench/out/serve.txt | grep -E '^(Benchmark|goos|goarch|cpu)'
