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
#
# Then the incremental build (BenchmarkIncremental20): 20 components, each
# a copy of the example's (make → dpkg-deb and rpmbuild), built whole with a
# cold component cache, then one changed and committed and built again
# (19 taken from the cache), side by side in the same run; both include
# the lock, meta-package, repositories and the staged publish. It prints
# full-s, incremental-s and incremental-% and fails when the incremental
# build takes more than 15% of the full one.
#
#   INCR_COUNT=3 bench/build/run.sh      # 3 full/incremental pairs (default 1)
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p bench/out
go test ./stages/build/ -run '^$' -bench 'Build200' -benchtime "${BENCHTIME:-10x}" -count "${COUNT:-1}" \
  | tee bench/out/build.txt | grep -E '^(Benchmark|goos|goarch|cpu)'
go test ./stages/build/ -run '^$' -bench 'Incremental20' -benchtime "${INCR_COUNT:-1}x" -count 1 \
  | tee bench/out/build-incremental.txt | grep -E '^(Benchmark|cpu)'
awk '/^BenchmarkIncremental20/ { for (i = 1; i < NF; i++) if ($(i+1) == "incremental-%") p = $i }
     END { if (p == "") { print "no incremental-% figure"; exit 1 }
           if (p + 0 > 15) { printf "incremental build %.1f%% of the full one: more than 15%%\n", p; exit 1 }
           printf "incremental build %.1f%% of the full one (at most 15%%)\n", p }' bench/out/build-incremental.txt
