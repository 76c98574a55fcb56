package stages

import (
	"context"
	"errors"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// RecordVerdict is called by integration and promote at their end with
// their verdict on the job's commit (the MR head in a merge-request
// pipeline). It hands the verdict on (this run, the report dir) and, when
// the stage judged the change (passed or failed), publishes it to the
// artifact store at verdicts/<sha>/<name>.json, where `pipeline serve`
// answers the MR's external status check from. When the job runs for an MR
// and serve.checks names this stage with its GitLab id, it answers that
// check itself (no polling needed). Nothing is written under --dry-run or
// after a cancel. It never fails the stage: what it cannot do is a warning.
func RecordVerdict(ctx context.Context, env *Env, v *handoff.Verdict) {
	if env == nil || env.Config == nil || v == nil {
		return
	}
	if ctx.Err() != nil {
		// A cancelled run decided nothing about the commit.
		return
	}
	if v.Commit == "" {
		if v.Commit = gitops.StatusSHA(env.CI); v.Commit == "" {
			v.Commit = env.Commit(ctx)
		}
	}
	if v.URL == "" {
		v.URL = env.CI.JobURL
	}
	if v.Time.IsZero() {
		v.Time = time.Now().UTC()
	}
	judged := v.Outcome == handoff.OutcomePassed || v.Outcome == handoff.OutcomeFailed
	if env.DryRun || !judged || v.Commit == "" {
		// In process and in the report dir only (HandOn writes nothing
		// under --dry-run).
		if err := env.HandOn(ctx, nil, v); err != nil {
			env.Log.Warnf("%s: verdict not recorded: %v", v.Stage, err)
		}
		return
	}
	st, err := env.OpenStore(ctx)
	if err != nil {
		env.Log.Warnf("%s: verdict not published to the artifact store: %v", v.Stage, err)
	}
	key := handoff.VerdictKey(v.Commit, v.Name())
	if st != nil {
		// A re-run that reaches the same verdict keeps the first one's
		// time: the same bytes, nothing changed.
		if old, err := handoff.ReadVerdict(ctx, st, key); err == nil && old != nil {
			same := *old
			same.Time = v.Time
			if same == *v {
				v.Time = old.Time
			}
		}
	}
	if err := env.HandOn(ctx, st, v); err != nil {
		env.Log.Warnf("%s: verdict not recorded: %v", v.Stage, err)
		return
	}
	if st == nil {
		return
	}
	env.Log.Infof("%s: verdict %s recorded at %s", v.Stage, v.Outcome, st.URL(key))

	check := env.Config.Serve.Check(v.Stage)
	if check == nil || check.ID == 0 || env.CI.MergeRequest == 0 || env.Forge == nil || !gitops.Can(env.Forge).ExternalStatusChecks {
		return
	}
	all, err := handoff.CombinedVerdict(ctx, st, v.Commit, v.Stage) // the shards' verdicts together
	if err != nil {
		env.Log.Warnf("%s: external status check not answered: %v", v.Stage, err)
		return
	}
	if all.Outcome == handoff.OutcomePending {
		env.Log.Infof("%s: external status check left pending: %s", v.Stage, all.Summary)
		return
	}
	err = env.Forge.SetExternalStatusCheck(ctx, env.CI.MergeRequest, check.ID, v.Commit, all.Outcome)
	switch {
	case errors.Is(err, gitops.ErrStaleSHA):
		env.Log.Infof("%s: external status check not answered: !%d has a newer head than %s", v.Stage, env.CI.MergeRequest, v.Commit)
	case err != nil:
		env.Log.Warnf("%s: external status check not answered: %v", v.Stage, err)
	default:
		env.Log.Infof("%s: external status check %d on !%d answered %s", v.Stage, check.ID, env.CI.MergeRequest, all.Outcome)
	}
}
