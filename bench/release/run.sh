#!/usr/bin/env bash
# Side-by-side benchmark of `pipeline release` against git-cliff 2.x on a
# generated repository: 100,000 commits, 500 tags, 2,000 unreleased commits
# (git fast-import; cached under $BENCH_DIR so reruns start at once).
#
#   (a) plan + notes of the unreleased range:
#       pipeline --dry-run release      vs  git-cliff --unreleased --bump
#   (b) the whole CHANGELOG over all tags:
#       pipeline release changelog -o F  vs  git-cliff -o F
#
# Usage: bench/release/run.sh            (from the repository root)
# Env:   BENCH_DIR (default /var/tmp/pipeline-bench), RUNS_A (10), RUNS_B (3)
# Results: bench/out/release-a.md, bench/out/release-b.md (hyperfine tables)
# and the Go benchmarks' output in bench/out/release-go.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
BENCH_DIR=${BENCH_DIR:-/var/tmp/pipeline-bench}
RUNS_A=${RUNS_A:-10}
RUNS_B=${RUNS_B:-3}
OUT=bench/out
mkdir -p "$OUT"

command -v hyperfine >/dev/null || { echo "hyperfine is missing: run scripts/install-deps.sh" >&2; exit 2; }
# The native git-cliff binary, not the npm launcher (node adds ~0.7 s a run).
CLIFF=""
if command -v npm >/dev/null; then
	c="$(npm root -g)/git-cliff/node_modules/git-cliff-linux-x64/bin/git-cliff"
	[ -x "$c" ] && CLIFF=$c
fi
[ -n "$CLIFF" ] || CLIFF=$(command -v git-cliff) || { echo "git-cliff is missing: npm install -g git-cliff" >&2; exit 2; }
echo "git-cliff: $CLIFF ($("$CLIFF" --version))"

go build -o "$OUT/pipeline" ./cmd/pipeline
PIPELINE=$(pwd)/$OUT/pipeline
REPO=$(go run ./bench/release/genrepo -base "$BENCH_DIR")
echo "repository: $REPO ($(git -C "$REPO" rev-list --count HEAD) commits, $(git -C "$REPO" tag | wc -l) tags)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

cd "$REPO"
# Both tools read the same history; neither writes into the repository
# (pipeline runs with --dry-run, git-cliff only prints).
hyperfine -N --warmup 2 --runs "$RUNS_A" --export-markdown "$OLDPWD/$OUT/release-a.md" \
	-n "pipeline --dry-run release" "$PIPELINE --dry-run release" \
	-n "git-cliff --unreleased --bump" "$CLIFF --unreleased --bump"
hyperfine -N --runs "$RUNS_B" --export-markdown "$OLDPWD/$OUT/release-b.md" \
	-n "pipeline release changelog" "$PIPELINE release changelog -o /tmp/pipeline-bench-changelog.md" \
	-n "git-cliff -o" "$CLIFF -o /tmp/git-cliff-bench-changelog.md"
cd "$OLDPWD"

# The Go benchmarks (in-process: the same work without process start-up).
PIPELINE_BENCH_DIR=$BENCH_DIR go test ./stages/release -run '^$' -bench . -benchtime 10x | tee "$OUT/release-go.txt"
echo
cat "$OUT/release-a.md" "$OUT/release-b.md"
