#!/usr/bin/env bash
# README's first command: the whole release flow of the example appliance,
# for real, on this machine.
#
#   bash scripts/demo.sh [WORK_DIR]      (as root, on Debian 12 / Ubuntu with Go)
#
# It installs what the stages need (scripts/install-deps.sh, without the
# test-only tools), builds the pipeline binary, and makes a scratch copy of
# examples/appliance in WORK_DIR (default: a new /tmp/pipeline-demo.XXXX):
# a git repository with a bare "origin", master at v1.0.0 and staging ahead
# of it by three commits, one of them bad. Then, with the local defaults
# (file:// artifact store, forge none):
#
#   pipeline run            build → template → integration on master, then
#                           promote tests staging: the good commits land on
#                           master, the bad one is named culprit (promote
#                           exits 1 for that, which ends the run — as the
#                           culprit fails the promote job in CI)
#   pipeline run release    the release of what master now has
#
# and prints where everything is. WORK_DIR needs about 3.5 GB.
# docs/demo.md has the measured times.
set -euo pipefail

# (PIPELINE_SRC: the source tree, when this script is run from a copy.)
src=${PIPELINE_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
start=$(date +%s)
say() { printf '\n\033[1m== %s\033[0m (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }
die() { echo "demo: $*" >&2; exit 1; }

cat <<'EOF'
pipeline demo: build → template → integration → promote → release of the
example appliance, for real. It takes about 8 minutes on a 2-core machine
without KVM once the Debian packages are installed and the two Debian bases
are cached (template ~3 min with a smoke boot under qemu, promote ~4 min: 8
test runs, each a build plus integration). The first time on a machine adds
the Debian packages and the two bases: the integration base ~2 min, the
template's (a kernel, its modules and initramfs) a few minutes on an idle
machine and 20 on a busy one; docs/template.md says why. Their progress
(packages unpacked of those to install, MB downloaded) is logged every minute.
Every step logs its progress; the summary at the end says where things are.
EOF

# Building images, chroots and installing packages needs root.
[ "$(id -u)" = 0 ] || die "run me as root (sudo bash scripts/demo.sh): the template and integration stages bootstrap Debian systems and chroot into them."
command -v go >/dev/null || die "Go is not installed: install Go 1.26 (https://go.dev/doc/install) and run me again."

say "installing the Debian packages the stages need (scripts/install-deps.sh)"
# The test-only tools (npm's git-cliff and gitlab-ci-local, the MinIO
# build) are not needed for the demo.
PIPELINE_DEPS_SKIP="npm minio e2e" bash "$src/scripts/install-deps.sh"

work=${1:-$(mktemp -d /tmp/pipeline-demo.XXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ -z "$(ls -A "$work")" ] || die "$work is not empty: give an empty or new directory."

say "building the pipeline binary into $work/bin"
(cd "$src" && go build -o "$work/bin/pipeline" ./cmd/pipeline)
export PATH="$work/bin:$PATH"
pipeline version

# The integration targets' Debian root filesystem (chroot and podman) is
# bootstrapped by the integration stage itself the first time
# (integration.bootstrap in pipeline.yaml) and kept in
# /var/cache/pipeline/rootfs for the next runs.

say "making the scratch repository $work/appliance (origin: $work/origin.git)"
# The same layout as this repository (the example in examples/appliance),
# so pipeline.yaml's paths hold as they are.
repo=$work/appliance
app=$repo/examples/appliance
mkdir -p "$app"
cp -a "$src/examples/appliance/." "$app/"
rm -rf "$app/.pipeline" "$app"/components/*/dist
printf '.pipeline/\ndist/\n' > "$repo/.gitignore"
git init -q -b master "$repo"
git -C "$repo" config user.name "Demo Developer"
git -C "$repo" config user.email "dev@appliance.example"
git -C "$repo" add -A
git -C "$repo" commit -q -m "feat: the appliance, version 1.0.0"
git -C "$repo" tag -a v1.0.0 -m "appliance 1.0.0"
git init -q --bare -b master "$work/origin.git"
git -C "$repo" remote add origin "$work/origin.git"
git -C "$repo" push -q origin master v1.0.0

# staging: three commits ahead of master, the middle one bad.
git -C "$repo" checkout -q -b staging
# (cp -R, not cp -a: a copy that kept the change files' old mtimes and sizes
# would look unchanged to git, which would then leave them out of the commit.)
cp -R "$app/changes/good/." "$app/"
git -C "$repo" add -A
git -C "$repo" commit -q -m "feat(agent): status reports the polling interval"
cp -R "$app/changes/bad-fresh-only/." "$app/"
git -C "$repo" add -A
git -C "$repo" commit -q -m "fix(agent): enable the service from postinst only on upgrade"
echo "Documentation: /usr/share/doc/appliance-config" >> "$app/components/appliance-config/motd"
git -C "$repo" commit -q -am "docs(config): the motd says where the documentation is"
git -C "$repo" push -q origin staging
git -C "$repo" checkout -q master
git -C "$repo" log --oneline --graph master staging

say "production build: master at v1.0.0, the repository upgraded servers start from"
pipeline -C "$app" build
mkdir -p "$work/prod"
cp -a "$app/.pipeline/build/apt" "$work/prod/apt"
export APPLIANCE_PREVIOUS=1.0.0 APPLIANCE_PROD_APT_REPO=$work/prod/apt

say "pipeline run: build → template → integration → promote"
set +e
pipeline -C "$app" run
run_rc=$?
set -e
echo "pipeline run exited $run_rc (1 = promote named a culprit, as expected here)"
cp "$app/.pipeline/reports/pipeline.json" "$work/run.json"
[ "$run_rc" = 0 ] || [ "$run_rc" = 1 ] || die "pipeline run failed with exit $run_rc (2 config, 3 infrastructure): see the log above."

say "pipeline run release: the release of what master now has"
git -C "$repo" pull -q --ff-only origin master
# release.mode is mr: the first run commits the version and changelog on
# pipeline-release/master for the release MR (with forge none nobody opens
# it: we merge it here, as a reviewer would), the run after the merge tags.
pipeline -C "$app" run release
cp "$app/.pipeline/reports/pipeline.json" "$work/release.json"
say "merging the release branch (the release MR) and finishing the release"
git -C "$repo" merge -q --ff-only origin/pipeline-release/master
git -C "$repo" push -q origin master
pipeline -C "$app" run release
cp "$app/.pipeline/reports/pipeline.json" "$work/release-tag.json"

say "done in $(( $(date +%s) - start ))s"
bash "$src/scripts/demo-summary.sh" "$work" "$app" "$repo"
