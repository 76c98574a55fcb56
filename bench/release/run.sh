#!/usr/bin/env bash
# Side-by-side benchmark of `pipeline release` against git-cliff's native
# binary on a CI-like clone of a generated repository.
#
# The repository: 100,000 commits, an annotated tag every 200 commits (490
# tags), 2,000 unreleased commits (git fast-import; cached under $BENCH_DIR).
# It is cloned with `git clone --no-local` as a CI job gets it: one pack,
# packed refs, no commit-graph.
#
#   (a) plan + notes of the unreleased range, best of $RUNS_A, the two tools
#       interleaved run by run, warm and then cold (page cache dropped
#       before every run; needs root, else cold is skipped loudly):
#       pipeline --dry-run release      vs  git-cliff --unreleased --bump
#       plus the number of processes each run starts (strace, one extra run)
#   (b) only with BENCH_B=1: the whole CHANGELOG over all tags
#       (git-cliff takes many minutes here):
#       pipeline release changelog -o F  vs  git-cliff -o F
#
# Usage: bench/release/run.sh            (from the repository root)
# Env:   BENCH_DIR (default /var/tmp/pipeline-bench), RUNS_A (3), BENCH_B (0)
# Results: bench/out/release-a.md (and release-b.md with BENCH_B=1).
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH_DIR=${BENCH_DIR:-/var/tmp/pipeline-bench}
RUNS_A=${RUNS_A:-3}
BENCH_B=${BENCH_B:-0}
OUT=$(pwd)/bench/out
mkdir -p "$OUT"

# The native git-cliff binary that npm's git-cliff package ships, not the
# node launcher (node adds ~0.7 s a run).
CLIFF=""
if command -v npm >/dev/null; then
	for c in "$(npm root -g)/git-cliff/node_modules/git-cliff-linux-x64/bin/git-cliff" \
		"$(npm root -g)/git-cliff-linux-x64/bin/git-cliff"; do
		[ -x "$c" ] && CLIFF=$c && break
	done
fi
[ -n "$CLIFF" ] || { echo "git-cliff's native binary is missing: run scripts/install-deps.sh" >&2; exit 2; }
echo "git-cliff: $CLIFF ($("$CLIFF" --version))"

# Built as the project's CI builds the binary every job uses (.gitlab-ci.yml,
# job binary).
go build -trimpath -ldflags "-s -w" -o "$OUT/pipeline" ./cmd/pipeline
PIPELINE=$OUT/pipeline
SRC=$(go run ./bench/release/genrepo -base "$BENCH_DIR")
CLONE=$BENCH_DIR/clone
rm -rf "$CLONE"
git clone --quiet --no-local "$SRC" "$CLONE"
echo "clone: $CLONE ($(git -C "$CLONE" rev-list --count HEAD) commits, $(git -C "$CLONE" tag | wc -l) tags, $(ls "$CLONE/.git/objects/pack/"*.pack | wc -l) pack, commit-graph: $([ -e "$CLONE/.git/objects/info/commit-graph" ] && echo yes || echo no))"
echo "machine: $(nproc) CPUs, git $(git --version | cut -d' ' -f3)"
cd "$CLONE"

PIPE_CMD=("$PIPELINE" --dry-run release)
CLIFF_CMD=("$CLIFF" --unreleased --bump)

# ms runs a command once with its output discarded and prints its wall
# time and its CPU time (user + system, children included) in milliseconds,
# as hyperfine measures them: the command is started directly (-N, no
# shell, no /usr/bin/time wrapper), so nothing but the command is timed.
ms() {
	hyperfine -N --runs 1 --style none --export-json "$OUT/.run.json" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(round(r["times"][0]*1000), round((r["user"]+r["system"])*1000))' "$OUT/.run.json"
}
drop() { sync && echo 3 >/proc/sys/vm/drop_caches; }
can_drop=1
if [ "$(id -u)" != 0 ] || ! drop 2>/dev/null; then
	can_drop=0
	echo "WARNING: not root: the cold runs are SKIPPED (they need to drop the page cache)" >&2
fi

# best MODE prints "pipeline_wall cliff_wall pipeline_cpu cliff_cpu", each
# the minimum over RUNS_A interleaved runs.
best() {
	local mode=$1 p c pc cc bp=999999 bc=999999 bpc=999999 bcc=999999 i
	for ((i = 0; i < RUNS_A; i++)); do
		[ "$mode" = cold ] && drop
		read -r p pc < <(ms "${PIPE_CMD[@]}")
		[ "$mode" = cold ] && drop
		read -r c cc < <(ms "${CLIFF_CMD[@]}")
		echo "  $mode run $((i + 1)): pipeline $p ms (CPU $pc ms), git-cliff $c ms (CPU $cc ms), load $(cut -d' ' -f1 /proc/loadavg)" >&2
		((p < bp)) && bp=$p
		((c < bc)) && bc=$c
		((pc < bpc)) && bpc=$pc
		((cc < bcc)) && bcc=$cc
	done
	echo "$bp $bc $bpc $bcc"
}

ratio() { awk "BEGIN{printf \"%.3f\", $1/$2}"; }

# procs counts the processes a command starts (itself not counted).
procs() {
	if ! command -v strace >/dev/null; then
		echo "?"
		return
	fi
	strace -f -qq -e trace=execve -e signal=none -o /tmp/pipeline-bench-strace.$$ "$@" >/dev/null 2>&1 || true
	local n
	n=$(grep -c 'execve(.*= 0$' /tmp/pipeline-bench-strace.$$ || true)
	rm -f /tmp/pipeline-bench-strace.$$
	echo $((n - 1))
}

"${PIPE_CMD[@]}" >/dev/null 2>&1 && "${CLIFF_CMD[@]}" >/dev/null 2>&1 # warm up
load0=$(cut -d' ' -f1-3 /proc/loadavg)
read -r wp wc wpc wcc < <(best warm)
cold="| cold (page cache dropped before each run) | skipped: not root | | | | |"
if [ "$can_drop" = 1 ]; then
	read -r cp cc cpc ccc < <(best cold)
	cold="| cold (page cache dropped before each run) | **$cp ms** | $cc ms | **$(ratio "$cp" "$cc")×** | $cpc ms vs $ccc ms | $(ratio "$cpc" "$ccc")× |"
fi
load1=$(cut -d' ' -f1-3 /proc/loadavg)
pp=$(procs "${PIPE_CMD[@]}")
cp_=$(procs "${CLIFF_CMD[@]}")
{
	echo "(a) plan + notes of the 2,000 unreleased commits, best of $RUNS_A, interleaved; load average $load0 before, $load1 after ($(nproc) CPUs)"
	echo
	echo "| cache | pipeline --dry-run release | git-cliff --unreleased --bump | ratio (wall) | CPU (user + sys) | ratio (CPU) |"
	echo "|---|---|---|---|---|---|"
	echo "| warm | **$wp ms** | $wc ms | **$(ratio "$wp" "$wc")×** | $wpc ms vs $wcc ms | $(ratio "$wpc" "$wcc")× |"
	echo "$cold"
	echo "| processes started per run | $pp | $cp_ | | | |"
} | tee "$OUT/release-a.md"

if [ "$BENCH_B" = 1 ]; then
	hyperfine -N --runs 1 --export-markdown "$OUT/release-b.md" \
		-n "pipeline release changelog" "$PIPELINE release changelog -o /tmp/pipeline-bench-changelog.md" \
		-n "git-cliff -o" "$CLIFF -o /tmp/git-cliff-bench-changelog.md"
fi
