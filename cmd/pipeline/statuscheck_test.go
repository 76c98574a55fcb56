package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// run runs the command line in dir.
func runIn(t *testing.T, dir string, env ci.MapEnv, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := newApp(&out, &errb, env).execute(context.Background(), append([]string{"--repo", dir}, args...))
	return code, out.String(), errb.String()
}

func TestStatusAnswersExternalCheck(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	gl := srv.GitLab()
	gl.AddProject(7, "g/p")
	iid := gl.AddMergeRequest("7", forgetest.GLMergeRequest{Title: "fix: x", SourceBranch: "x", TargetBranch: "main"})
	head := gl.MergeRequests("7")[0].SHA
	integ := gl.AddExternalStatusCheck("7", "integration", "https://agent.example.com/checks/integration", "s")
	title := gl.AddExternalStatusCheck("7", "title", "https://agent.example.com/checks/title", "s")
	dir := t.TempDir()
	env := gitlabEnv(srv)
	env["CI_MERGE_REQUEST_IID"] = strconv.FormatInt(iid, 10)
	env["CI_MERGE_REQUEST_SOURCE_BRANCH_SHA"] = head

	// No verdict yet: pending; the id found by name.
	code, out, errOut := runIn(t, dir, env, "status", "--external-check", "integration")
	if code != 0 || !strings.Contains(out, "status check integration=pending answered on !1") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// The stage's verdict recorded: its outcome.
	st, err := artifacts.NewFileStore(filepath.Join(dir, ".pipeline", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handoff.Publish(context.Background(), st, &handoff.Verdict{Stage: "integration", Commit: head, Outcome: "failed", Summary: "1 failed"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runIn(t, dir, env, "--json", "status", "--external-check", "integration")
	if code != 0 || !strings.Contains(out, `"state": "failed"`) || !strings.Contains(out, `"answered": true`) {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// An explicit state, the id from pipeline.yaml, the MR from --mr.
	os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte("version: 1\nproject: {name: p}\nserve:\n  checks:\n    - {name: title, secret_env: S, id: "+strconv.FormatInt(title, 10)+"}\n"), 0o644)
	delete(env, "CI_MERGE_REQUEST_IID")
	code, out, errOut = runIn(t, dir, env, "status", "--external-check", "title", "--state", "passed", "--mr", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	got := gl.StatusCheckResponses("7")
	if len(got) != 3 || got[0].CheckID != integ || got[0].Status != "pending" || got[1].Status != "failed" ||
		got[2].CheckID != title || got[2].Status != "passed" || got[2].SHA != head {
		t.Fatalf("responses %+v", got)
	}
	// Under --dry-run nothing is sent.
	n := srv.Writes()
	code, out, _ = runIn(t, dir, env, "--dry-run", "status", "--external-check", "title", "--state", "failed", "--mr", "1")
	if code != 0 || srv.Writes() != n || !strings.Contains(out, "not answered: dry run") {
		t.Fatalf("dry run: exit %d, %d writes, %s", code, srv.Writes()-n, out)
	}
	// A commit that is no longer the head: said, not an error.
	code, out, _ = runIn(t, dir, env, "status", "--external-check", "title", "--state", "passed", "--mr", "1", "--sha", strings.Repeat("0", 40))
	if code != 0 || !strings.Contains(out, "no longer the MR's head") {
		t.Fatalf("stale: exit %d: %s", code, out)
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"status", "--external-check", "title"}, "no merge request known"},
		{[]string{"status", "--external-check", "title", "--mr", "1", "--state", "approved"}, "use passed, failed, pending"},
		{[]string{"status", "--external-check", "nope", "--mr", "1", "--state", "passed"}, `no external status check named "nope" (it has: integration, title)`},
	} {
		code, out, errOut := runIn(t, dir, env, c.args...)
		if code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %s%s; want 2 and %q", c.args, code, out, errOut, c.msg)
		}
	}
}

func TestServeRefusesBadSetup(t *testing.T) {
	srv := forgetest.New(t, statusToken)
	srv.GitLab().AddProject(7, "g/p")
	dir := t.TempDir()
	env := ci.MapEnv{"PIPELINE_TOKEN": statusToken, "TITLE_SECRET": "the-secret-value"}
	write := func(s string) { os.WriteFile(filepath.Join(dir, "pipeline.yaml"), []byte(s), 0o644) }
	head := "version: 1\nproject: {name: p}\nforge: {type: gitlab, url: " + srv.GitLabURL() + ", project: \"7\"}\n"
	for _, c := range []struct{ yaml, msg string }{
		{head, "serve: no checks configured"},
		{head + "serve:\n  checks: [{name: title, secret_env: UNSET_SECRET}]\n", "the shared secret variable UNSET_SECRET is not set"},
		{head + "serve:\n  checks: [{name: lint, secret_env: TITLE_SECRET}]\n", `unsupported value "lint"`},
		{head + "serve:\n  queue: 0\n  checks: [{name: title, secret_env: TITLE_SECRET}]\n", "serve.queue: must be between 1"},
		{"version: 1\nproject: {name: p}\nforge: {type: none}\nserve:\n  checks: [{name: title, secret_env: TITLE_SECRET}]\n", "external status checks are GitLab's"},
		{head + "serve:\n  listen: nowhere\n  checks: [{name: title, secret_env: TITLE_SECRET}]\n", "serve.listen: want host:port"},
	} {
		write(c.yaml)
		code, out, errOut := runIn(t, dir, env, "serve")
		if code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("exit %d, %s%s; want 2 and %q", code, out, errOut, c.msg)
		}
		if strings.Contains(out+errOut, "the-secret-value") {
			t.Error("secret in output")
		}
	}
}
