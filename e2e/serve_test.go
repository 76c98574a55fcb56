package e2e

// `pipeline serve`, the real binary, against the fake GitLab: GitLab's
// signed merge-request events in, status check answers out.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

const (
	titleSecret = "title-SHARED-secret-8d1f"
	integSecret = "integ-SHARED-secret-77ab"
)

// agent is a running `pipeline serve`.
type agent struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	logs bytes.Buffer // stdout and stderr
	done chan error
}

func (a *agent) Logs() string { a.mu.Lock(); defer a.mu.Unlock(); return a.logs.String() }

type lockedWriter struct{ a *agent }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	return w.a.logs.Write(p)
}

// serveEnv is the agent's environment: the API token and the shared secrets.
func serveEnv(extra ...string) []string {
	env := append(os.Environ(), "PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PIPELINE_TOKEN="+Token, "CHECK_TITLE_SECRET="+titleSecret, "CHECK_INTEGRATION_SECRET="+integSecret)
	// Not a CI job: the agent runs as a service.
	var out []string
	for _, kv := range append(env, extra...) {
		if strings.HasPrefix(kv, "GITLAB_CI=") || strings.HasPrefix(kv, "CI_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startAgent runs `pipeline serve` in dir on a free port and waits until
// it listens.
func startAgent(t testing.TB, dir string, extraEnv ...string) *agent {
	t.Helper()
	return startAgentWith(t, dir, extraEnv)
}

// startAgentWith is startAgent with global flags (--dry-run).
func startAgentWith(t testing.TB, dir string, extraEnv []string, global ...string) *agent {
	t.Helper()
	a := &agent{done: make(chan error, 1)}
	args := append(append([]string{"--repo", dir, "--log-format", "json"}, global...), "serve", "--listen", "127.0.0.1:0")
	a.cmd = exec.Command(filepath.Join(binDir, "pipeline"), args...)
	a.cmd.Env = serveEnv(extraEnv...)
	a.cmd.Stdout = lockedWriter{a}
	pr, pw := io.Pipe()
	a.cmd.Stderr = pw
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			lockedWriter{a}.Write([]byte(line + "\n"))
			var entry struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serve: listening" {
				listening <- entry.Listen
			}
		}
	}()
	go func() { a.done <- a.cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	select {
	case addr := <-listening:
		a.url = "http://" + addr
	case err := <-a.done:
		t.Fatalf("pipeline serve exited before listening: %v\n%s", err, a.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("pipeline serve did not listen within 30s:\n%s", a.Logs())
	}
	return a
}

func (a *agent) health(t testing.TB) map[string]float64 {
	t.Helper()
	resp, err := http.Get(a.url + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	nums := map[string]float64{}
	for k, v := range out {
		if f, ok := v.(float64); ok {
			nums[k] = f
		}
	}
	return nums
}

// settled waits until every accepted event was worked on.
func (a *agent) settled(t testing.TB) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		h := a.health(t)
		// Settled: every accepted job ended, and its last log line has
		// reached us through the pipe (the agent counts a job once its
		// line is written; our copy of the pipe may still be behind).
		ended := h["answered"] + h["stale"] + h["failed"]
		if h["accepted"] == ended && h["queued"] == 0 && float64(strings.Count(a.Logs(), "serve: answered")+strings.Count(a.Logs(), "serve: not answered")) >= ended {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not settle in 60s: %v\n%s", h, a.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveProject is a repo dir with pipeline.yaml for the agent and a fake
// GitLab project 42 with the title and integration checks pointing at
// agentURL (set once the agent listens, through SetCheckURLs).
type serveProject struct {
	dir   string
	srv   *forgetest.Server
	gl    *forgetest.GitLab
	title int64
	integ int64
}

func newServeProject(t testing.TB, extraYAML string) *serveProject {
	return newServeProjectQ(t, 64, 4, extraYAML)
}

// newServeProjectQ is newServeProject with the agent's queue size and
// worker count.
func newServeProjectQ(t testing.TB, queue, workers int, extraYAML string) *serveProject {
	t.Helper()
	p := &serveProject{dir: t.TempDir(), srv: forgetest.New(t, Token)}
	p.gl = p.srv.GitLab()
	p.gl.AddProject(42, "appliance/os")
	yaml := fmt.Sprintf(`version: 1
project: {name: appliance}
forge: {type: gitlab, url: %s, project: "42"}
serve:
  queue: %d
  workers: %d
  checks:
    - {name: title, secret_env: CHECK_TITLE_SECRET}
    - {name: integration, secret_env: CHECK_INTEGRATION_SECRET}
  title:
    scopes: [boot, net]
%s`, p.srv.GitLabURL(), queue, workers, extraYAML)
	if err := os.WriteFile(filepath.Join(p.dir, "pipeline.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *serveProject) addChecks(agentURL string) {
	p.title = p.gl.AddExternalStatusCheck("42", "title", agentURL+"/checks/title", titleSecret)
	p.integ = p.gl.AddExternalStatusCheck("42", "integration", agentURL+"/checks/integration", integSecret)
}

// pointChecksAt changes the checks' URL to the agent's, as an admin would.
func (p *serveProject) pointChecksAt(agentURL string) {
	p.gl.Do("42", func(pr *forgetest.GLProject) {
		for _, c := range pr.ExternalChecks {
			c.ExternalURL = agentURL + "/checks/" + c.Name
		}
	})
}

func post(t testing.TB, url string, body []byte, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Gitlab-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// noSecrets fails when a secret shows in the agent's output or in what the
// fake GitLab recorded.
func noSecrets(t testing.TB, a *agent, srv *forgetest.Server) {
	t.Helper()
	var recorded strings.Builder
	for _, r := range srv.Requests() {
		fmt.Fprintf(&recorded, "%+v\n", r)
	}
	for _, s := range []string{Token, titleSecret, integSecret} {
		if strings.Contains(a.Logs(), s) {
			t.Errorf("secret %q in the agent's output:\n%s", s[:6], a.Logs())
		}
		if strings.Contains(recorded.String(), s) {
			t.Errorf("secret %q in the fake GitLab's recorded requests", s[:6])
		}
	}
}

func TestServeAnswersTitleCheck(t *testing.T) {
	p := newServeProject(t, "")
	a := startAgent(t, p.dir)
	p.addChecks(a.url)
	ctx := context.Background()

	good := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix(boot): wait for the disk", SourceBranch: "fix-boot", TargetBranch: "staging"})
	bad := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Update README.md", SourceBranch: "readme", TargetBranch: "staging"})
	badScope := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "feat(gui): dark mode", SourceBranch: "gui", TargetBranch: "staging"})
	for _, iid := range []int64{good, bad, badScope} {
		if code, err := p.gl.SendStatusCheckEvent(ctx, "42", iid, p.title); err != nil || code != http.StatusAccepted {
			t.Fatalf("event for !%d: %d %v\n%s", iid, code, err, a.Logs())
		}
	}
	h := a.settled(t)
	if h["answered"] != 3 {
		t.Fatalf("healthz %v\n%s", h, a.Logs())
	}
	heads := map[int64]string{}
	for _, m := range p.gl.MergeRequests("42") {
		heads[m.IID] = m.SHA
	}
	want := map[int64]string{good: "passed", bad: "failed", badScope: "failed"}
	got := p.gl.StatusCheckResponses("42")
	if len(got) != 3 {
		t.Fatalf("responses %+v", got)
	}
	for _, r := range got {
		if r.CheckID != p.title || r.SHA != heads[r.MergeRequestIID] || r.Status != want[r.MergeRequestIID] {
			t.Errorf("response %+v: want check %d, sha %s, %s", r, p.title, heads[r.MergeRequestIID], want[r.MergeRequestIID])
		}
	}
	if !strings.Contains(a.Logs(), `scope \"gui\" is not one of boot, net`) {
		t.Errorf("the reason of the failed title is not in the log:\n%s", a.Logs())
	}
	// The reason is on the failing MRs, once each; nothing on the good one.
	if notes := p.gl.Notes("42", fmt.Sprintf("mr:%d", badScope)); len(notes) != 1 || !strings.Contains(notes[0].Body, `scope "gui" is not one of boot, net`) {
		t.Errorf("comment on !%d: %+v", badScope, notes)
	}
	if notes := p.gl.Notes("42", fmt.Sprintf("mr:%d", good)); len(notes) != 0 {
		t.Errorf("comment on the good MR: %+v", notes)
	}

	// A bad or missing signature: 401, nothing answered, body not logged.
	body := p.gl.MergeRequestEvent("42", good, p.title)
	before := len(p.gl.StatusCheckResponses("42"))
	if code := post(t, a.url+"/checks/title", body, forgetest.Sign(body, "not-the-secret")); code != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d", code)
	}
	if code := post(t, a.url+"/checks/title", body, ""); code != http.StatusUnauthorized {
		t.Fatalf("no signature: %d", code)
	}
	// Signed for the other check: that check's secret does not open this one.
	if code := post(t, a.url+"/checks/title", body, forgetest.Sign(body, integSecret)); code != http.StatusUnauthorized {
		t.Fatalf("other check's secret: %d", code)
	}
	h = a.settled(t)
	if n := len(p.gl.StatusCheckResponses("42")); n != before || h["rejected"] != 3 {
		t.Fatalf("after bad signatures: %d responses (want %d), healthz %v", n, before, h)
	}
	if n := strings.Count(a.Logs(), "X-Gitlab-Signature"); n != 3 || strings.Contains(a.Logs(), `"object_kind"`) {
		t.Errorf("want 3 refusals logged without the body:\n%s", a.Logs())
	}

	// A replayed event for an old sha: accepted, but nothing sent.
	old := p.gl.MergeRequestEvent("42", bad, p.title)
	p.gl.PushToMergeRequest("42", bad, "docs: readme")
	before = len(p.gl.StatusCheckResponses("42"))
	posts := p.srv.Count("POST", "/api/v4/projects/42/merge_requests/*/status_check_responses")
	if code := post(t, a.url+"/checks/title", old, forgetest.Sign(old, titleSecret)); code != http.StatusAccepted {
		t.Fatalf("replayed event: %d", code)
	}
	h = a.settled(t)
	if h["stale"] != 1 || len(p.gl.StatusCheckResponses("42")) != before ||
		p.srv.Count("POST", "/api/v4/projects/42/merge_requests/*/status_check_responses") != posts {
		t.Fatalf("replayed event for an old sha was answered: healthz %v\n%s", h, a.Logs())
	}
	noSecrets(t, a, p.srv)
}

func TestServeDryRunAnswersNothing(t *testing.T) {
	p := newServeProject(t, "")
	a := startAgentWith(t, p.dir, nil, "--dry-run")
	p.addChecks(a.url)
	bad := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Update README.md", SourceBranch: "readme", TargetBranch: "staging"})
	if code, err := p.gl.SendStatusCheckEvent(context.Background(), "42", bad, p.title); err != nil || code != 202 {
		t.Fatalf("event: %d %v", code, err)
	}
	a.settled(t)
	if w := p.srv.Writes(); w != 0 || !strings.Contains(a.Logs(), "dry run: would answer status check") ||
		!strings.Contains(a.Logs(), "dry run: would comment on !1") {
		t.Fatalf("dry run: %d writes to GitLab\n%s", w, a.Logs())
	}
}

func TestServeBurstIsAnsweredOrRefused(t *testing.T) {
	p := newServeProject(t, "")
	a := startAgent(t, p.dir)
	p.addChecks(a.url)
	iid := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix(net): dhcp", SourceBranch: "dhcp", TargetBranch: "staging"})
	body := p.gl.MergeRequestEvent("42", iid, p.title)
	sig := forgetest.Sign(body, titleSecret)

	const n = 1000
	codes := make([]int, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 200) // 200 connections at once
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}, Timeout: 30 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			req, _ := http.NewRequest(http.MethodPost, a.url+"/checks/title", bytes.NewReader(body))
			req.Header.Set("X-Gitlab-Signature", sig)
			resp, err := client.Do(req)
			if err != nil {
				return // codes[i] stays 0: lost
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}(i)
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[202]+count[503] != n {
		t.Fatalf("%d events: want each answered 202 or 503, got %v", n, count)
	}
	h := a.settled(t)
	if int(h["accepted"]) != count[202] || int(h["refused"]) != count[503] {
		t.Fatalf("agent counted %v, clients saw %v", h, count)
	}
	if got := len(p.gl.StatusCheckResponses("42")); got != count[202] || int(h["answered"]) != got {
		t.Fatalf("%d accepted, %d answered on GitLab, healthz %v", count[202], got, h)
	}
	// Memory stays bounded: the queue holds 64 small jobs, never the bodies.
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(rest)[0])
			t.Logf("1,000 events: %v; peak RSS %d MiB", count, kb/1024)
			if kb > 200*1024 {
				t.Errorf("peak RSS %d MiB for 1,000 events: not bounded", kb/1024)
			}
		}
	}
	noSecrets(t, a, p.srv)
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	p := newServeProject(t, "")
	a := startAgent(t, p.dir)
	p.addChecks(a.url)
	var iids []int64
	for i := 0; i < 12; i++ {
		iids = append(iids, p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix(boot): part " + strconv.Itoa(i), SourceBranch: "b" + strconv.Itoa(i), TargetBranch: "staging"}))
	}
	// Every MR read takes 300 ms: with 4 workers, 12 events take about a
	// second, most of it after SIGTERM.
	p.srv.Inject(forgetest.Fault{Method: "GET", Path: "/api/v4/projects/42/merge_requests/*", Kind: forgetest.Slow, Delay: 300 * time.Millisecond, Times: 1000})
	for _, iid := range iids {
		if code, err := p.gl.SendStatusCheckEvent(context.Background(), "42", iid, p.title); err != nil || code != http.StatusAccepted {
			t.Fatalf("event: %d %v", code, err)
		}
	}
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatalf("pipeline serve after SIGTERM: %v\n%s", err, a.Logs())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pipeline serve did not stop within 30s of SIGTERM:\n%s", a.Logs())
	}
	if got := len(p.gl.StatusCheckResponses("42")); got != len(iids) {
		t.Fatalf("%d of %d in-flight events answered before exit:\n%s", got, len(iids), a.Logs())
	}
	if !strings.Contains(a.Logs(), "serve: stopping") || !strings.Contains(a.Logs(), `"answered":12`) {
		t.Errorf("the log does not say it drained 12:\n%s", a.Logs())
	}
}

