package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// leakTokens are the secrets of the leak tests: every well-known variable
// and one named by pipeline.yaml (forge.token_env is not used: the fake
// accepts PIPELINE_TOKEN).
var leakTokens = map[string]string{
	"PIPELINE_TOKEN":        "glpat-LeakPipeline0001",
	"GITLAB_TOKEN":          "glpat-LeakGitlab0002",
	"GITHUB_TOKEN":          "ghp_LeakGithub0003",
	"CI_JOB_TOKEN":          "glcbt-LeakJob0004",
	"AWS_ACCESS_KEY_ID":     "AKIALEAKACCESS0005",
	"AWS_SECRET_ACCESS_KEY": "leak/Secret+Key0006",
	"MINIO_ROOT_PASSWORD":   "leak-minio-root-0007",
	"APPLIANCE_S3_SECRET":   "leak-config-secret-0008",
}

// forms are the ways a token can travel in a request: as is, base64 (a
// GitHub contents upload, Basic auth), URL-encoded (a form or a query).
func forms(tok string) []string {
	return []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), base64.RawURLEncoding.EncodeToString([]byte(tok)), url.QueryEscape(tok)}
}

// noLeak fails when any token, in any form, is in text.
func noLeak(t *testing.T, where, text string) {
	t.Helper()
	for name, tok := range leakTokens {
		for _, f := range forms(tok) {
			if strings.Contains(text, f) {
				t.Errorf("%s holds %s (as %q)", where, name, f)
			}
		}
	}
}

// noLeakInRequests searches every request the fake forge received, its
// path, query and body.
func noLeakInRequests(t *testing.T, srv *forgetest.Server) {
	t.Helper()
	writes := 0
	for _, r := range srv.Requests() {
		if r.Method != "GET" {
			writes++
		}
		noLeak(t, r.Method+" "+r.Path, r.Path+"?"+r.Query+"\n"+r.Body)
	}
	if writes == 0 {
		t.Fatal("the run wrote nothing to the forge: the test proves nothing")
	}
}

// noLeakInFiles searches every file below dir.
func noLeakInFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		noLeak(t, p, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// leakEnv is a GitLab CI job's environment with every token set, the
// job's link carrying one too (it becomes the statuses' target_url).
func leakEnv(srv *forgetest.Server, sha string) ci.MapEnv {
	env := ci.MapEnv{"GITLAB_CI": "true", "CI_API_V4_URL": srv.GitLabURL(), "CI_PROJECT_ID": "42",
		"CI_COMMIT_SHA": sha, "CI_COMMIT_BRANCH": "staging",
		"CI_JOB_URL": "https://gitlab.example.com/appliance/os/-/jobs/7?ref=" + leakTokens["MINIO_ROOT_PASSWORD"]}
	for k, v := range leakTokens {
		env[k] = v
	}
	return env
}

// TestBVTPrintingTokensLeaksNothing: a build verification test that prints
// every token (its whole environment, and each token by name) fails on a
// culprit; promote reports it on the fake GitLab (statuses, the culprit
// comment on its MR) and publishes its verdict to the artifact store. No
// token reaches any request the forge received (plain, base64 or
// URL-encoded), the store, the reports, stdout or stderr.
func TestBVTPrintingTokensLeaksNothing(t *testing.T) {
	testutil.NeedTool(t, "git")
	for k, v := range leakTokens {
		t.Setenv(k, v) // the BVT's own environment: it prints it
	}
	dir := t.TempDir()
	origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	gitIn(t, dir, "init", "--quiet", "--bare", "--initial-branch=master", origin)
	gitIn(t, dir, "clone", "--quiet", origin, work)
	store := filepath.Join(dir, "store")
	cfg := `version: 1
project:
  name: leak
forge:
  statuses: true
artifacts:
  url: file://` + store + `
  s3:
    secret_key_env: APPLIANCE_S3_SECRET
promote:
  test: sh bvt.sh ${PIPELINE_TOKEN}
  output_tail: 200
`
	bvt := `env
for v in PIPELINE_TOKEN GITLAB_TOKEN GITHUB_TOKEN CI_JOB_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY MINIO_ROOT_PASSWORD APPLIANCE_S3_SECRET; do
	eval "echo $v=\$$v"
done
echo "argument: $1"
if [ -e broken ]; then echo "FAIL: broken"; exit 1; fi
`
	for name, content := range map[string]string{"pipeline.yaml": cfg, "bvt.sh": bvt} {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, work, "add", ".")
	gitIn(t, work, "commit", "--quiet", "-m", "chore: init")
	gitIn(t, work, "push", "--quiet", "origin", "HEAD:master")
	gitIn(t, work, "checkout", "--quiet", "-b", "staging")
	os.WriteFile(filepath.Join(work, "a"), []byte("a\n"), 0o644)
	gitIn(t, work, "add", "a")
	gitIn(t, work, "commit", "--quiet", "-m", "feat: a")
	os.WriteFile(filepath.Join(work, "broken"), nil, 0o644)
	gitIn(t, work, "add", "broken")
	gitIn(t, work, "commit", "--quiet", "-m", "feat: break it")
	culprit := gitIn(t, work, "rev-parse", "HEAD")
	gitIn(t, work, "push", "--quiet", "origin", "staging")

	srv := forgetest.New(t, leakTokens["PIPELINE_TOKEN"])
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	merged := time.Now().UTC()
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "break it", SourceBranch: "feature", TargetBranch: "staging",
		State: "merged", MergedAt: &merged, SHA: culprit, MergeCommitSHA: &culprit})

	var out, errb bytes.Buffer
	a := newApp(&out, &errb, leakEnv(srv, culprit))
	reports := filepath.Join(dir, "reports")
	code := a.execute(context.Background(), []string{"--repo", work, "--report-dir", reports, "--json", "promote"})
	if code != 1 {
		t.Fatalf("promote exit %d, want 1 (a culprit):\n%s\n%s", code, out.String(), errb.String())
	}

	notes := gl.Notes("42", "mr:1")
	if len(notes) != 1 || !strings.Contains(notes[0].Body, "FAIL: broken") || !strings.Contains(notes[0].Body, "PIPELINE_TOKEN=[MASKED]") {
		t.Fatalf("culprit comment does not quote the masked output tail: %+v", notes)
	}
	if len(gl.Statuses("42")) == 0 {
		t.Fatal("no commit status posted")
	}
	noLeakInRequests(t, srv)
	if n := noLeakInFiles(t, store); n == 0 {
		t.Fatal("nothing published to the artifact store: the test proves nothing")
	}
	if n := noLeakInFiles(t, reports); n == 0 {
		t.Fatal("no report written")
	}
	noLeak(t, "stdout", out.String())
	noLeak(t, "stderr", errb.String())
}

