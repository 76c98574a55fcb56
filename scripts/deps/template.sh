#!/usr/bin/env bash
# Tools of the template stage (stages/template) and the qemu runner
# (runners/qemu): bootstrap, provision without host mounts, build GPT disks
# without loop devices, convert images, boot them, and Vagrant for the
# catalog test. Idempotent: installs only what is missing.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
need=(
  mmdebstrap:mmdebstrap bwrap:bubblewrap tar:tar
  mkfs.ext4:e2fsprogs mkfs.vfat:dosfstools mcopy:mtools sfdisk:fdisk
  qemu-img:qemu-utils qemu-system-x86_64:qemu-system-x86
  ssh:openssh-client ssh-keygen:openssh-client vagrant:vagrant
)
missing=()
for n in "${need[@]}"; do
  command -v "${n%%:*}" >/dev/null 2>&1 || missing+=("${n#*:}")
done
# OVMF for booting the disks through their EFI partition.
[ -e /usr/share/ovmf/OVMF.fd ] || missing+=(ovmf)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps/template: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
