package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
)

const statusToken = "glpat-STATUS-TOKEN-1"

func runStatus(t *testing.T, env ci.MapEnv, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := newApp(&out, &errb, env)
	code = a.execute(context.Background(), append([]string{"--repo", t.TempDir()}, args...))
	return code, out.String(), errb.String()
}

func gitlabEnv(srv *forgetest.Server) ci.MapEnv {
	return ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "7",
		"CI_COMMIT_SHA": strings.Repeat("a", 40), "CI_COMMIT_BRANCH": "main",
		"CI_JOB_URL": "https://gitlab.example.com/g/p/-/jobs/99", "PIPELINE_TOKEN": statusToken}
}

func TestStatusPostsOnGitLab(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	srv.GitLab().AddProject(7, "g/p")
	env := gitlabEnv(srv)

	code, out, errOut := runStatus(t, env, "status", "--name", "bvt", "--state", "running", "--description", "suites running")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	st := srv.GitLab().Statuses("7")
	if len(st) != 1 || st[0].Name != "bvt" || st[0].Status != "running" || st[0].SHA != env["CI_COMMIT_SHA"] ||
		st[0].Ref != "main" || *st[0].TargetURL != env["CI_JOB_URL"] || *st[0].Description != "suites running" {
		t.Fatalf("statuses %+v", st)
	}
	if !strings.Contains(out, "bvt=running posted") {
		t.Fatalf("stdout %q", out)
	}

	// In an MR pipeline the MR head is the commit.
	env["CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"] = strings.Repeat("b", 40)
	code, out, _ = runStatus(t, env, "--json", "status", "--name", "bvt", "--state", "success")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var doc struct {
		Command string       `json:"command"`
		Data    statusResult `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output is not one document: %v\n%s", err, out)
	}
	if doc.Command != "status" || !doc.Data.Posted || doc.Data.SHA != strings.Repeat("b", 40) || doc.Data.Forge != "gitlab" {
		t.Fatalf("json %+v", doc)
	}
	if n := len(srv.GitLab().Statuses("7")); n != 2 {
		t.Fatalf("%d statuses", n)
	}
	if strings.Contains(out, statusToken) {
		t.Fatal("token in output")
	}
}

func TestStatusDryRunWritesNothing(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	srv.GitLab().AddProject(7, "g/p")
	code, out, errOut := runStatus(t, gitlabEnv(srv), "--dry-run", "--json", "status", "--name", "bvt", "--state", "failed")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if len(srv.Requests()) != 0 {
		t.Fatalf("dry run sent %d requests", len(srv.Requests()))
	}
	if !strings.Contains(out, `"posted": false`) || !strings.Contains(out, `"skipped": "dry run"`) || !strings.Contains(errOut, "would post status bvt=failed") {
		t.Fatalf("dry run did not say what it would do:\n%s\n%s", out, errOut)
	}
}

func TestStatusOnGitHub(t *testing.T) {
	srv := forgetest.New(t, "ghp_STATUS")
	srv.GitHub().AddRepo("o/r")
	env := ci.MapEnv{"GITHUB_ACTIONS": "true", "GITHUB_API_URL": srv.GitHubURL(), "GITHUB_REPOSITORY": "o/r",
		"GITHUB_SHA": strings.Repeat("c", 40), "GITHUB_REF": "refs/heads/main", "GITHUB_TOKEN": "ghp_STATUS"}
	code, out, errOut := runStatus(t, env, "status", "--name", "bvt", "--state", "failed", "--target-url", "https://ci/1")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	st := srv.GitHub().Statuses("o/r")
	if len(st) != 1 || st[0].Context != "bvt" || st[0].State != "failure" || *st[0].TargetURL != "https://ci/1" {
		t.Fatalf("statuses %+v", st)
	}
}

func TestStatusErrors(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	srv.AddJobToken("JOBTOK")
	srv.GitLab().AddProject(7, "g/p")
	env := gitlabEnv(srv)

	cases := []struct {
		name string
		env  ci.MapEnv
		args []string
		code int
		msg  string
	}{
		{"no name", env, []string{"status", "--state", "success"}, 2, "--name is required"},
		{"bad state", env, []string{"status", "--name", "x", "--state", "done"}, 2, "use one of pending, running"},
		{"no commit", ci.MapEnv{}, []string{"status", "--name", "x", "--state", "success"}, 2, "no commit known"},
		{"job token", ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "7",
			"CI_COMMIT_SHA": strings.Repeat("a", 40), "CI_JOB_TOKEN": "JOBTOK"},
			[]string{"status", "--name", "x", "--state", "success"}, 2, "set PIPELINE_TOKEN (a project access token with api scope)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runStatus(t, c.env, c.args...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q), stdout %q", code, c.code, errOut, c.msg, out)
			}
			if strings.Contains(errOut+out, "JOBTOK") {
				t.Fatal("job token in output")
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests sent by failing commands", n)
	}
}

// By hand, with no forge: HEAD of the repository, nothing posted, exit 0.
func TestStatusWithoutForge(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "x"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	var out, errb bytes.Buffer
	a := newApp(&out, &errb, ci.MapEnv{})
	code := a.execute(context.Background(), []string{"--repo", dir, "status", "--name", "bvt", "--state", "success"})
	if code != 0 || !strings.Contains(out.String(), "not posted: no forge configured") {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
}

// GitLab refuses running → pending and keeps running: the command says the
// status was not posted and which state GitLab kept, and exits 0.
func TestStatusKeptByGitLabIsNotPosted(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	srv.GitLab().AddProject(7, "g/p")
	env := gitlabEnv(srv)
	if code, out, errOut := runStatus(t, env, "status", "--name", "bvt", "--state", "running"); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	code, out, errOut := runStatus(t, env, "--json", "status", "--name", "bvt", "--state", "pending")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	var doc struct {
		Data statusResult `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Data.Posted || !strings.Contains(doc.Data.Skipped, "stays running") {
		t.Fatalf("posted %v, skipped %q; want not posted, naming the state GitLab kept", doc.Data.Posted, doc.Data.Skipped)
	}
	if st := srv.GitLab().Statuses("7"); len(st) != 1 || st[0].Status != "running" {
		t.Fatalf("statuses %+v", st)
	}
}
