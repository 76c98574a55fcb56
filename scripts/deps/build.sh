#!/usr/bin/env bash
# Tools the build stage's tests and the example appliance need beyond
# scripts/install-deps.sh's list: make (the example components' builds),
# rpm's rpmbuild, createrepo_c, gpg/gpgv (the throwaway signing key),
# mmdebstrap (the chroot install test), dnf (resolving the YUM repository
# as rpm-based targets do). Idempotent.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(make rpm createrepo-c gnupg gpgv apt-utils dpkg-dev mmdebstrap tar dnf)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps(build): apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
