package serve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

const secret = "s3cret-value-for-tests"

// fakeForge records answers; heads are the MRs' heads; block, when set,
// holds every MR read until it is closed.
type fakeForge struct {
	mu      sync.Mutex
	heads   map[int]string
	answers []string
	block   chan struct{}
}

func (f *fakeForge) MergeRequestHead(ctx context.Context, mr int) (string, string, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return "", "", ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads[mr], "opened", nil
}

func (f *fakeForge) SetExternalStatusCheck(_ context.Context, mr, checkID int, sha, status string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.heads[mr] != sha {
		return gitops.ErrStaleSHA
	}
	f.answers = append(f.answers, fmt.Sprintf("!%d check %d %s %s", mr, checkID, sha[:7], status))
	return nil
}

func (f *fakeForge) UpsertComment(_ context.Context, target gitops.CommentTarget, marker, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, fmt.Sprintf("comment on !%d %s: %s", target.MergeRequest, marker, body))
	return nil
}

func (f *fakeForge) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.answers...)
}

type mapVerdicts map[string]handoff.Verdict

func (m mapVerdicts) Verdict(_ context.Context, sha, stage string) (handoff.Verdict, error) {
	if v, ok := m[sha+"/"+stage]; ok {
		return v, nil
	}
	return handoff.Verdict{Outcome: handoff.OutcomePending, Summary: "no verdict recorded yet"}, nil
}

