package forgetest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const tok = "secret-token"

// call makes one request with the given auth header and JSON body and
// returns the status and the decoded answer.
func call(t *testing.T, method, url, authHeader string, body any) (int, any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if authHeader != "" {
		k, v, _ := strings.Cut(authHeader, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

// sameShape checks that every field of the documented example doc is in
// ours with the same JSON type (null in either is accepted: the field is
// nullable), recursively.
func sameShape(t *testing.T, path string, doc, ours any) {
	t.Helper()
	if doc == nil || ours == nil {
		return
	}
	switch d := doc.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok {
			t.Errorf("%s: documented as an object, served as %T", path, ours)
			return
		}
		for k, v := range d {
			ov, present := o[k]
			if !present {
				t.Errorf("%s.%s: documented field missing", path, k)
				continue
			}
			sameShape(t, path+"."+k, v, ov)
		}
	case []any:
		o, ok := ours.([]any)
		if !ok {
			t.Errorf("%s: documented as an array, served as %T", path, ours)
			return
		}
		if len(d) > 0 && len(o) > 0 {
			sameShape(t, path+"[0]", d[0], o[0])
		}
	default:
		if fmt.Sprintf("%T", doc) != fmt.Sprintf("%T", ours) {
			t.Errorf("%s: documented as %T (%v), served as %T (%v)", path, doc, doc, ours, ours)
		}
	}
}

func fixture(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// checkPayload makes the call and checks its status and that its answer
// (the first item of a list) has the shape of the documented example in
// testdata/forge/fix; it returns the answer checked.
func checkPayload(t *testing.T, forge, fix, auth string, wantStatus int, method, url string, body any) any {
	t.Helper()
	code, got, _ := call(t, method, url, auth, body)
	if code != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %v", method, url, code, wantStatus, got)
	}
	if arr, ok := got.([]any); ok {
		if len(arr) == 0 {
			t.Fatalf("%s %s: empty list", method, url)
		}
		got = arr[0]
	}
	sameShape(t, fix, fixture(t, forge+"/"+fix), got)
	return got
}

func TestGitLabPayloadsMatchTheDocs(t *testing.T) {
	srv := New(t, tok)
	gl := srv.GitLab()
	gl.AddProject(3, "my-group/my-project")
	sha := gl.AddCommit("3", "main", "Initial commit")
	pick := gl.AddCommit("3", "feature", "Feature added")
	closed := time.Now().UTC()
	gl.AddIssue("3", GLIssue{Title: "bug", State: "closed", ClosedAt: &closed, Labels: []string{"foo"}})
	api := srv.GitLabURL() + "/projects/3"
	auth := "PRIVATE-TOKEN: " + tok

	check := func(fix string, wantStatus int, method, url string, body any) any {
		t.Helper()
		return checkPayload(t, "gitlab", fix, auth, wantStatus, method, url, body)
	}
	check("commit_status.json", 201, "POST", api+"/statuses/"+sha, map[string]any{"state": "success", "name": "default", "coverage": 100.0})
	check("milestone.json", 201, "POST", api+"/milestones", map[string]any{"title": "10.0", "due_date": "2013-11-29", "start_date": "2013-11-10"})
	check("merge_request.json", 201, "POST", api+"/merge_requests", map[string]any{"title": "test1", "source_branch": "test1", "target_branch": "main", "milestone_id": 1})
	check("merge_request.json", 200, "GET", api+"/merge_requests?state=opened", nil)
	check("note.json", 201, "POST", api+"/merge_requests/1/notes", map[string]any{"body": "closed"})
	check("issue.json", 200, "GET", api+"/issues?state=closed", nil)
	check("tag.json", 201, "POST", api+"/repository/tags", map[string]any{"tag_name": "v1.0.0", "ref": sha})
	check("release.json", 201, "POST", api+"/releases", map[string]any{"tag_name": "v0.1", "name": "Awesome app v0.1 alpha", "ref": sha,
		"description": "## CHANGELOG", "assets": map[string]any{"links": []any{map[string]any{"name": "hoge", "url": "https://example.com/bin"}}}})
	check("release_link.json", 201, "POST", api+"/releases/v0.1/assets/links", map[string]any{"name": "awesome-v0.2.dmg", "url": "http://192.168.10.15:3000"})
	check("cherry_pick.json", 201, "POST", api+"/repository/commits/"+pick+"/cherry_pick", map[string]any{"branch": "main"})
	// The tag payload includes the release once there is one.
	got := check("tag.json", 200, "GET", api+"/repository/tags/v0.1", nil)
	if rel, _ := got.(map[string]any)["release"].(map[string]any); rel == nil || rel["tag_name"] != "v0.1" {
		t.Fatalf("tag v0.1 does not show its release: %v", got)
	}
}

func TestGitHubPayloadsMatchTheDocs(t *testing.T) {
	srv := New(t, tok)
	gh := srv.GitHub()
	gh.AddRepo("octocat/Hello-World")
	api := srv.GitHubURL() + "repos/octocat/Hello-World"
	auth := "Authorization: Bearer " + tok
	sha := strings.Repeat("6d", 20)
	check := func(fix string, wantStatus int, method, url string, body any) any {
		t.Helper()
		return checkPayload(t, "github", fix, auth, wantStatus, method, url, body)
	}
	check("status.json", 201, "POST", api+"/statuses/"+sha, map[string]any{"state": "success", "context": "ci", "description": "ok", "target_url": "https://ci/1"})
	check("milestone.json", 201, "POST", api+"/milestones", map[string]any{"title": "v1.0", "description": "Tracking", "due_on": "2012-10-09T23:39:01Z"})
	check("pull.json", 201, "POST", api+"/pulls", map[string]any{"title": "Amazing new feature", "head": "new-topic", "base": "master", "body": "Please pull"})
	check("issue.json", 200, "PATCH", api+"/issues/1", map[string]any{"labels": []string{"bug"}, "milestone": 1})
	check("pull.json", 200, "GET", api+"/pulls?state=open", nil)
	check("issue_comment.json", 201, "POST", api+"/issues/1/comments", map[string]any{"body": "Me too"})
	check("commit_comment.json", 201, "POST", api+"/commits/"+sha+"/comments", map[string]any{"body": "Great stuff"})
	tag := check("tag.json", 201, "POST", api+"/git/tags", map[string]any{"tag": "v0.0.1", "message": "initial version", "object": sha, "type": "commit"})
	check("ref.json", 201, "POST", api+"/git/refs", map[string]any{"ref": "refs/tags/v0.0.1", "sha": tag.(map[string]any)["sha"]})
	ref := check("ref.json", 200, "GET", api+"/git/ref/tags/v0.0.1", nil)
	if obj := ref.(map[string]any)["object"].(map[string]any); obj["type"] != "tag" {
		t.Fatalf("an annotated tag's ref points to a %v", obj["type"])
	}
	check("release.json", 201, "POST", api+"/releases", map[string]any{"tag_name": "v1.0.0", "target_commitish": sha, "name": "v1.0.0", "body": "Description"})
	check("release.json", 200, "GET", api+"/releases/tags/v1.0.0", nil)
}

func TestAuthIsChecked(t *testing.T) {
	srv := New(t, tok)
	srv.AddJobToken("job-tok")
	srv.GitLab().AddProject(1, "g/p")
	srv.GitHub().AddRepo("o/r")
	gl := srv.GitLabURL() + "/projects/1"
	cases := []struct {
		method, url, auth string
		want              int
	}{
		{"GET", gl + "/milestones", "", 401},
		{"GET", gl + "/milestones", "PRIVATE-TOKEN: wrong", 401},
		{"GET", gl + "/milestones", "PRIVATE-TOKEN: " + tok, 200},
		{"GET", gl + "/milestones", "Authorization: Bearer " + tok, 200},
		{"GET", gl + "/milestones", "JOB-TOKEN: job-tok", 403},
		{"GET", gl + "/releases/v1", "JOB-TOKEN: job-tok", 404},
		{"GET", gl + "/releases/v1", "JOB-TOKEN: forged", 401},
		{"GET", srv.GitHubURL() + "repos/o/r/milestones", "", 401},
		{"GET", srv.GitHubURL() + "repos/o/r/milestones", "Authorization: Bearer " + tok, 200},
		{"GET", srv.GitHubURL() + "repos/o/nope/milestones", "Authorization: Bearer " + tok, 404},
	}
	for _, c := range cases {
		if code, body, _ := call(t, c.method, c.url, c.auth, nil); code != c.want {
			t.Errorf("%s %s with %q: %d, want %d (%v)", c.method, c.url, c.auth, code, c.want, body)
		}
	}
}

func TestPaginationHeaders(t *testing.T) {
	srv := New(t, tok)
	srv.GitLab().AddProject(1, "g/p")
	srv.GitHub().AddRepo("o/r")
	for i := 0; i < 25; i++ {
		srv.GitLab().AddMilestone("1", fmt.Sprintf("m%d", i), "")
		srv.GitHub().AddMilestone("o/r", fmt.Sprintf("m%d", i), "")
	}
	code, body, h := call(t, "GET", srv.GitLabURL()+"/projects/1/milestones?per_page=10&page=2", "PRIVATE-TOKEN: "+tok, nil)
	if code != 200 || len(body.([]any)) != 10 || h.Get("X-Total") != "25" || h.Get("X-Total-Pages") != "3" ||
		h.Get("X-Page") != "2" || h.Get("X-Next-Page") != "3" || h.Get("X-Prev-Page") != "1" || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Fatalf("gitlab page 2: %d items, headers %v", len(body.([]any)), h)
	}
	code, body, h = call(t, "GET", srv.GitHubURL()+"repos/o/r/milestones?per_page=10&page=3", "Authorization: Bearer "+tok, nil)
	if code != 200 || len(body.([]any)) != 5 || strings.Contains(h.Get("Link"), `rel="next"`) || !strings.Contains(h.Get("Link"), `rel="prev"`) {
		t.Fatalf("github last page: %d items, Link %q", len(body.([]any)), h.Get("Link"))
	}
}

func TestFaults(t *testing.T) {
	srv := New(t, tok)
	srv.GitLab().AddProject(1, "g/p")
	url := srv.GitLabURL() + "/projects/1/milestones"
	auth := "PRIVATE-TOKEN: " + tok

	srv.Inject(Fault{Method: "GET", Path: "/api/v4/projects/*/milestones", Kind: RateLimited, Times: 2, RetryAfter: 3 * time.Second})
	for i := 0; i < 2; i++ {
		code, _, h := call(t, "GET", url, auth, nil)
		if code != 429 || h.Get("Retry-After") != "3" || h.Get("RateLimit-Reset") == "" {
			t.Fatalf("try %d: %d %v", i, code, h)
		}
	}
	if code, _, _ := call(t, "GET", url, auth, nil); code != 200 {
		t.Fatalf("after 2 faults: %d", code)
	}

	// DropAfter: applied, no answer.
	srv.Inject(Fault{Method: "POST", Path: "/api/v4/**", Kind: DropAfter})
	b, _ := json.Marshal(map[string]any{"title": "m1"})
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("PRIVATE-TOKEN", tok)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("DropAfter answered")
	}
	if ms := srv.GitLab().Milestones("1"); len(ms) != 1 || ms[0].Title != "m1" {
		t.Fatalf("DropAfter did not apply the request: %+v", ms)
	}
	// ServerError: not applied.
	srv.Inject(Fault{Method: "POST", Kind: ServerError})
	if code, _, _ := call(t, "POST", url, auth, map[string]any{"title": "m2"}); code != 500 {
		t.Fatalf("ServerError: %d", code)
	}
	if n := len(srv.GitLab().Milestones("1")); n != 1 {
		t.Fatalf("ServerError applied the request: %d milestones", n)
	}
	if got := srv.Count("POST", "/api/v4/projects/*/milestones"); got != 2 {
		t.Fatalf("Count = %d", got)
	}
	// Creating the same title again is refused as GitLab does.
	if code, body, _ := call(t, "POST", url, auth, map[string]any{"title": "m1"}); code != 400 || !strings.Contains(fmt.Sprint(body), "already being used") {
		t.Fatalf("duplicate milestone: %d %v", code, body)
	}
}

