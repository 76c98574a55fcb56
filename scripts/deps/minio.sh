#!/usr/bin/env bash
# MinIO server for the S3 artifact-store tests. Built from the Go module proxy
# once (about 8 minutes of CPU on 2 cores; scripts/install-deps.sh runs it in
# the background while apt installs) and cached in $(go env GOPATH)/bin.
# Pinned, so every machine tests against the same server: the version is the
# one `@latest` resolved to when it was pinned (2026-12).
set -euo pipefail
version=v0.0.0-20260212201848-7aac2a2c5b7c
bin="$(go env GOPATH)/bin/minio"
have=$(go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/minio/minio" {print $3}' || true)
if [ "$have" != "$version" ]; then
  echo "deps/minio: go install github.com/minio/minio@$version (first time: ~8 minutes)"
  GOFLAGS=-mod=mod go install "github.com/minio/minio@$version"
fi
