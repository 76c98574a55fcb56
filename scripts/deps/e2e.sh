#!/usr/bin/env bash
# The end-to-end tests' tools: gitlab-ci-local (runs .gitlab-ci.yml files with
# the shell executor) pinned to a version that runs on Node 18-20 (4.65 and
# later use Set.prototype.union, Node 22 only: "kW.union is not a function"),
# installed into its own prefix so a global one of another version does not
# interfere; groovy (the Jenkinsfile walk). Idempotent.
set -euo pipefail
GCL_VERSION=4.64.1
prefix=/var/tmp/pipeline-tools/gitlab-ci-local-$GCL_VERSION
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

missing=()
command -v npm >/dev/null || missing+=(npm)
command -v groovy >/dev/null || missing+=(groovy)
command -v rsync >/dev/null || missing+=(rsync) # gitlab-ci-local copies the project with it
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps/e2e: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$("$prefix/node_modules/.bin/gitlab-ci-local" --version 2>/dev/null)" != "$GCL_VERSION" ]; then
  echo "deps/e2e: npm install gitlab-ci-local@$GCL_VERSION into $prefix"
  mkdir -p "$prefix"
  npm install --loglevel=error --no-audit --no-fund --prefix "$prefix" "gitlab-ci-local@$GCL_VERSION" >/dev/null
fi