func newServer(t *testing.T, f *fakeForge, queue, workers int, log *bytes.Buffer) *Server {
	t.Helper()
	cfg := config.DefaultServe()
	cfg.Queue, cfg.Workers = queue, workers
	cfg.Checks = []config.ServeCheck{{Name: "title", SecretEnv: "X"}, {Name: "integration", SecretEnv: "Y"}}
	l := logging.Discard()
	if log != nil {
		var err error
		if l, err = logging.New(log, logging.Options{Format: "json"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(Options{Config: cfg, Secrets: map[string]string{"title": secret, "integration": secret + "-i"}, Project: "42",
		Forge: f, Verdicts: mapVerdicts{strings.Repeat("b", 40) + "/integration": {Outcome: "failed", Summary: "2 failed"}}, Log: l})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(time.Second) })
	return s
}

func eventBody(iid int, sha, title string) []byte {
	b, _ := json.Marshal(map[string]any{
		"object_kind":            "merge_request",
		"project":                map[string]any{"id": 42, "path_with_namespace": "g/p"},
		"object_attributes":      map[string]any{"iid": iid, "title": title, "state": "opened", "last_commit": map[string]any{"id": sha}},
		"external_approval_rule": map[string]any{"id": 9, "name": "title"},
	})
	return b
}

func sign(body []byte, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func send(h http.Handler, path string, body []byte, sig string) int {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("X-Gitlab-Signature", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func TestRequestsAreCheckedBeforeQueued(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	f := &fakeForge{heads: map[int]string{1: a, 2: b}}
	var log bytes.Buffer
	s := newServer(t, f, 8, 1, &log)
	h := s.Handler()
	good := eventBody(1, a, "fix(boot): wait for the disk")
	other := eventBody(1, a, "x")
	other[len(other)-2] = ' ' // any change to the body breaks the signature
	huge := append(eventBody(1, a, "fix: x"), bytes.Repeat([]byte(" "), 2<<20)...)
	cases := []struct {
		name, path string
		body       []byte
		sig        string
		want       int
	}{
		{"signed", "/checks/title", good, sign(good, secret), 202},
		{"no signature", "/checks/title", good, "", 401},
		{"other secret", "/checks/title", good, sign(good, secret+"-i"), 401},
		{"changed body", "/checks/title", other, sign(good, secret), 401},
		{"not hex", "/checks/title", good, "sha256=" + sign(good, secret), 401},
		{"unknown check", "/checks/promote", good, sign(good, secret), 404},
		{"too large", "/checks/title", huge, sign(huge, secret), 413},
		{"not an MR event", "/checks/title", []byte(`{"object_kind":"push"}`), sign([]byte(`{"object_kind":"push"}`), secret), 400},
		{"other project", "/checks/title", bytes.Replace(good, []byte(`"id":42`), []byte(`"id":43`), 1),
			sign(bytes.Replace(good, []byte(`"id":42`), []byte(`"id":43`), 1), secret), 403},
	}
	for _, c := range cases {
		if got := send(h, c.path, c.body, c.sig); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := f.got(); len(got) != 1 || got[0] != "!1 check 9 aaaaaaa passed" {
		t.Fatalf("answers %v", got)
	}
	st := s.Stats()
	if st.Accepted != 1 || st.Answered != 1 || st.Rejected != int64(len(cases)-1) {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(log.String(), secret) || strings.Contains(log.String(), "wait for the disk\\\" ") {
		t.Fatalf("log holds a secret or a body:\n%s", log.String())
	}
}

func TestChecksDecide(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	f := &fakeForge{heads: map[int]string{1: a, 2: b, 3: a}}
	s := newServer(t, f, 8, 2, nil)
	h := s.Handler()
	for _, ev := range []struct {
		path string
		body []byte
		key  string
	}{
		{"/checks/title", eventBody(1, a, "Update README.md"), secret},
		{"/checks/integration", eventBody(2, b, "fix: x"), secret + "-i"},
		{"/checks/integration", eventBody(3, a, "fix: x"), secret + "-i"}, // nothing recorded for a
		{"/checks/title", eventBody(2, a, "fix: x"), secret},              // a is not !2's head
	} {
		if code := send(h, ev.path, ev.body, sign(ev.body, ev.key)); code != 202 {
			t.Fatalf("%s: %d", ev.path, code)
		}
	}
	if err := s.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(f.got(), "\n")
	for _, want := range []string{"!1 check 9 aaaaaaa failed", "!2 check 9 bbbbbbb failed", "!3 check 9 aaaaaaa pending",
		"comment on !1 pipeline-check-title: **Status check `title` failed** for aaaaaaaaaaaa: title \"Update README.md\" is not a Conventional Commit"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if st := s.Stats(); st.Answered != 3 || st.Stale != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFullQueueRefusesAndCloseDrains(t *testing.T) {
	a := strings.Repeat("a", 40)
	f := &fakeForge{heads: map[int]string{1: a}, block: make(chan struct{})}
	s := newServer(t, f, 2, 1, nil)
	h := s.Handler()
	body := eventBody(1, a, "fix: x")
	codes := map[int]int{}
	for i := 0; i < 10; i++ {
		codes[send(h, "/checks/title", body, sign(body, secret))]++
	}
	// One taken by the (blocked) worker, two queued at most: the rest 503.
	if codes[202] < 2 || codes[202] > 3 || codes[202]+codes[503] != 10 {
		t.Fatalf("codes %v", codes)
	}
	done := make(chan error)
	go func() { done <- s.Close(10 * time.Second) }()
	time.Sleep(50 * time.Millisecond)
	if code := send(h, "/checks/title", body, sign(body, secret)); code != 503 {
		t.Fatalf("while stopping: %d, want 503", code)
	}
	close(f.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(f.got()); got != codes[202] {
		t.Fatalf("%d accepted, %d answered", codes[202], got)
	}
}

func TestCloseCancelsWorkAfterTheDrainTimeout(t *testing.T) {
	a := strings.Repeat("a", 40)
	f := &fakeForge{heads: map[int]string{1: a}, block: make(chan struct{})}
	s := newServer(t, f, 4, 1, nil)
	body := eventBody(1, a, "fix: x")
	send(s.Handler(), "/checks/title", body, sign(body, secret))
	err := s.Close(100 * time.Millisecond)
	if err == nil || !strings.Contains(errs.Format(err), "not worked on before the drain timeout") {
		t.Fatalf("Close = %v", err)
	}
}

func TestTitleOK(t *testing.T) {
	rules := config.DefaultServe().Title
	scoped := rules
	scoped.Scopes = []string{"boot"}
	required := rules
	required.RequireScope = true
	for _, c := range []struct {
		title string
		rules config.ServeTitle
		ok    bool
		why   string
	}{
		{"fix(boot): wait for the disk", rules, true, "read by the release as fix"},
		{"feat!: new image format", rules, true, "as breaking"},
		{"Update README.md", rules, false, "not a Conventional Commit"},
		{"wip: try", rules, false, `type "wip" is not one of`},
		{"fix(net): x", scoped, false, `scope "net" is not one of boot`},
		{"fix: x", scoped, true, ""},
		{"fix: x", required, false, "a scope is required"},
		{"fix:x", rules, false, "not a Conventional Commit"},
	} {
		ok, why := TitleOK(c.title, c.rules)
		if ok != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("TitleOK(%q) = %v, %q", c.title, ok, why)
		}
	}
}

func TestStoreVerdictsPendingUntilRecorded(t *testing.T) {
	st, err := artifacts.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := strings.Repeat("c", 40)
	src := StoreVerdicts{Store: st}
	if v, err := src.Verdict(ctx, sha, "integration"); err != nil || v.Outcome != handoff.OutcomePending {
		t.Fatalf("before: %+v %v", v, err)
	}
	if _, err := handoff.Publish(ctx, st, &handoff.Verdict{Stage: "integration", Commit: sha, Outcome: "passed", Shard: "1/2", Passed: 3}); err != nil {
		t.Fatal(err)
	}
	if v, _ := src.Verdict(ctx, sha, "integration"); v.Outcome != handoff.OutcomePending || !strings.Contains(v.Summary, "1 of 2 shards") {
		t.Fatalf("one shard of two: %+v", v)
	}
	if _, err := handoff.Publish(ctx, st, &handoff.Verdict{Stage: "integration", Commit: sha, Outcome: "failed", Shard: "2/2", Failed: 1}); err != nil {
		t.Fatal(err)
	}
	if v, _ := src.Verdict(ctx, sha, "integration"); v.Outcome != handoff.OutcomeFailed || v.Passed != 3 || v.Failed != 1 {
		t.Fatalf("a failed shard: %+v", v)
	}
	if v, _ := src.Verdict(ctx, sha, "promote"); v.Outcome != handoff.OutcomePending {
		t.Fatalf("promote: %+v", v)
	}
}
