package integration_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

func TestStatusNamePerJob(t *testing.T) {
	gitlab := func(i, n int) *stages.Env {
		return &stages.Env{CI: ci.Context{Provider: ci.GitLab, NodeIndex: i, NodeTotal: n}}
	}
	for _, c := range []struct {
		opts integration.Options
		env  *stages.Env
		want string
	}{
		{integration.Options{}, gitlab(0, 0), "integration"},
		{integration.Options{}, gitlab(1, 1), "integration"},
		{integration.Options{}, gitlab(2, 3), "integration 2/3"}, // parallel: 3
		{integration.Options{Shard: 1, Shards: 2}, gitlab(0, 0), "integration 1/2"},
		{integration.Options{Shard: 1, Shards: 2}, gitlab(2, 2), "integration 1/2"}, // --shard wins
		{integration.Options{Targets: []string{"chroot"}}, gitlab(0, 0), "integration chroot"},
		{integration.Options{EmitChildPipeline: "jobs.yml"}, gitlab(0, 0), "integration child-pipeline"},
	} {
		s := &integration.Stage{Opts: c.opts}
		if got := s.StatusName(c.env); got != c.want {
			t.Errorf("StatusName(%+v, node %d/%d) = %q, want %q", c.opts, c.env.CI.NodeIndex, c.env.CI.NodeTotal, got, c.want)
		}
	}
}

// shardJob is one parallel integration job: the real stage's names, a
// verdict decided by the test.
type shardJob struct {
	*integration.Stage
	fail bool
}

func (j shardJob) Run(context.Context, *stages.Env) (*stages.Result, error) {
	if j.fail {
		return &stages.Result{Outcome: stages.Failed, Summary: "1 check failed"}, errs.Failuref("1 check failed")
	}
	return &stages.Result{Outcome: stages.Passed, Summary: "15 checks passed"}, nil
}

// Two shards of one pipeline post to the same commit. Whatever order they
// finish in, a failed shard leaves a failed status on the commit: each
// shard has its own status name, and GitLab keeps the latest per name.
func TestFailedShardStaysFailedWhateverTheOrder(t *testing.T) {
	sha := strings.Repeat("e", 40)
	for _, order := range [][]int{{1, 2}, {2, 1}} {
		t.Run(fmt.Sprintf("shard %d finishes first", order[0]), func(t *testing.T) {
			srv := forgetest.New(t, "tok")
			srv.GitLab().AddProject(7, "g/p")
			forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "7", Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			cfg := config.Default()
			cfg.Forge.Statuses = true
			for _, i := range order {
				env := &stages.Env{Config: cfg, Log: logging.Discard(), Forge: forge,
					CI: ci.Context{Provider: ci.GitLab, SHA: sha, Branch: "staging", NodeIndex: i, NodeTotal: 2, Env: ci.MapEnv{}}}
				job := shardJob{Stage: &integration.Stage{}, fail: i == 1}
				stages.RunOne(context.Background(), env, job)
			}
			latest := map[string]string{} // name → latest state, as GitLab shows it
			for _, s := range srv.GitLab().Statuses("7") {
				if s.SHA == sha {
					latest[s.Name] = s.Status
				}
			}
			want := map[string]string{"pipeline/integration 1/2": "failed", "pipeline/integration 2/2": "success"}
			if fmt.Sprint(latest) != fmt.Sprint(want) {
				t.Fatalf("commit statuses %v, want %v", latest, want)
			}
		})
	}
}
