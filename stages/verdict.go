package stages

import (
	"context"
	"errors"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/verdict"
)

// Tally is what a stage counted when it judged the commit.
type Tally struct {
	Passed, Failed int
	// Shard is "I/N" for one shard of a sharded run, "" otherwise.
	Shard string
}

// RecordVerdict is called by integration and promote at their end: it
// leaves the stage's verdict on the job's commit (the MR head in a
// merge-request pipeline) in the artifact store, where `pipeline serve`
// answers the MR's external status check from, and, when the job runs for
// an MR and serve.checks names this stage with its GitLab id, answers that
// check itself (no polling needed). Only passed and failed outcomes are
// recorded; nothing under --dry-run. It never fails the stage: what it
// cannot do is a warning.
func RecordVerdict(ctx context.Context, env *Env, stage string, res *Result, t Tally) {
	if env == nil || env.Config == nil || env.DryRun || res == nil || (res.Outcome != Passed && res.Outcome != Failed) {
		return
	}
	sha := gitops.StatusSHA(env.CI)
	if sha == "" {
		return // not in CI: no commit to speak for
	}
	st, err := artifacts.Open(ctx, env.Config.Artifacts.URL, artifacts.Settings{Base: env.Repo, S3: env.Config.Artifacts.S3, Env: env.CI.Env})
	if err != nil {
		env.Log.Warnf("%s: verdict not recorded: %v", stage, err)
		return
	}
	v := verdict.Verdict{Stage: stage, Commit: sha, Outcome: string(res.Outcome), Summary: res.Summary,
		Passed: t.Passed, Failed: t.Failed, URL: env.CI.JobURL, Time: time.Now().UTC(), Shard: t.Shard}
	key := verdict.Key(sha, stage, t.Shard)
	// A re-run that reaches the same verdict leaves the first one alone.
	if old, err := verdict.Read(ctx, st, key); err == nil && old != nil && old.Outcome == v.Outcome && old.Summary == v.Summary {
		env.Log.Infof("%s: verdict %s already recorded at %s", stage, v.Outcome, st.URL(key))
	} else if err := verdict.Write(ctx, st, v); err != nil {
		env.Log.Warnf("%s: verdict not recorded: %v", stage, err)
		return
	} else {
		env.Log.Infof("%s: verdict %s recorded at %s", stage, v.Outcome, st.URL(key))
	}

	check := env.Config.Serve.Check(stage)
	if check == nil || check.ID == 0 || env.CI.MergeRequest == 0 || env.Forge == nil || env.Forge.Kind() != "gitlab" {
		return
	}
	all, err := verdict.Combined(ctx, st, sha, stage) // the shards' verdicts together
	if err != nil {
		env.Log.Warnf("%s: external status check not answered: %v", stage, err)
		return
	}
	if all.Outcome == verdict.Pending {
		env.Log.Infof("%s: external status check left pending: %s", stage, all.Summary)
		return
	}
	err = env.Forge.SetExternalStatusCheck(ctx, env.CI.MergeRequest, check.ID, sha, all.Outcome)
	switch {
	case errors.Is(err, gitops.ErrStaleSHA):
		env.Log.Infof("%s: external status check not answered: !%d has a newer head than %s", stage, env.CI.MergeRequest, sha)
	case err != nil:
		env.Log.Warnf("%s: external status check not answered: %v", stage, err)
	default:
		env.Log.Infof("%s: external status check %d on !%d answered %s", stage, check.ID, env.CI.MergeRequest, all.Outcome)
	}
}
