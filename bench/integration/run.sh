#!/usr/bin/env bash
# Measures the integration stage's check throughput: a 200-check suite on 1
# and on 8 SSH targets (8 real sshd processes on 127.0.0.1, started by the
# benchmark; one SSH connection per target, reused by every check), side by
# side in one run. Prints checks/s and the wall time of each run.
#
#   bash bench/integration/run.sh            # 3 runs of each
#   COUNT=1 bash bench/integration/run.sh
#
# Needs root (sshd) and openssh-server: scripts/install-deps.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-3}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
go test ./stages/integration -run '^$' -bench 'BenchmarkSSHTargets' -benchtime 1x -count "$count" |
	tee /tmp/pipeline-bench-integration.txt |
	awk '/^BenchmarkSSHTargets/ {
		split($1, name, "/"); sub(/-[0-9]+$/, "", name[2])
		printf "%-10s  wall %7.2f s  %8.1f checks/s\n", name[2], $3 / 1e9, $5
	}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
