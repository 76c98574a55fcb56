#!/usr/bin/env bash
# MinIO server for the S3 artifact-store tests. Built from the Go module proxy once
# (about 8 minutes) and cached in $(go env GOPATH)/bin.
set -euo pipefail
bin="$(go env GOPATH)/bin/minio"
if [ ! -x "$bin" ]; then
  echo "install-deps: go install github.com/minio/minio@latest (first time: ~8 minutes)"
  GOFLAGS=-mod=mod go install github.com/minio/minio@latest
fi
