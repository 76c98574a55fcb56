package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
)

// allStages is the ordered list behind `pipeline run`, each stage with its
// default options. One line per stage.
func allStages() []stages.Stage {
	return []stages.Stage{
		build.New(),                          // packages, lock, meta-package, repos, upload
		stages.NotImplemented("template"),    // dev VM template, rebuilt only when its inputs change
		stages.NotImplemented("integration"), // suites on fresh and upgraded targets, state diff
		stages.NotImplemented("promote"),     // staging → master, culprits named
		stages.NotImplemented("release"),     // version, changelog, notes, milestone, tag
	}
}
