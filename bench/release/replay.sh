#!/usr/bin/env bash
# Replays the release histories of public projects that release by machine
# (semantic-release, release-please: each tag is the version their tool computed from the
# commits before it) with `pipeline --dry-run release` and, on the same
# states, `git-cliff --bumped-version`; prints the match counts side by side
# (the table in docs/release.md). Each state: HEAD at a stable tag's commit,
# only the lower tags present (bench/release/replay drives it).
#
# Usage: bench/release/replay.sh [owner/name ...]     (from anywhere)
# Env:   REPLAY_DIR    where the clones are kept (default /var/tmp/pipeline-replay)
#        REPLAY_MIRROR a directory of existing clones laid out owner+name/repo
#                      (used instead of cloning from GitHub when present)
# Exit:  1 when pipeline misses a tag that bench/release/replay/<owner+name>.except
#        does not list (one "tag reason" a line), or reproduces a listed one.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPLAY_DIR=${REPLAY_DIR:-/var/tmp/pipeline-replay}
REPOS=("$@")
[ ${#REPOS[@]} -gt 0 ] || REPOS=(semantic-release/error semantic-release/commit-analyzer semantic-release/release-notes-generator googleapis/release-please-action)
mkdir -p "$REPLAY_DIR" bench/out
command -v git-cliff >/dev/null || { echo "git-cliff is missing: run scripts/install-deps.sh" >&2; exit 2; }

go build -o bench/out/pipeline ./cmd/pipeline
go build -o bench/out/replay ./bench/release/replay
# The projects start at 1.0.0 (semantic-release's first version); no forge.
cfg=bench/out/replay.yaml
printf 'version: 1\nproject: {name: replay}\nrelease:\n  initial_version: 1.0.0\n' >"$cfg"

echo "git-cliff $(git-cliff --version | cut -d' ' -f2), default configuration"
echo
echo "| project | stable tags | pipeline | git-cliff | listed exceptions |"
echo "|---|---|---|---|---|"
rc=0
for slug in "${REPOS[@]}"; do
	key=${slug/\//+}
	src=""
	if [ -n "${REPLAY_MIRROR:-}" ] && [ -d "$REPLAY_MIRROR/$key/repo" ]; then
		src=$REPLAY_MIRROR/$key/repo
	else
		src=$REPLAY_DIR/$key.git
		[ -d "$src" ] || git clone --quiet --bare "https://github.com/$slug" "$src"
	fi
	except=bench/release/replay/$key.except
	[ -f "$except" ] || except=/dev/null
	bench/out/replay -repo "$src" -name "$slug@$(git -C "$src" rev-parse --short=12 HEAD)" -pipeline bench/out/pipeline \
		-cliff "$(command -v git-cliff)" -config "$cfg" -except "$except" || rc=$?
done
exit $rc