// TestReleaseLeaksNothing: a commit subject and an MR title that carry a
// token (pasted by mistake) are released against the fake GitLab, in MR
// mode (the release MR's title and description) and in direct mode (the
// tag and the forge release's notes): no request holds a token.
func TestReleaseLeaksNothing(t *testing.T) {
	testutil.NeedTool(t, "git")
	for _, mode := range []string{"mr", "direct"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
			gitIn(t, dir, "init", "--quiet", "--bare", "--initial-branch=main", origin)
			gitIn(t, dir, "clone", "--quiet", origin, work)
			cfg := "version: 1\nproject:\n  name: leak\nrelease:\n  mode: " + mode + "\n  milestone:\n    enabled: false\n"
			os.WriteFile(filepath.Join(work, "pipeline.yaml"), []byte(cfg), 0o644)
			gitIn(t, work, "add", ".")
			gitIn(t, work, "commit", "--quiet", "-m", "feat: start")
			gitIn(t, work, "commit", "--quiet", "--allow-empty", "-m", "fix: rotate the key "+leakTokens["GITLAB_TOKEN"])
			gitIn(t, work, "commit", "--quiet", "--allow-empty", "-m", "feat: merged")
			sha := gitIn(t, work, "rev-parse", "HEAD")
			gitIn(t, work, "push", "--quiet", "origin", "HEAD:main")

			srv := forgetest.New(t, leakTokens["PIPELINE_TOKEN"])
			gl := srv.GitLab()
			gl.AddProject(42, "appliance/os")
			merged := time.Now().UTC()
			gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "feat: use " + leakTokens["AWS_SECRET_ACCESS_KEY"], SourceBranch: "feature",
				TargetBranch: "main", State: "merged", MergedAt: &merged, SHA: sha, MergeCommitSHA: &sha})
			env := leakEnv(srv, sha)
			env["CI_COMMIT_BRANCH"] = "main"
			var out, errb bytes.Buffer
			a := newApp(&out, &errb, env)
			code := a.execute(context.Background(), []string{"--repo", work, "--report-dir", filepath.Join(dir, "reports"), "release"})
			if code != 0 {
				t.Fatalf("release exit %d:\n%s\n%s", code, out.String(), errb.String())
			}
			// The subject and the MR title are in the notes (and the
			// release MR's description), masked.
			masked := 0
			for _, r := range srv.Requests() {
				masked += strings.Count(r.Body, "[MASKED]")
			}
			if masked < 2 {
				t.Errorf("%d masked values sent to the forge, want the commit subject's and the MR title's", masked)
			}
			noLeakInRequests(t, srv)
			noLeakInFiles(t, filepath.Join(dir, "reports"))
			noLeak(t, "stdout", out.String())
			noLeak(t, "stderr", errb.String())
		})
	}
}
