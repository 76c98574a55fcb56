#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian 12 machine.
# Idempotent: a second run only checks. Run as root (or with sudo available).
#
# On a new machine most of the time is the MinIO build (Go, CPU-bound) and
# the apt downloads (network/disk-bound), so they run side by side: the Go
# builds (scripts/deps/minio.sh, scripts/deps/lint.sh) and the npm installs
# start in the background first, then one `apt-get update` and one
# `apt-get install` take the union of every area's packages, then each
# area's script runs (finding its packages there) and the background jobs
# are waited for. Their output goes to $PIPELINE_DEPS_LOGS (default
# /tmp/pipeline-deps) and is printed if one fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
logs=${PIPELINE_DEPS_LOGS:-/tmp/pipeline-deps}
mkdir -p "$logs"
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }

# PIPELINE_DEPS_SKIP="npm minio ..." leaves out the npm tools and the named
# scripts/deps/*.sh (the demo needs neither the test tools nor MinIO).
skip=" ${PIPELINE_DEPS_SKIP:-} "
skipped() { [[ "$skip" == *" $1 "* ]]; }

# Background jobs: the Go builds and npm tools, which need no apt package
# (Go and Node come with the machine).
background=(minio lint)
pids=() names=()
for name in "${background[@]}"; do
  f="$here/deps/$name.sh"
  [ -e "$f" ] && ! skipped "$name" || continue
  bash "$f" >"$logs/$name.log" 2>&1 &
  pids+=($!) names+=("$name")
done
if ! skipped npm; then
  # npm tools used by the benchmarks. (gitlab-ci-local, for the CI-file
  # tests, is pinned by scripts/deps/e2e.sh: the newest needs Node 22.)
  (
    for t in git-cliff; do
      command -v "$t" >/dev/null || { echo "npm install -g $t"; npm install -g --silent --no-audit --no-fund "$t"; }
    done
  ) >"$logs/npm.log" 2>&1 &
  pids+=($!) names+=(npm)
fi

# Every area's Debian packages in one apt run (each scripts/deps/*.sh checks
# its own again and installs only what is still missing).
apt_pkgs=(
  git ca-certificates xz-utils zstd tar coreutils util-linux procps iproute2 rsync
  make dpkg-dev apt-utils gnupg gpgv rpm createrepo-c aptly dnf libxml2-utils
  mmdebstrap e2fsprogs fdisk dosfstools mtools qemu-utils qemu-system-x86 ovmf
  podman runc bubblewrap uidmap fuse-overlayfs slirp4netns
  openssh-server openssh-client
  vagrant groovy hyperfine strace time
)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: apt done ($(elapsed))"
fi

# Extra per-area install steps (each area owns one file).
for f in "$here"/deps/*.sh; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .sh)
  skipped "$name" && continue
  [[ " ${background[*]} " == *" $name "* ]] && continue
  bash "$f"
done

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "install-deps: ${names[$i]} done ($(elapsed))"
  else
    echo "install-deps: ${names[$i]} failed; its output ($logs/${names[$i]}.log):" >&2
    tail -n 40 "$logs/${names[$i]}.log" >&2
    failed=1
  fi
done
[ "$failed" = 0 ] || exit 1
echo "install-deps: ok ($(elapsed))"
