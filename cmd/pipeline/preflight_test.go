package main

import (
	"testing"

	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// The preflight wrapper keeps the stage's per-shard status name: without it
// every shard of a parallel job posted "pipeline/integration".
func TestPreflightedKeepsStatusName(t *testing.T) {
	s := preflighted(&integration.Stage{Opts: integration.Options{Shard: 1, Shards: 2}})
	if got := stages.StatusNameOf(s, &stages.Env{}); got != "integration 1/2" {
		t.Fatalf("status name %q, want %q", got, "integration 1/2")
	}
	if s.Name() != "integration" {
		t.Fatalf("name %q", s.Name())
	}
}
