#!/usr/bin/env bash
# internal/report validates its JUnit XML with xmllint (libxml2-utils).
set -euo pipefail
command -v xmllint >/dev/null && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "deps/report: apt-get install libxml2-utils"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends libxml2-utils >/dev/null
