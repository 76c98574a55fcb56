package main

import (
	"slices"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
)

// The stage values of `pipeline run` and config.AllStages (the names the
// configuration accepts, in order) are one list: config.AllStages is its
// home, and allStages must build exactly those, in that order.
func TestAllStagesFollowConfig(t *testing.T) {
	var names []string
	for _, s := range allStages() {
		names = append(names, s.Name())
	}
	if !slices.Equal(names, config.AllStages) {
		t.Fatalf("allStages() = %v, config.AllStages = %v", names, config.AllStages)
	}
}
