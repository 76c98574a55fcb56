#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian 12 machine.
# Idempotent: a second run only checks. Run as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

apt_pkgs=(
  git ca-certificates xz-utils zstd
  dpkg-dev apt-utils gnupg rpm createrepo-c aptly
  mmdebstrap e2fsprogs fdisk dosfstools mtools qemu-utils qemu-system-x86 ovmf
  podman runc bubblewrap uidmap fuse-overlayfs slirp4netns
  openssh-server openssh-client
  vagrant groovy hyperfine strace time
  iproute2 procps
)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PIPELINE_DEPS_SKIP="npm minio ..." leaves out the npm tools and the named
# scripts/deps/*.sh (the demo needs neither the test tools nor MinIO).
skip=" ${PIPELINE_DEPS_SKIP:-} "

# npm tools used by the benchmarks. (gitlab-ci-local, for the CI-file
# tests, is pinned by scripts/deps/e2e.sh: the newest needs Node 22.)
if [[ "$skip" != *" npm "* ]]; then
  for t in git-cliff; do
    command -v "$t" >/dev/null || { echo "install-deps: npm install -g $t"; npm install -g --silent "$t" >/dev/null; }
  done
fi

# Extra per-area install steps (each area owns one file).
for f in "$here"/deps/*.sh; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .sh)
  [[ "$skip" == *" $name "* ]] && continue
  bash "$f"
done
echo "install-deps: ok"
