package stages

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/proc"
)

func TestStageStatusesArePosted(t *testing.T) {
	srv := forgetest.New(t, "tok")
	srv.GitLab().AddProject(5, "g/p")
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "5", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Forge.Statuses = true
	sha := strings.Repeat("d", 40)
	env := &Env{Config: cfg, CI: ci.Context{Provider: ci.GitLab, SHA: sha, Branch: "staging", JobURL: "https://ci/job/1", Env: ci.MapEnv{}},
		Log: logging.Discard(), Forge: forge, Report: nil}
	runs := 0
	pass := Func{StageName: "build", Fn: func(context.Context, *Env) (*Result, error) {
		runs++
		if got := srv.GitLab().Statuses("5"); runs == 1 && (len(got) != 1 || got[0].Status != "pending") {
			t.Errorf("during the stage: statuses %+v, want one pending", got)
		}
		return &Result{Outcome: Passed, Summary: "built 12 packages"}, nil
	}}
	fail := Func{StageName: "integration", Fn: func(context.Context, *Env) (*Result, error) {
		return &Result{Outcome: Failed, Summary: "2 suites failed"}, errs.Failuref("2 suites failed")
	}}
	if _, err := Run(context.Background(), env, []Stage{pass, fail}, nil); errs.KindOf(err) != errs.Failure {
		t.Fatalf("run: %v", err)
	}
	got := srv.GitLab().StatusPosts("5") // GitLab moves a pending status to its end state in place
	var seq []string
	for _, s := range got {
		if s.SHA != sha || s.Ref != "staging" || *s.TargetURL != "https://ci/job/1" {
			t.Fatalf("status %+v", s)
		}
		seq = append(seq, s.Name+"="+s.Status)
	}
	want := "pipeline/build=pending pipeline/build=success pipeline/integration=pending pipeline/integration=failed"
	if strings.Join(seq, " ") != want {
		t.Fatalf("statuses %s\nwant %s", strings.Join(seq, " "), want)
	}
	if *got[1].Description != "built 12 packages" {
		t.Fatalf("description %q", *got[1].Description)
	}

	// Off by default, and nothing under --dry-run.
	before := len(srv.Requests())
	cfg.Forge.Statuses = false
	Run(context.Background(), env, []Stage{pass}, nil)
	cfg.Forge.Statuses = true
	env.DryRun = true
	Run(context.Background(), env, []Stage{pass}, nil)
	if n := len(srv.Requests()) - before; n != 0 {
		t.Fatalf("%d requests with statuses off or under dry run", n)
	}
}

// A status that cannot be posted does not change the stage's verdict.
func TestStageStatusFailureIsOnlyAWarning(t *testing.T) {
	srv := forgetest.New(t, "tok")
	srv.GitLab().AddProject(5, "g/p")
	srv.Inject(forgetest.Fault{Kind: forgetest.ServerError, Times: 1000})
	forge, _ := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "5", Token: "tok", Retry: gitops.Retry{Attempts: 2, Min: 1, Max: 2}})
	cfg := config.Default()
	cfg.Forge.Statuses = true
	env := &Env{Config: cfg, CI: ci.Context{SHA: strings.Repeat("d", 40)}, Log: logging.Discard(), Forge: forge}
	pass := Func{StageName: "build", Fn: func(context.Context, *Env) (*Result, error) { return &Result{Outcome: Passed}, nil }}
	if _, err := Run(context.Background(), env, []Stage{pass}, nil); err != nil {
		t.Fatalf("a forge outage failed the stage: %v", err)
	}
}

// A stage cancelled by a signal ends with a "canceled" status, posted
// although the run's context is done, and an infrastructure error that
// says so; the stages after it do not run. A stage that runs past its own
// deadline is "failed", not "canceled".
func TestCancelledStageStatusIsCanceled(t *testing.T) {
	srv := forgetest.New(t, "tok")
	srv.GitLab().AddProject(5, "g/p")
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "5", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Forge.Statuses = true
	sha := strings.Repeat("e", 40)
	env := &Env{Config: cfg, CI: ci.Context{Provider: ci.GitLab, SHA: sha, Branch: "staging", Env: ci.MapEnv{}},
		Log: logging.Discard(), Forge: forge}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	build := Func{StageName: "build", Fn: func(ctx context.Context, _ *Env) (*Result, error) {
		cancel(&proc.Interrupt{Signal: syscall.SIGTERM}) // the job is cancelled mid-stage
		<-ctx.Done()
		return nil, errs.Failuref("component a: `make` %v", proc.Stopped(ctx)) // the stage says what it saw
	}}
	ran := false
	next := Func{StageName: "template", Fn: func(context.Context, *Env) (*Result, error) { ran = true; return nil, nil }}
	results, err := Run(ctx, env, []Stage{build, next}, nil)
	if errs.KindOf(err) != errs.Infra || !strings.HasPrefix(err.Error(), "build: cancelled (SIGTERM): ") || strings.Contains(errs.Format(err), "context canceled") {
		t.Errorf("err = %v (kind %s), want build: cancelled (SIGTERM) as an infrastructure error", err, errs.KindOf(err))
	}
	if ran {
		t.Error("the stage after a cancelled one ran")
	}
	if len(results) != 1 || results[0].Outcome != Cancelled || results[0].Summary != "cancelled (SIGTERM)" {
		t.Errorf("results = %+v", results)
	}
	var seq []string
	for _, s := range srv.GitLab().StatusPosts("5") {
		seq = append(seq, s.Name+"="+s.Status)
	}
	if want := "pipeline/build=pending pipeline/build=canceled"; strings.Join(seq, " ") != want {
		t.Errorf("statuses %s, want %s", strings.Join(seq, " "), want)
	}

	// Its own deadline: failed.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer dcancel()
	slow := Func{StageName: "integration", Fn: func(ctx context.Context, _ *Env) (*Result, error) {
		<-ctx.Done()
		return nil, errs.Infraf("suite s: %v", proc.Stopped(ctx))
	}}
	if _, err := Run(dctx, env, []Stage{slow}, nil); errs.KindOf(err) != errs.Infra {
		t.Errorf("err = %v", err)
	}
	st := srv.GitLab().Statuses("5")
	if last := st[len(st)-1]; last.Name != "pipeline/integration" || last.Status != "failed" {
		t.Errorf("last status %s=%s, want pipeline/integration=failed", last.Name, last.Status)
	}
}
