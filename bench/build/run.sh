#!/usr/bin/env bash
# Benchmark of what `pipeline build` adds on top of the components' own
# builds, for 200 generated packages (each depending on the one before):
# reading the packages, the lock and dependency check, the meta-package and
# the repository metadata (APT written in Go; YUM by createrepo_c), with
# apt-ftparchive on the same pool as the reference. Prints Go's benchmark
# lines; the figure recorded in docs/build.md comes from here.
#
#   bench/build/run.sh                   # 10 iterations of each
#   COUNT=3 bench/build/run.sh           # repeat the whole run 3 times
#   TMPDIR=/dev/shm bench/build/run.sh   # work on tmpfs: without the disk
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go test ./stages/build/ -run '^$' -bench 'Build200' -benchtime "${BENCHTIME:-10x}" -count "${COUNT:-1}" \
  | tee bench/out/build.txt | grep -E '^(Benchmark|goos|goarch|cpu)'