// integration failing on an MR's commit turns that MR's integration check
// to failed: the stage records its verdict in MinIO and answers the check
// itself; the agent, asked by GitLab afterwards, answers the same from the
// store.
func TestServeIntegrationVerdictEndToEnd(t *testing.T) {
	testutil.NeedTool(t, "git")
	mio := miniotest.Start(t)
	bucket := mio.Bucket(t)
	p := newServeProject(t, "")
	p.addChecks("http://127.0.0.1:1") // the agent's address is known later

	yaml := fmt.Sprintf(`version: 1
project: {name: appliance}
forge: {type: gitlab, url: %s, project: "42"}
artifacts:
  url: s3://%s/ci
  s3: {endpoint: %s, insecure: true, access_key_env: MINIO_ACCESS_KEY, secret_key_env: MINIO_SECRET_KEY}
serve:
  checks:
    - {name: title, secret_env: CHECK_TITLE_SECRET}
    - {name: integration, secret_env: CHECK_INTEGRATION_SECRET, id: %d}
integration:
  version: "1.0"
  scenarios: [fresh]
  provision: "true"
  suites: [suites/*.yaml]
  snapshot: {ignore: ["*"]}
  logs: {journal: false}
  targets:
    - {name: ci-host, runner: local}
`, p.srv.GitLabURL(), bucket, mio.Endpoint, p.integ)
	os.MkdirAll(filepath.Join(p.dir, "suites"), 0o755)
	os.WriteFile(filepath.Join(p.dir, "pipeline.yaml"), []byte(yaml), 0o644)
	os.WriteFile(filepath.Join(p.dir, "suites", "host.yaml"), []byte("checks:\n  - id: shell\n    command: {run: \"true\"}\n  - id: never\n    command: {run: \"false\"}\n"), 0o644)

	iid := p.gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix(boot): x", SourceBranch: "x", TargetBranch: "staging"})
	head := p.gl.MergeRequests("42")[iid-1].SHA
	creds := []string{"MINIO_ACCESS_KEY=" + mio.AccessKey, "MINIO_SECRET_KEY=" + mio.SecretKey}

	// The integration job of the MR pipeline.
	job := exec.Command(filepath.Join(binDir, "pipeline"), "--repo", p.dir, "integration")
	job.Env = append(serveEnv(creds...), "GITLAB_CI=true", "CI_API_V4_URL="+p.srv.GitLabURL(), "CI_PROJECT_ID=42",
		"CI_COMMIT_SHA="+head, "CI_MERGE_REQUEST_IID="+strconv.FormatInt(iid, 10), "CI_MERGE_REQUEST_SOURCE_BRANCH_SHA="+head,
		"CI_PIPELINE_SOURCE=merge_request_event", "CI_JOB_URL=https://gitlab.example.com/appliance/os/-/jobs/7")
	out, err := job.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("pipeline integration: want exit 1 (a failing check), got %v\n%s", err, out)
	}
	got := p.gl.StatusCheckResponses("42")
	if len(got) != 1 || got[0].CheckID != p.integ || got[0].SHA != head || got[0].Status != "failed" {
		t.Fatalf("after the integration job: responses %+v\n%s", got, out)
	}
	if !strings.Contains(strings.Join(mio.Keys(t, bucket), "\n"), "ci/verdicts/"+head+"/integration.json") {
		t.Fatalf("no verdict in the bucket: %v", mio.Keys(t, bucket))
	}

	// GitLab asks the agent (the MR changed: a comment, say): same answer,
	// from the store.
	a := startAgent(t, p.dir, creds...)
	p.pointChecksAt(a.url)
	old := p.gl.MergeRequestEvent("42", iid, p.integ)
	if code, err := p.gl.SendStatusCheckEvent(context.Background(), "42", iid, p.integ); err != nil || code != 202 {
		t.Fatalf("event: %d %v", code, err)
	}
	a.settled(t)
	got = p.gl.StatusCheckResponses("42")
	if len(got) != 2 || got[1].SHA != head || got[1].Status != "failed" || got[1].CheckID != p.integ {
		t.Fatalf("agent's answer from the store: responses %+v\n%s", got, a.Logs())
	}
	// A new commit pushed: pending until its integration job ran.
	newHead := p.gl.PushToMergeRequest("42", iid, "fix(boot): y")
	if code, err := p.gl.SendStatusCheckEvent(context.Background(), "42", iid, p.integ); err != nil || code != 202 {
		t.Fatalf("event: %d %v", code, err)
	}
	a.settled(t)
	got = p.gl.StatusCheckResponses("42")
	if len(got) != 3 || got[2].SHA != newHead || got[2].Status != "pending" {
		t.Fatalf("responses %+v\n%s", got, a.Logs())
	}
	// The old head's event again: nothing sent.
	if code := post(t, a.url+"/checks/integration", old, forgetest.Sign(old, integSecret)); code != 202 {
		t.Fatalf("replay: %d", code)
	}
	if h := a.settled(t); h["stale"] != 1 || len(p.gl.StatusCheckResponses("42")) != 3 {
		t.Fatalf("the event for the old head was answered: %v", h)
	}
	noSecrets(t, a, p.srv)
	if strings.Contains(string(out)+a.Logs(), mio.SecretKey) {
		t.Errorf("the MinIO secret key is in the output")
	}
}