// External status checks: the event sent to the service has the fields of
// the documented "example payload sent to external service", signed as
// GitLab signs it; the answers come back with GitLab's codes.
func TestGitLabStatusChecksAsDocumented(t *testing.T) {
	srv := New(t, tok)
	gl := srv.GitLab()
	gl.AddProject(6, "net/router")
	var (
		gotBody []byte
		gotSig  string
		gotType string
	)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotSig, gotType = r.Header.Get("X-Gitlab-Signature"), r.Header.Get("Content-Type")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer svc.Close()
	check := gl.AddExternalStatusCheck("6", "title", svc.URL+"/checks/title", "hmac-secret")
	iid := gl.AddMergeRequest("6", GLMergeRequest{Title: "fix(boot): wait", SourceBranch: "fix", TargetBranch: "main"})
	head := gl.MergeRequests("6")[0].SHA
	code, err := gl.SendStatusCheckEvent(context.Background(), "6", iid, check)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("delivery: %d %v", code, err)
	}
	var ev any
	if err := json.Unmarshal(gotBody, &ev); err != nil {
		t.Fatal(err)
	}
	sameShape(t, "status_check_event.json", fixture(t, "gitlab/status_check_event.json"), ev)
	mac := hmac.New(sha256.New, []byte("hmac-secret"))
	mac.Write(gotBody)
	if gotSig != hex.EncodeToString(mac.Sum(nil)) || gotType != "application/json" {
		t.Fatalf("signature %q, content type %q", gotSig, gotType)
	}
	attrs := ev.(map[string]any)["object_attributes"].(map[string]any)
	if attrs["last_commit"].(map[string]any)["id"] != head || attrs["iid"] != float64(iid) ||
		ev.(map[string]any)["external_approval_rule"].(map[string]any)["id"] != float64(check) {
		t.Fatalf("payload does not carry the MR head, iid and check id: %v", attrs)
	}
	if d := gl.Deliveries("6"); len(d) != 1 || d[0].Status != 202 || !d[0].Signed || d[0].SHA != head {
		t.Fatalf("deliveries %+v", d)
	}

	api := srv.GitLabURL() + "/projects/6"
	auth := "PRIVATE-TOKEN: " + tok
	checkPayload(t, "gitlab", "external_status_check.json", auth, 200, "GET", api+"/external_status_checks", nil)
	answer := func(iid int64, id int64, sha, status string) int {
		body := map[string]any{"external_status_check_id": id, "sha": sha, "status": status}
		code, _, _ := call(t, "POST", fmt.Sprintf("%s/merge_requests/%d/status_check_responses", api, iid), auth, body)
		return code
	}
	for _, c := range []struct {
		name        string
		iid, id     int64
		sha, status string
		want        int
	}{
		{"answered", iid, check, head, "passed", 201},
		{"pending", iid, check, head, "pending", 201},
		{"bad status", iid, check, head, "approved", 400},
		{"no status", iid, check, head, "", 400},
		{"unknown MR", 99, check, head, "passed", 404},
		{"unknown check", iid, 999, head, "passed", 404},
		{"old sha", iid, check, strings.Repeat("0", 40), "failed", 409},
	} {
		if got := answer(c.iid, c.id, c.sha, c.status); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if code, _, _ := call(t, "POST", api+"/merge_requests/1/status_check_responses", "", map[string]any{}); code != 401 {
		t.Errorf("without a token: %d", code)
	}
	gl.Do("6", func(p *GLProject) { p.Unlicensed = true })
	if got := answer(iid, check, head, "passed"); got != 401 {
		t.Errorf("without the licence: %d, want 401", got)
	}
	if r := gl.StatusCheckResponses("6"); len(r) != 2 || r[0].Status != "passed" || r[1].Status != "pending" {
		t.Fatalf("recorded %+v", r)
	}
}
