#!/usr/bin/env bash
# Integration stage (runners/, stages/integration): what its tests drive on
# a fresh Debian 12 machine — bubblewrap and util-linux (nsenter, unshare)
# for chroot targets, podman + runc for container targets, a real sshd for
# ssh targets, qemu for qemu targets, mmdebstrap for the shared test rootfs,
# make/dpkg-dev/rpm for building the example appliance. Idempotent.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
pkgs=(bubblewrap util-linux podman runc openssh-server openssh-client qemu-system-x86 mmdebstrap make dpkg-dev rpm createrepo-c procps coreutils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps/integration: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# sshd's privilege separation directory (the tests start their own sshd).
$SUDO mkdir -p /run/sshd
