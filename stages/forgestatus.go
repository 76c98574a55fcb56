package stages

import (
	"context"
	"errors"

	"github.com/pipeline-ci/pipeline/gitops"
)

// postStageStatus posts the commit status "pipeline/<stage>" when
// forge.statuses is on: pending before the stage, success or failed after.
// A status that cannot be posted is a warning, never the stage's failure:
// the stage's own verdict is what counts.
func postStageStatus(ctx context.Context, env *Env, stage, state, description string) {
	if env.Config == nil || !env.Config.Forge.Statuses || env.Forge == nil || !gitops.Can(env.Forge).Writes {
		return
	}
	sha := gitops.StatusSHA(env.CI)
	name := "pipeline/" + stage
	if sha == "" {
		env.Log.Warnf("status %s not posted: no commit known from the CI context", name)
		return
	}
	if env.DryRun {
		env.Log.Infof("dry run: would post status %s=%s", name, state)
		return
	}
	ref := env.CI.Branch
	if ref == "" {
		ref = env.CI.Tag
	}
	err := env.Forge.SetStatus(ctx, gitops.Status{SHA: sha, Ref: ref, Name: name, State: state,
		Description: firstLine(description), TargetURL: env.CI.JobURL})
	if err != nil && !errors.Is(err, gitops.ErrNoForge) {
		env.Log.Warnf("status %s=%s not posted: %v", name, state, err)
	}
}
