#!/usr/bin/env bash
# Times scripts/install-deps.sh as a new machine runs it: in a podman
# container made from a fresh Debian 12 minbase rootfs (mmdebstrap), with
# only what this kind of machine starts with brought in from the host (Go,
# Node 20 + npm, the CA bundle and npm settings the registries need), an
# empty GOPATH, Go build cache and npm cache. Prints install-deps' own phase
# times and the whole wall time.
#
#   sudo bash bench/install/fresh.sh            # a clone of this checkout's HEAD
#   WORK=/var/tmp/fresh bash bench/install/fresh.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-/var/tmp/pipeline-bench-install}
mkdir -p "$work"
cd "$work"
if [ ! -f rootfs.tar ]; then
  echo "fresh: bootstrapping a Debian 12 minbase rootfs"
  mmdebstrap --variant=minbase --include=ca-certificates bookworm rootfs.tar >mmdebstrap.log 2>&1
fi
cat > containers.conf <<'C'
[engine]
runtime = "/usr/sbin/runc"
cgroup_manager = "cgroupfs"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
C
export CONTAINERS_CONF=$work/containers.conf
P=(podman --storage-driver=vfs --root "$work/storage" --runroot "$work/run")
"${P[@]}" image exists fresh-deb || "${P[@]}" import rootfs.tar fresh-deb >/dev/null
rm -rf src logs && mkdir -p logs && git clone -q "$repo" src
ca=/etc/ssl/certs/ca-certificates.crt
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
mounts=(-v /usr/local/go:/usr/local/go:ro -v "$(command -v node)":/usr/bin/node:ro
  -v "$npm_dir":/usr/lib/node_modules/npm:ro -v "$work/src":/src -v "$work/logs":/tmp/pipeline-deps
  -v "$ca":/host-ca.crt:ro)
[ -f /root/.npmrc ] && mounts+=(-v /root/.npmrc:/root/.npmrc:ro)
"${P[@]}" run --rm --network host --privileged "${mounts[@]}" \
  -e PATH=/usr/local/go/bin:/root/go/bin:/usr/sbin:/usr/bin:/sbin:/bin -e GOTOOLCHAIN=local \
  -e SSL_CERT_FILE=/host-ca.crt -e NODE_EXTRA_CA_CERTS=/host-ca.crt -e npm_config_cafile=/host-ca.crt \
  -e GIT_SSL_CAINFO=/host-ca.crt fresh-deb \
  bash -c 'ln -sf /usr/lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm; cd /src && s=$(date +%s) && bash scripts/install-deps.sh && echo "fresh: install-deps took $(( $(date +%s) - s ))s"'
