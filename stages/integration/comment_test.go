package integration_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// In a merge-request pipeline the stage keeps one comment on the MR (the
// fake GitLab, through the real client), updated in place on the next run.
func TestMRCommentUpsertedInPlace(t *testing.T) {
	srv := forgetest.New(t, "glpat-test")
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	iid := gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "agent 1.1", SourceBranch: "agent", TargetBranch: "staging", State: "opened"})
	forge, err := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "suites"), 0o755)
	state := filepath.Join(repo, "state")
	os.WriteFile(filepath.Join(repo, "suites", "host.yaml"), []byte(`checks:
  - id: marker
    file: {path: `+state+`, contains: /^ok$/}
  - id: shell
    command: {run: "echo hi", stdout: hi}
`), 0o644)
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(`version: 1
integration:
  version: "2.0"
  scenarios: [fresh]
  provision: "true"
  suites: [suites/*.yaml]
  snapshot: {ignore: ["*"]}
  logs: {journal: false}
  targets:
    - {name: ci-host, runner: local}
`), 0o644)
	cfg, err := config.Load(filepath.Join(repo, "pipeline.yaml"), ci.MapEnv{}.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	run := func() error {
		env := &stages.Env{Repo: repo, Config: cfg, Log: testLog(t), Report: &report.Dir{Path: t.TempDir()}, Forge: forge,
			CI: ci.Context{Provider: ci.GitLab, Env: ci.MapEnv{}, MergeRequest: int(iid), JobURL: "https://gitlab.example/appliance/os/-/jobs/9"}}
		_, err := (&integration.Stage{}).Run(context.Background(), env)
		return err
	}

	os.WriteFile(state, []byte("broken\n"), 0o644)
	if err := run(); errs.KindOf(err) != errs.Failure {
		t.Fatalf("first run: want a failure, got %v", err)
	}
	notes := gl.Notes("42", "mr:1")
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "❌ Integration of 2.0") ||
		!strings.Contains(notes[0].Body, "| ci-host | local | [❌ 1 failed](https://gitlab.example/appliance/os/-/jobs/9/artifacts/file/") ||
		!strings.Contains(notes[0].Body, "`host.ci-host.fresh` marker") {
		t.Fatalf("first comment: %+v", notes)
	}

	os.WriteFile(state, []byte("ok\n"), 0o644)
	if err := run(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	notes = gl.Notes("42", "mr:1")
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "✅ Integration of 2.0") || strings.Contains(notes[0].Body, "marker") {
		t.Fatalf("the comment was not updated in place: %+v", notes)
	}
}

// Under GitLab each scenario of each target is a collapsible section, with
// a section per phase inside it, never interleaved with another target's.
func TestLogSectionsPerPhase(t *testing.T) {
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "suites"), 0o755)
	os.WriteFile(filepath.Join(repo, "suites", "s.yaml"), []byte("checks:\n  - {id: ok, command: {run: \"true\"}}\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(`version: 1
integration:
  version: 1.0.0
  scenarios: [fresh]
  provision: echo provisioning-output-line
  suites: [suites/*.yaml]
  snapshot: {ignore: ["*"]}
  logs: {journal: false}
  targets:
    - {name: a, runner: local}
    - {name: b, runner: local}
`), 0o644)
	cfg, err := config.Load(filepath.Join(repo, "pipeline.yaml"), ci.MapEnv{}.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	log, err := logging.New(&buf, logging.Options{Sections: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &stages.Env{Repo: repo, Config: cfg, Log: log, Report: &report.Dir{Path: t.TempDir()}, Forge: gitops.None{},
		CI: ci.Context{Provider: ci.GitLab, Env: ci.MapEnv{}}}
	if _, err := (&integration.Stage{}).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, target := range []string{"a", "b"} {
		// The phase's section holds the provisioning output and nothing of
		// another section: its end comes before any other start.
		i := strings.Index(out, "integration_"+target+"_fresh_provision[collapsed=false]")
		if i < 0 {
			t.Fatalf("no provision section for %s:\n%s", target, out)
		}
		body := out[i:]
		end := strings.Index(body, "section_end:")
		if end < 0 {
			t.Fatalf("provision section of %s never ends", target)
		}
		body = body[:end]
		if !strings.Contains(body, "provisioning-output-line") || strings.Contains(body, "section_start") {
			t.Errorf("section of %s:\n%s", target, body)
		}
	}
	if !strings.Contains(out, "section_start:") || !strings.Contains(out, "integration_a_fresh[collapsed=false]") {
		t.Errorf("no scenario section:\n%s", out)
	}
	// The stage is a list of named steps, each a section, in order; the
	// targets' sections are inside the targets step's.
	last := -1
	for _, step := range []string{"suites", "inputs", "provisioning", "base", "plan", "targets", "reports", "comment", "verdict"} {
		i := strings.Index(out, "integration_step_"+step+"[collapsed=false]")
		if i <= last {
			t.Fatalf("step %s: section at %d, after %d:\n%s", step, i, last, out)
		}
		last = i
	}
	start := strings.Index(out, "integration_step_targets[collapsed")
	end := -1 // the targets step's own section_end, found below
	for j := start; ; {
		k := strings.Index(out[j:], "section_end:")
		if k < 0 {
			t.Fatal("the targets step never ends")
		}
		j += k + len("section_end:")
		if rest := out[j:]; strings.HasPrefix(rest[strings.Index(rest, ":")+1:], "integration_step_targets") {
			end = j
			break
		}
	}
	if a := strings.Index(out, "integration_a_fresh[collapsed"); a < start || a > end {
		t.Errorf("target a's section is not inside the targets step")
	}
}
