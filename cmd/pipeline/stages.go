package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/integration"
	"github.com/pipeline-ci/pipeline/stages/promote"
	"github.com/pipeline-ci/pipeline/stages/release"
	"github.com/pipeline-ci/pipeline/stages/template"
)

// allStages is the ordered list behind `pipeline run`, each stage with its
// default options. One line per stage.
func allStages() []stages.Stage {
	return []stages.Stage{
		build.New(),                      // packages, lock, meta-package, repos, upload
		template.New(template.Options{}), // dev VM template, rebuilt only when its inputs change
		&integration.Stage{},             // suites on fresh and upgraded targets, state diff
		promote.New(),                    // staging → master, culprits named
		release.New(release.Options{}),   // version, changelog, notes, milestone, tag
	}
}
