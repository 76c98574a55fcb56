package forgetest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// External status checks, as GitLab (Ultimate) has them
// (docs.gitlab.com/api/status_checks/ and
// docs.gitlab.com/user/project/merge_requests/status_checks/): a project's
// check services, each with an external URL and an optional HMAC shared
// secret; GitLab POSTs the merge-request event payload to the URL each time
// the MR changes, signed in X-Gitlab-Signature (the hex HMAC-SHA256 of the
// body with the shared secret), and the service answers later through
// POST /projects/:id/merge_requests/:iid/status_check_responses.

// GLExternalStatusCheck is a project's external status check service.
type GLExternalStatusCheck struct {
	ID                int64  `json:"id"`
	Name              string `json:"name"`
	ProjectID         int64  `json:"project_id"`
	ExternalURL       string `json:"external_url"`
	HMAC              bool   `json:"hmac"`
	ProtectedBranches []any  `json:"protected_branches"`
	// SharedSecret signs the payloads sent; never served.
	SharedSecret string `json:"-"`
}

// GLDelivery is one payload the fake sent to a check's URL.
type GLDelivery struct {
	CheckID int64
	MRIID   int64
	SHA     string
	Status  int // the service's HTTP answer; 0 when it could not be reached
	Signed  bool
}

// AddExternalStatusCheck adds an external status check service to the
// project and returns its id. With a secret, the payloads sent to url are
// signed with it.
func (g *GitLab) AddExternalStatusCheck(project, name, url, secret string) int64 {
	id := g.s.id()
	g.Do(project, func(p *GLProject) {
		p.ExternalChecks = append(p.ExternalChecks, &GLExternalStatusCheck{ID: id, Name: name, ProjectID: p.ID,
			ExternalURL: url, HMAC: secret != "", ProtectedBranches: []any{}, SharedSecret: secret})
	})
	return id
}

// PushToMergeRequest adds a commit on the MR's source branch and makes it
// the MR's head, as a push would; it returns the new head.
func (g *GitLab) PushToMergeRequest(project string, iid int64, message string) string {
	var sha string
	g.Do(project, func(p *GLProject) {
		m := p.mr(iid)
		if m == nil {
			panic(fmt.Sprintf("forgetest: no MR !%d in %s", iid, project))
		}
		if p.Branches[m.SourceBranch] == "" && m.SHA != "" {
			p.Branches[m.SourceBranch] = m.SHA
		}
		sha = p.addCommit(g.s, m.SourceBranch, message)
		m.SHA = sha
		m.UpdatedAt = g.s.now().UTC()
	})
	return sha
}

// Deliveries returns the payloads sent to external status checks so far.
func (g *GitLab) Deliveries(project string) []GLDelivery {
	var out []GLDelivery
	g.Do(project, func(p *GLProject) { out = append(out, p.deliveries...) })
	return out
}

// MergeRequestEvent is the payload GitLab sends to check checkID for MR iid
// now: the merge-request webhook payload with external_approval_rule, as
// in the documentation's "Example payload sent to external service".
func (g *GitLab) MergeRequestEvent(project string, iid, checkID int64) []byte {
	var body []byte
	g.Do(project, func(p *GLProject) {
		m := p.mr(iid)
		c := p.check(checkID)
		if m == nil || c == nil {
			panic(fmt.Sprintf("forgetest: no MR !%d or check %d in %s", iid, checkID, project))
		}
		body = mrEvent(p, m, c)
	})
	return body
}

// SendStatusCheckEvent sends the MR's current state to the check's URL as
// GitLab does: POST, Content-Type application/json, signed with the
// check's shared secret when it has one. It returns the service's HTTP
// status.
func (g *GitLab) SendStatusCheckEvent(ctx context.Context, project string, iid, checkID int64) (int, error) {
	body := g.MergeRequestEvent(project, iid, checkID)
	var (
		url, secret, sha string
	)
	g.Do(project, func(p *GLProject) {
		c := p.check(checkID)
		url, secret, sha = c.ExternalURL, c.SharedSecret, p.mr(iid).SHA
	})
	status, err := postSigned(ctx, url, body, secret)
	g.Do(project, func(p *GLProject) {
		p.deliveries = append(p.deliveries, GLDelivery{CheckID: checkID, MRIID: iid, SHA: sha, Status: status, Signed: secret != ""})
	})
	return status, err
}

// Sign is the X-Gitlab-Signature of body with secret: the hex HMAC-SHA256.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

var deliveryClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func postSigned(ctx context.Context, url string, body []byte, secret string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Gitlab-Signature", Sign(body, secret))
	}
	resp, err := deliveryClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (p *GLProject) check(id int64) *GLExternalStatusCheck {
	for _, c := range p.ExternalChecks {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func mrEvent(p *GLProject, m *GLMergeRequest, c *GLExternalStatusCheck) []byte {
	name := p.Path
	ns := ""
	if i := lastSlash(p.Path); i >= 0 {
		ns, name = p.Path[:i], p.Path[i+1:]
	}
	project := map[string]any{
		"id": p.ID, "name": name, "description": "", "web_url": p.WebURL, "avatar_url": nil,
		"git_ssh_url": "ssh://gitlab.example.com/" + p.Path + ".git", "git_http_url": p.WebURL + ".git",
		"namespace": ns, "visibility_level": 0, "path_with_namespace": p.Path, "default_branch": "main",
		"ci_config_path": nil, "homepage": p.WebURL, "url": "ssh://gitlab.example.com/" + p.Path + ".git",
		"ssh_url": "ssh://gitlab.example.com/" + p.Path + ".git", "http_url": p.WebURL + ".git",
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
	commit := p.Commits[m.SHA]
	lastCommit := map[string]any{"id": m.SHA, "message": m.Title, "title": m.Title,
		"timestamp": m.UpdatedAt.UTC().Format(time.RFC3339), "url": p.WebURL + "/-/commit/" + m.SHA,
		"author": map[string]any{"name": m.Author.Name, "email": m.Author.Username + "@example.com"}}
	if commit != nil {
		lastCommit["message"], lastCommit["title"] = commit.Message, commit.Title
	}
	stateID := map[string]int{"opened": 1, "closed": 2, "merged": 3, "locked": 4}[m.State]
	var milestoneID any
	if m.Milestone != nil {
		milestoneID = m.Milestone.ID
	}
	var mergeCommit any
	if m.MergeCommitSHA != nil {
		mergeCommit = *m.MergeCommitSHA
	}
	labels := []any{}
	for _, l := range m.Labels {
		labels = append(labels, map[string]any{"title": l})
	}
	attrs := map[string]any{
		"assignee_id": nil, "author_id": m.Author.ID, "created_at": ts(m.CreatedAt), "description": m.Description,
		"head_pipeline_id": nil, "id": m.ID, "iid": m.IID, "last_edited_at": nil, "last_edited_by_id": nil,
		"merge_commit_sha": mergeCommit, "merge_error": nil, "merge_params": map[string]any{"force_remove_source_branch": "0"},
		"merge_status": m.MergeStatus, "merge_user_id": nil, "merge_when_pipeline_succeeds": false,
		"milestone_id": milestoneID, "source_branch": m.SourceBranch, "source_project_id": p.ID, "state_id": stateID,
		"target_branch": m.TargetBranch, "target_project_id": p.ID, "time_estimate": 0, "title": m.Title,
		"updated_at": ts(m.UpdatedAt), "updated_by_id": nil, "url": m.WebURL,
		"source": project, "target": project, "last_commit": lastCommit,
		"work_in_progress": m.Draft, "total_time_spent": 0, "time_change": 0, "human_total_time_spent": nil,
		"human_time_change": nil, "human_time_estimate": nil, "assignee_ids": []any{}, "reviewer_ids": []any{},
		"labels": labels, "state": m.State, "blocking_discussions_resolved": true, "first_contribution": false,
		"detailed_merge_status": "mergeable",
	}
	ev := map[string]any{
		"object_kind": "merge_request", "event_type": "merge_request",
		"user": map[string]any{"id": m.Author.ID, "name": m.Author.Name, "username": m.Author.Username,
			"avatar_url": m.Author.AvatarURL, "email": "[REDACTED]"},
		"project": project, "object_attributes": attrs, "labels": labels, "changes": map[string]any{},
		"repository": map[string]any{"name": name, "url": "ssh://gitlab.example.com/" + p.Path + ".git",
			"description": "", "homepage": p.WebURL},
		"external_approval_rule": map[string]any{"id": c.ID, "name": c.Name, "external_url": c.ExternalURL},
	}
	b, _ := json.Marshal(ev)
	return b
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// --- API ----------------------------------------------------------------------------

// licensed answers 401 as GitLab does when the instance lacks the licence
// for external status checks (check_feature_enabled! → unauthorized!).
func licensed(w http.ResponseWriter, p *GLProject) bool {
	if p.Unlicensed {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
		return false
	}
	return true
}

func (g *GitLab) listExternalChecks(w http.ResponseWriter, r *http.Request, p *GLProject) {
	if !licensed(w, p) {
		return
	}
	writeJSON(w, http.StatusOK, page(w, r, p.ExternalChecks, true))
}

func (g *GitLab) getMR(w http.ResponseWriter, r *http.Request, p *GLProject) {
	m := p.mr(pathInt(r, "iid"))
	if m == nil {
		glErr(w, http.StatusNotFound, "404 Not found")
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// statusCheck is POST /projects/:id/merge_requests/:iid/status_check_responses,
// checked in GitLab's order: licence (401), required parameters (400), the
// MR (404), the check (404), the sha at the MR's head (409).
func (g *GitLab) statusCheck(w http.ResponseWriter, r *http.Request, p *GLProject) {
	if !licensed(w, p) {
		return
	}
	q, _ := params(r)
	for _, k := range []string{"external_status_check_id", "sha", "status"} {
		if q.Get(k) == "" {
			glErr(w, http.StatusBadRequest, k+" is missing")
			return
		}
	}
	id, err := strconv.ParseInt(q.Get("external_status_check_id"), 10, 64)
	if err != nil {
		glErr(w, http.StatusBadRequest, "external_status_check_id is invalid")
		return
	}
	status := q.Get("status")
	if status != "passed" && status != "failed" && status != "pending" {
		glErr(w, http.StatusBadRequest, "status does not have a valid value")
		return
	}
	m := p.mr(pathInt(r, "iid"))
	if m == nil {
		glErr(w, http.StatusNotFound, "404 Merge Request Not Found")
		return
	}
	c := p.check(id)
	if c == nil {
		glErr(w, http.StatusNotFound, "404 Not found")
		return
	}
	if q.Get("sha") != m.SHA {
		glErr(w, http.StatusConflict, "SHA does not match HEAD of source branch: "+m.SHA)
		return
	}
	p.StatusChecks = append(p.StatusChecks, GLStatusCheckResponse{MergeRequestIID: m.IID, CheckID: id, SHA: m.SHA, Status: status})
	writeJSON(w, http.StatusCreated, map[string]any{
		"id":                    g.s.id(),
		"merge_request":         map[string]any{"id": m.ID, "iid": m.IID, "project_id": p.ID, "title": m.Title},
		"external_status_check": map[string]any{"id": c.ID, "name": c.Name, "project_id": p.ID, "external_url": c.ExternalURL, "hmac": c.HMAC},
	})
}
