#!/usr/bin/env bash
# The culprit comment's Mermaid diagram is checked by mermaid's own parser
# (scripts/mermaid-check.mjs; stages/promote's TestCulpritDiagramParses):
# mermaid 11.17.2, the last that runs on Node 20 (12.x wants Node 22), with
# jsdom for the DOM its sanitizer needs, in a prefix of its own. Idempotent.
set -euo pipefail
MERMAID_VERSION=11.17.2
JSDOM_VERSION=26.1.0
prefix=/var/tmp/pipeline-tools/mermaid-$MERMAID_VERSION
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

if ! command -v npm >/dev/null; then
  echo "deps/mermaid: apt-get install npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends npm >/dev/null
fi
have() { node -p "require('$prefix/node_modules/$1/package.json').version" 2>/dev/null; }
if [ "$(have mermaid)" != "$MERMAID_VERSION" ] || [ "$(have jsdom)" != "$JSDOM_VERSION" ]; then
  echo "deps/mermaid: npm install mermaid@$MERMAID_VERSION jsdom@$JSDOM_VERSION into $prefix"
  mkdir -p "$prefix"
  npm install --silent --no-audit --no-fund --engine-strict --prefix "$prefix" \
    "mermaid@$MERMAID_VERSION" "jsdom@$JSDOM_VERSION" >/dev/null
fi
