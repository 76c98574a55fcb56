#!/usr/bin/env bash
# Times README's test command as CI runs it: `CI=true bash .ci/run` on a
# clean clone of this repository's HEAD, every output line stamped with the
# wall-clock time, then a table of the phases (from scripts/test.sh's "== …
# (Ns)" lines), the slowest test packages and the whole run.
#
# On a machine that has just booted with nothing installed this is the
# "new machine" figure of README (issue #17): run it first, before anything
# else fills a cache. On any other machine it gives the warm figure.
#
#   bash bench/install/whole-run.sh              # clone to /tmp/pipeline-whole-run
#   CLONE=/work/ci bash bench/install/whole-run.sh
#
# The log is kept in $LOG (default bench/out/whole-run.log), the table in
# bench/out/whole-run.md.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
CLONE=${CLONE:-/tmp/pipeline-whole-run}
OUT=$repo/bench/out
LOG=${LOG:-$OUT/whole-run.log}
mkdir -p "$OUT"

rm -rf "$CLONE"
git clone --quiet "$repo" "$CLONE"
echo "clone: $CLONE at $(git -C "$CLONE" log --oneline -1)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), up $(cut -d' ' -f1 /proc/uptime) s"

start=$(date +%s)
(cd "$CLONE" && CI=true bash .ci/run 2>&1) | while IFS= read -r line; do
	printf '%(%T)T %s\n' -1 "$line"
done >"$LOG"
rc=${PIPESTATUS[0]}
total=$(($(date +%s) - start))

# The phases: each "== name (Ns)" line starts a phase at N seconds.
{
	echo "README's test command on $(date -u +%Y-%m-%d), $(nproc) CPUs: exit $rc, **$total s**"
	echo
	echo "| phase | seconds |"
	echo "|---|---|"
	grep -E '^[0-9:]+ == ' "$LOG" | grep -v ' == done (' | sed -E 's/^[0-9:]+ == (.*) \(([0-9]+)s\)$/\2\t\1/' |
		awk -F'\t' -v total="$total" '
			NR > 1 { printf "| %s | %d |\n", name, $1 - at }
			{ name = $2; at = $1 }
			END { if (NR > 0) printf "| %s | %d |\n", name, total - at }'
	echo
	echo "Slowest packages (go test's own figures; two run at a time):"
	echo
	grep -E '^[0-9:]+ (ok|FAIL)[[:space:]]+github.com/' "$LOG" | awk '{print $4, $3}' | sort -rn | head -6 | sed 's/^/    /'
	if grep -qE -- '--- FAIL' "$LOG"; then
		echo
		echo "Failed tests:"
		grep -E -- '--- FAIL' "$LOG" | sed 's/^/    /'
	fi
} | tee "$OUT/whole-run.md"
exit "$rc"
