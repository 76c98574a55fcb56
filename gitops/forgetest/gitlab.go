package forgetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// GitLab is the fake GitLab v4 API: projects with commit statuses, merge
// requests, notes, issues, milestones, tags, releases and their links,
// external status check responses, branches and commits (for the
// cherry-pick API). The payloads carry the fields of the GitLab REST API
// documentation (docs.gitlab.com/api/…).
type GitLab struct {
	s        *Server
	mu       sync.Mutex
	projects map[string]*GLProject // by id and by path
}

// GLUser is the author object of GitLab payloads.
type GLUser struct {
	ID        int64  `json:"id"`
	Username  string `json:"username"`
	Name      string `json:"name"`
	State     string `json:"state"`
	AvatarURL string `json:"avatar_url"`
	WebURL    string `json:"web_url"`
}

var glBot = GLUser{ID: 1, Username: "pipeline-bot", Name: "Pipeline Bot", State: "active", AvatarURL: "", WebURL: "https://gitlab.example.com/pipeline-bot"}

// GLStatus is a commit status (POST /projects/:id/statuses/:sha).
type GLStatus struct {
	ID           int64      `json:"id"`
	SHA          string     `json:"sha"`
	Ref          string     `json:"ref"`
	Status       string     `json:"status"`
	Name         string     `json:"name"`
	TargetURL    *string    `json:"target_url"`
	Description  *string    `json:"description"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at"`
	FinishedAt   *time.Time `json:"finished_at"`
	AllowFailure bool       `json:"allow_failure"`
	Coverage     *float64   `json:"coverage"`
	PipelineID   int64      `json:"pipeline_id"`
	Author       GLUser     `json:"author"`
}

// GLPipeline is a CI pipeline that statuses belong to.
type GLPipeline struct {
	ID     int64
	SHA    string
	Ref    string
	Source string // push, merge_request_event, external, ...
}

// GLMilestone is a project milestone.
type GLMilestone struct {
	ID          int64     `json:"id"`
	IID         int64     `json:"iid"`
	ProjectID   int64     `json:"project_id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	DueDate     *string   `json:"due_date"`
	StartDate   *string   `json:"start_date"`
	State       string    `json:"state"`
	UpdatedAt   time.Time `json:"updated_at"`
	CreatedAt   time.Time `json:"created_at"`
	Expired     bool      `json:"expired"`
	WebURL      string    `json:"web_url"`
}

// GLMergeRequest is a merge request.
type GLMergeRequest struct {
	ID              int64        `json:"id"`
	IID             int64        `json:"iid"`
	ProjectID       int64        `json:"project_id"`
	Title           string       `json:"title"`
	Description     string       `json:"description"`
	State           string       `json:"state"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	MergedAt        *time.Time   `json:"merged_at"`
	ClosedAt        *time.Time   `json:"closed_at"`
	TargetBranch    string       `json:"target_branch"`
	SourceBranch    string       `json:"source_branch"`
	Author          GLUser       `json:"author"`
	Labels          []string     `json:"labels"`
	Draft           bool         `json:"draft"`
	Milestone       *GLMilestone `json:"milestone"`
	MergeStatus     string       `json:"merge_status"`
	SHA             string       `json:"sha"`
	MergeCommitSHA  *string      `json:"merge_commit_sha"`
	SquashCommitSHA *string      `json:"squash_commit_sha"`
	WebURL          string       `json:"web_url"`
}

// GLIssue is an issue.
type GLIssue struct {
	ID          int64        `json:"id"`
	IID         int64        `json:"iid"`
	ProjectID   int64        `json:"project_id"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	State       string       `json:"state"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
	ClosedAt    *time.Time   `json:"closed_at"`
	Labels      []string     `json:"labels"`
	Milestone   *GLMilestone `json:"milestone"`
	Author      GLUser       `json:"author"`
	WebURL      string       `json:"web_url"`
}

// GLNote is a comment on an MR, an issue or a commit.
type GLNote struct {
	ID           int64     `json:"id"`
	Type         *string   `json:"type"`
	Body         string    `json:"body"`
	Author       GLUser    `json:"author"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	System       bool      `json:"system"`
	NoteableID   int64     `json:"noteable_id"`
	NoteableType string    `json:"noteable_type"`
	NoteableIID  *int64    `json:"noteable_iid"`
	Resolvable   bool      `json:"resolvable"`
	Confidential bool      `json:"confidential"`
	Internal     bool      `json:"internal"`
	// CommitSHA is set for commit discussion notes (not in the payload).
	CommitSHA    string `json:"-"`
	DiscussionID string `json:"-"`
}

// GLCommit is a repository commit.
type GLCommit struct {
	ID             string    `json:"id"`
	ShortID        string    `json:"short_id"`
	Title          string    `json:"title"`
	Message        string    `json:"message"`
	AuthorName     string    `json:"author_name"`
	AuthorEmail    string    `json:"author_email"`
	AuthoredDate   time.Time `json:"authored_date"`
	CommitterName  string    `json:"committer_name"`
	CommitterEmail string    `json:"committer_email"`
	CommittedDate  time.Time `json:"committed_date"`
	CreatedAt      time.Time `json:"created_at"`
	ParentIDs      []string  `json:"parent_ids"`
	WebURL         string    `json:"web_url"`
}

// GLTag is a repository tag.
type GLTag struct {
	Name      string        `json:"name"`
	Message   string        `json:"message"`
	Target    string        `json:"target"`
	Commit    GLCommit      `json:"commit"`
	Release   *GLTagRelease `json:"release"`
	Protected bool          `json:"protected"`
	CreatedAt *time.Time    `json:"created_at"`
}

// GLTagRelease is the release summary inside a tag.
type GLTagRelease struct {
	TagName     string `json:"tag_name"`
	Description string `json:"description"`
}

// GLReleaseLink is a release asset link.
type GLReleaseLink struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	URL            string `json:"url"`
	DirectAssetURL string `json:"direct_asset_url"`
	LinkType       string `json:"link_type"`
}

// GLRelease is a release.
type GLRelease struct {
	TagName         string    `json:"tag_name"`
	Description     string    `json:"description"`
	Name            string    `json:"name"`
	CreatedAt       time.Time `json:"created_at"`
	ReleasedAt      time.Time `json:"released_at"`
	Author          GLUser    `json:"author"`
	Commit          GLCommit  `json:"commit"`
	UpcomingRelease bool      `json:"upcoming_release"`
	Assets          struct {
		Count   int             `json:"count"`
		Sources []any           `json:"sources"`
		Links   []GLReleaseLink `json:"links"`
	} `json:"assets"`
	Links map[string]string `json:"_links"`
}

// GLStatusCheckResponse is a recorded external status check answer.
type GLStatusCheckResponse struct {
	MergeRequestIID int64
	CheckID         int64
	SHA             string
	Status          string // passed, failed, pending
}

// GLProject is one project's state. Tests may read and change it under
// GitLab.Do, or use the helpers.
type GLProject struct {
	ID       int64
	Path     string // group/name
	WebURL   string
	Statuses []GLStatus
	MRs      []*GLMergeRequest
	Issues   []*GLIssue
	// Notes of MRs ("mr:IID"), issues ("issue:IID") and commits ("commit:SHA").
	Notes        map[string][]*GLNote
	Milestones   []*GLMilestone
	Tags         []*GLTag
	Releases     []*GLRelease
	StatusChecks []GLStatusCheckResponse
	// ExternalChecks are the project's external status check services
	// (Settings > Merge requests > Status checks); see AddExternalStatusCheck.
	ExternalChecks []*GLExternalStatusCheck
	// Unlicensed: the instance has no Ultimate licence, so the external
	// status checks API answers 401 as GitLab does.
	Unlicensed     bool
	deliveries     []GLDelivery
	Branches       map[string]string // name → head sha
	Commits        map[string]*GLCommit
	ConflictingSHA map[string]bool // cherry-picks of these shas conflict
	// EmptySHA: cherry-picks of these shas change nothing (the branch has
	// the changes already); so does a pick of a commit already in the
	// branch's history.
	EmptySHA  map[string]bool
	Pipelines []*GLPipeline
	// StatusPosts is every status post GitLab accepted, as it stood after
	// it (Statuses holds the statuses, each in its latest state).
	StatusPosts []GLStatus
}

func newGitLab(s *Server) *GitLab { return &GitLab{s: s, projects: map[string]*GLProject{}} }

// AddProject creates a project with an id and a path ("group/name") and a
// default branch "main" with one commit.
func (g *GitLab) AddProject(id int64, path string) *GLProject {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := &GLProject{ID: id, Path: path, WebURL: "https://gitlab.example.com/" + path,
		Notes: map[string][]*GLNote{}, Branches: map[string]string{}, Commits: map[string]*GLCommit{},
		ConflictingSHA: map[string]bool{}, EmptySHA: map[string]bool{}}
	g.projects[strconv.FormatInt(id, 10)] = p
	g.projects[path] = p
	return p
}

// Do runs f with the project's state locked: tests seed or inspect it there.
func (g *GitLab) Do(project string, f func(p *GLProject)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.projects[project]
	if p == nil {
		panic("forgetest: no GitLab project " + project)
	}
	f(p)
}

// MergeRequests returns a copy of the project's MRs.
func (g *GitLab) MergeRequests(project string) []GLMergeRequest {
	var out []GLMergeRequest
	g.Do(project, func(p *GLProject) { out = copies(p.MRs) })
	return out
}

// Statuses returns the commit statuses posted, oldest first.
func (g *GitLab) Statuses(project string) []GLStatus {
	var out []GLStatus
	g.Do(project, func(p *GLProject) { out = append(out, p.Statuses...) })
	return out
}

// StatusPosts returns every accepted status post in order, each as the
// status stood after it: the states a status went through.
func (g *GitLab) StatusPosts(project string) []GLStatus {
	var out []GLStatus
	g.Do(project, func(p *GLProject) { out = append(out, p.StatusPosts...) })
	return out
}

// Notes returns the notes of "mr:IID", "issue:IID" or "commit:SHA".
func (g *GitLab) Notes(project, key string) []GLNote {
	var out []GLNote
	g.Do(project, func(p *GLProject) { out = copies(p.Notes[key]) })
	return out
}

// Milestones returns the project's milestones.
func (g *GitLab) Milestones(project string) []GLMilestone {
	var out []GLMilestone
	g.Do(project, func(p *GLProject) { out = copies(p.Milestones) })
	return out
}

// Tags returns the project's tags.
func (g *GitLab) Tags(project string) []GLTag {
	var out []GLTag
	g.Do(project, func(p *GLProject) { out = copies(p.Tags) })
	return out
}

// Releases returns the project's releases.
func (g *GitLab) Releases(project string) []GLRelease {
	var out []GLRelease
	g.Do(project, func(p *GLProject) { out = copies(p.Releases) })
	return out
}

// StatusCheckResponses returns the external status check answers.
func (g *GitLab) StatusCheckResponses(project string) []GLStatusCheckResponse {
	var out []GLStatusCheckResponse
	g.Do(project, func(p *GLProject) { out = append(out, p.StatusChecks...) })
	return out
}

// Issues returns the project's issues.
func (g *GitLab) Issues(project string) []GLIssue {
	var out []GLIssue
	g.Do(project, func(p *GLProject) { out = copies(p.Issues) })
	return out
}

// AddCommit adds a commit on branch (creating it) and returns its sha.
func (g *GitLab) AddCommit(project, branch, message string) string {
	var sha string
	g.Do(project, func(p *GLProject) { sha = p.addCommit(g.s, branch, message) })
	return sha
}

func (p *GLProject) addCommit(s *Server, branch, message string) string {
	parent := p.Branches[branch]
	sha := fakeSHA(p.Path + branch + message + parent + strconv.Itoa(len(p.Commits)))
	now := s.now().UTC()
	title, _, _ := strings.Cut(message, "\n")
	c := &GLCommit{ID: sha, ShortID: sha[:8], Title: title, Message: message,
		AuthorName: "Dev", AuthorEmail: "dev@example.com", AuthoredDate: now,
		CommitterName: "Dev", CommitterEmail: "dev@example.com", CommittedDate: now, CreatedAt: now,
		ParentIDs: []string{}, WebURL: p.WebURL + "/-/commit/" + sha}
	if parent != "" {
		c.ParentIDs = []string{parent}
	}
	p.Commits[sha] = c
	p.Branches[branch] = sha
	return sha
}

// AddMergeRequest seeds an MR and returns its IID. A merged MR (State
// "merged") gets MergedAt = mergedAt and a merge commit sha.
func (g *GitLab) AddMergeRequest(project string, mr GLMergeRequest) int64 {
	g.Do(project, func(p *GLProject) {
		now := g.s.now().UTC()
		mr.ID = g.s.id()
		mr.IID = int64(len(p.MRs) + 1)
		mr.ProjectID = p.ID
		if mr.State == "" {
			mr.State = "opened"
		}
		seedTimes(now, &mr.CreatedAt, &mr.UpdatedAt, mr.MergedAt)
		if mr.Author.Username == "" {
			mr.Author = GLUser{ID: 2, Username: "dev", Name: "Dev", State: "active"}
		}
		if mr.Labels == nil {
			mr.Labels = []string{}
		}
		if mr.SHA == "" {
			mr.SHA = fakeSHA("mr" + strconv.FormatInt(mr.IID, 10) + mr.SourceBranch)
		}
		if mr.State == "merged" && mr.MergeCommitSHA == nil {
			s := fakeSHA("merge" + mr.SHA)
			mr.MergeCommitSHA = &s
		}
		mr.MergeStatus = "can_be_merged"
		mr.WebURL = p.WebURL + "/-/merge_requests/" + strconv.FormatInt(mr.IID, 10)
		m := mr
		p.MRs = append(p.MRs, &m)
	})
	return mr.IID
}

// AddIssue seeds an issue and returns its IID.
func (g *GitLab) AddIssue(project string, is GLIssue) int64 {
	g.Do(project, func(p *GLProject) {
		now := g.s.now().UTC()
		is.ID = g.s.id()
		is.IID = int64(len(p.Issues) + 1)
		is.ProjectID = p.ID
		if is.State == "" {
			is.State = "opened"
		}
		seedTimes(now, &is.CreatedAt, &is.UpdatedAt, is.ClosedAt)
		if is.Labels == nil {
			is.Labels = []string{}
		}
		is.Author = GLUser{ID: 2, Username: "dev", Name: "Dev", State: "active"}
		is.WebURL = p.WebURL + "/-/issues/" + strconv.FormatInt(is.IID, 10)
		i := is
		p.Issues = append(p.Issues, &i)
	})
	return is.IID
}

// AddMilestone seeds a milestone and returns its id.
func (g *GitLab) AddMilestone(project, title, state string) int64 {
	var id int64
	g.Do(project, func(p *GLProject) { id = p.newMilestone(g.s, title, "", nil, nil, state).ID })
	return id
}

// SetMilestone puts an issue ("issue") or MR ("mr") in a milestone.
func (g *GitLab) SetMilestone(project, kind string, iid, milestoneID int64) {
	g.Do(project, func(p *GLProject) {
		ms := p.milestone(milestoneID)
		switch kind {
		case "issue":
			p.Issues[iid-1].Milestone = ms
		case "mr":
			p.MRs[iid-1].Milestone = ms
		}
	})
}

func (p *GLProject) newMilestone(s *Server, title, desc string, start, due *string, state string) *GLMilestone {
	now := s.now().UTC()
	if state == "" {
		state = "active"
	}
	m := &GLMilestone{ID: s.id(), IID: int64(len(p.Milestones) + 1), ProjectID: p.ID, Title: title,
		Description: desc, StartDate: start, DueDate: due, State: state, CreatedAt: now, UpdatedAt: now}
	m.WebURL = p.WebURL + "/-/milestones/" + strconv.FormatInt(m.IID, 10)
	p.Milestones = append(p.Milestones, m)
	return m
}

// --- HTTP -------------------------------------------------------------------------

type glHandler func(w http.ResponseWriter, r *http.Request, p *GLProject)

func (g *GitLab) routes(mux *http.ServeMux) {
	h := func(pattern string, jobToken bool, f glHandler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			switch g.s.authOf(r) {
			case "none", "bad":
				writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401 Unauthorized"})
				return
			case "job-token":
				if !jobToken {
					writeJSON(w, http.StatusForbidden, map[string]any{"message": "403 Forbidden"})
					return
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			p := g.projects[r.PathValue("id")]
			if p == nil {
				writeJSON(w, http.StatusNotFound, map[string]any{"message": "404 Project Not Found"})
				return
			}
			f(w, r, p)
		})
	}
	const pr = "/api/v4/projects/{id}"
	h("POST "+pr+"/statuses/{sha}", false, g.postStatus)
	h("GET "+pr+"/repository/commits/{sha}/statuses", false, g.listStatuses)
	h("GET "+pr+"/merge_requests", false, g.listMRs)
	h("POST "+pr+"/merge_requests", false, g.createMR)
	h("PUT "+pr+"/merge_requests/{iid}", false, g.updateMR)
	h("GET "+pr+"/merge_requests/{iid}/closes_issues", false, g.closesIssues)
	h("GET "+pr+"/merge_requests/{iid}/notes", false, g.listNotes("mr"))
	h("POST "+pr+"/merge_requests/{iid}/notes", false, g.createNote("mr"))
	h("PUT "+pr+"/merge_requests/{iid}/notes/{note}", false, g.updateNote("mr"))
	h("GET "+pr+"/merge_requests/{iid}", false, g.getMR)
	h("POST "+pr+"/merge_requests/{iid}/status_check_responses", false, g.statusCheck)
	h("GET "+pr+"/external_status_checks", false, g.listExternalChecks)
	h("GET "+pr+"/issues", false, g.listIssues)
	h("GET "+pr+"/issues/{iid}/notes", false, g.listNotes("issue"))
	h("POST "+pr+"/issues/{iid}/notes", false, g.createNote("issue"))
	h("PUT "+pr+"/issues/{iid}/notes/{note}", false, g.updateNote("issue"))
	h("GET "+pr+"/repository/commits/{sha}/discussions", false, g.listCommitDiscussions)
	h("POST "+pr+"/repository/commits/{sha}/discussions", false, g.createCommitDiscussion)
	h("PUT "+pr+"/repository/commits/{sha}/discussions/{disc}/notes/{note}", false, g.updateCommitNote)
	h("GET "+pr+"/repository/commits", false, g.listCommits)
	h("POST "+pr+"/repository/commits/{sha}/cherry_pick", false, g.cherryPick)
	h("GET "+pr+"/milestones", false, g.listMilestones)
	h("POST "+pr+"/milestones", false, g.createMilestone)
	h("PUT "+pr+"/milestones/{mid}", false, g.updateMilestone)
	h("GET "+pr+"/milestones/{mid}/issues", false, g.milestoneIssues)
	h("GET "+pr+"/milestones/{mid}/merge_requests", false, g.milestoneMRs)
	h("GET "+pr+"/repository/tags/{tag}", false, g.getTag)
	h("POST "+pr+"/repository/tags", false, g.createTag)
	// The job token may use the releases API (docs: CI/CD job token).
	h("GET "+pr+"/releases/{tag}", true, g.getRelease)
	h("POST "+pr+"/releases", true, g.createRelease)
	h("PUT "+pr+"/releases/{tag}", true, g.updateRelease)
	h("GET "+pr+"/releases/{tag}/assets/links", true, g.listLinks)
	h("POST "+pr+"/releases/{tag}/assets/links", true, g.createLink)
}

func glErr(w http.ResponseWriter, status int, msg any) {
	writeJSON(w, status, map[string]any{"message": msg})
}

func pathInt(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(r.PathValue(name), 10, 64)
	return n
}

// postStatus is POST /projects/:id/statuses/:sha as GitLab answers it
// (lib/api/commit_statuses.rb, docs: api/commits.md "Set the pipeline
// status of a commit"). The status belongs to a pipeline: the newest on
// sha that matches ref and pipeline_id when given, else a new "external"
// pipeline. A pending or running status of the same name in that pipeline
// is moved to the new state, through GitLab's state machine: a move it
// does not allow (running → pending, pending → pending, running or
// pending → skipped, running → running) answers 400 "Cannot transition
// status" and changes nothing. A finished status is left alone and a new
// one made.
func (g *GitLab) postStatus(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	state := q.Get("state")
	valid := []string{"pending", "running", "success", "failed", "canceled", "skipped"}
	if !slices.Contains(valid, state) {
		glErr(w, http.StatusBadRequest, "state does not have a valid value")
		return
	}
	name := q.Get("name")
	if name == "" {
		name = q.Get("context")
	}
	if name == "" {
		name = "default"
	}
	sha := r.PathValue("sha")
	invalid := map[string][]string{}
	target, desc := q.Get("target_url"), q.Get("description")
	if target != "" {
		if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			invalid["target_url"] = append(invalid["target_url"], "is blocked: Only allowed schemes are http, https")
		}
		if utf8.RuneCountInString(target) > 255 {
			invalid["target_url"] = append(invalid["target_url"], "is too long (maximum is 255 characters)")
		}
	}
	if utf8.RuneCountInString(desc) > 255 {
		invalid["description"] = []string{"is too long (maximum is 255 characters)"}
	}
	if len(invalid) > 0 {
		glErr(w, http.StatusBadRequest, invalid)
		return
	}
	pl := p.pipelineFor(g.s, sha, q.Get("ref"), q.Get("pipeline_id"))
	if pl == nil {
		glErr(w, http.StatusNotFound, "404 Pipeline for pipeline_id, sha and ref Not Found")
		return
	}
	now := g.s.now().UTC()
	var st *GLStatus
	for i := len(p.Statuses) - 1; i >= 0; i-- {
		c := &p.Statuses[i]
		if c.SHA == sha && c.Name == name && c.PipelineID == pl.ID && (c.Status == "pending" || c.Status == "running") {
			st = c
			break
		}
	}
	fresh := st == nil
	if fresh {
		st = &GLStatus{ID: g.s.id(), SHA: sha, Ref: pl.Ref, Status: "created", Name: name, CreatedAt: now, Author: glBot, PipelineID: pl.ID}
	}
	to, ok := glTransition(st.Status, state)
	if !ok {
		verb := transitionVerb(state)
		glErr(w, http.StatusBadRequest, "Cannot transition status via :"+verb+" from :"+st.Status+" (Reason(s): Status cannot transition via \""+verb+"\")")
		return
	}
	st.Status = to
	if target != "" {
		st.TargetURL = &target
	}
	if desc != "" {
		st.Description = &desc
	}
	if to != "pending" && st.StartedAt == nil {
		st.StartedAt = &now
	}
	if to == "success" || to == "failed" || to == "canceled" {
		st.FinishedAt = &now
	}
	if fresh {
		p.Statuses = append(p.Statuses, *st)
	}
	p.StatusPosts = append(p.StatusPosts, *st)
	writeJSON(w, http.StatusCreated, st)
}

// glTransition is GitLab's commit status state machine for the API's
// events: pending is "enqueue", running is "enqueue" then "run", success,
// failed ("drop"), canceled, skipped ("skip"). A new status starts as
// "created".
func glTransition(from, to string) (string, bool) {
	allowed := map[string][]string{
		"pending":  {"created"},
		"running":  {"created", "pending"},
		"success":  {"created", "pending", "running"},
		"failed":   {"created", "pending", "running"},
		"canceled": {"created", "pending", "running"},
		"skipped":  {"created"},
	}
	return to, slices.Contains(allowed[to], from)
}

// pipelineFor is the pipeline a status joins (app/services/ci/
// create_commit_status_service.rb): the newest on sha whose ref and id
// match the ones given; a known pipeline_id that does not match is nil
// (GitLab's 404), an unknown one is taken as the CI run's own pipeline;
// else a new external pipeline (on ref, or the default branch).
func (p *GLProject) pipelineFor(s *Server, sha, ref, id string) *GLPipeline {
	for i := len(p.Pipelines) - 1; i >= 0; i-- {
		c := p.Pipelines[i]
		if c.SHA == sha && (ref == "" || c.Ref == ref) && (id == "" || strconv.FormatInt(c.ID, 10) == id) {
			return c
		}
	}
	if id != "" {
		if slices.ContainsFunc(p.Pipelines, func(c *GLPipeline) bool { return strconv.FormatInt(c.ID, 10) == id }) {
			return nil // a known pipeline, on another sha or ref
		}
		// A pipeline the fake was never told about is the CI run's own
		// (gitlab-ci-local's CI_PIPELINE_ID): on GitLab it exists.
		n, _ := strconv.ParseInt(id, 10, 64)
		if ref == "" {
			ref = "main"
		}
		pl := &GLPipeline{ID: n, SHA: sha, Ref: ref, Source: "push"}
		p.Pipelines = append(p.Pipelines, pl)
		return pl
	}
	if ref == "" {
		ref = "main"
	}
	pl := &GLPipeline{ID: s.id(), SHA: sha, Ref: ref, Source: "external"}
	p.Pipelines = append(p.Pipelines, pl)
	return pl
}

// AddPipeline records a CI pipeline on sha and ref ("main", or
// "refs/merge-requests/1/head" for a merge request pipeline) made by
// source (push, merge_request_event) and returns its id.
func (g *GitLab) AddPipeline(project, sha, ref, source string) int64 {
	var id int64
	g.Do(project, func(p *GLProject) {
		id = g.s.id()
		p.Pipelines = append(p.Pipelines, &GLPipeline{ID: id, SHA: sha, Ref: ref, Source: source})
	})
	return id
}

// Pipelines returns the project's pipelines, the ones tests added and the
// external ones statuses opened.
func (g *GitLab) Pipelines(project string) []GLPipeline {
	var out []GLPipeline
	g.Do(project, func(p *GLProject) { out = copies(p.Pipelines) })
	return out
}

// listStatuses: without ref, GitLab lists the default branch's statuses
// (docs: "if not given, the default branch").
func (g *GitLab) listStatuses(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q := r.URL.Query()
	ref := q.Get("ref")
	if ref == "" {
		ref = "main"
	}
	out := []GLStatus{}
	for _, st := range p.Statuses {
		if st.SHA != r.PathValue("sha") || q.Get("name") != "" && st.Name != q.Get("name") || st.Ref != ref {
			continue
		}
		out = append(out, st)
	}
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func transitionVerb(state string) string {
	switch state {
	case "pending":
		return "enqueue"
	case "running":
		return "run"
	case "success":
		return "success"
	case "failed":
		return "drop"
	case "canceled":
		return "cancel"
	}
	return "skip"
}

func (g *GitLab) listMRs(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q := r.URL.Query()
	var out []*GLMergeRequest
	for _, m := range p.MRs {
		if st := q.Get("state"); st != "" && st != "all" && m.State != st {
			continue
		}
		if v := q.Get("source_branch"); v != "" && m.SourceBranch != v {
			continue
		}
		if v := q.Get("target_branch"); v != "" && m.TargetBranch != v {
			continue
		}
		if !timeFilter(q.Get("updated_after"), m.UpdatedAt, true) || !timeFilter(q.Get("updated_before"), m.UpdatedAt, false) {
			continue
		}
		out = append(out, m)
	}
	// GitLab's default order is created_at desc.
	slices.Reverse(out)
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

// timeFilter: after=true keeps t >= v, else t <= v. Empty v keeps all.
func timeFilter(v string, t time.Time, after bool) bool {
	if v == "" {
		return true
	}
	ref, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return true
	}
	if after {
		return !t.Before(ref)
	}
	return !t.After(ref)
}

func (g *GitLab) createMR(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, raw := params(r)
	src, tgt, title := q.Get("source_branch"), q.Get("target_branch"), q.Get("title")
	if src == "" || tgt == "" || title == "" {
		glErr(w, http.StatusBadRequest, "title, source_branch and target_branch are required")
		return
	}
	for _, m := range p.MRs {
		if m.State == "opened" && m.SourceBranch == src && m.TargetBranch == tgt {
			glErr(w, http.StatusConflict, []string{"Another open merge request already exists for this source branch: !" + strconv.FormatInt(m.IID, 10)})
			return
		}
	}
	mr := GLMergeRequest{Title: title, Description: q.Get("description"), SourceBranch: src, TargetBranch: tgt, Author: glBot}
	mr.Labels = labelsOf(q.Get("labels"), raw["labels"])
	sha := p.Branches[src]
	mr.SHA = sha
	// Insert without the lock AddMergeRequest takes: we hold it already.
	now := g.s.now().UTC()
	mr.ID, mr.IID, mr.ProjectID, mr.State, mr.CreatedAt, mr.UpdatedAt = g.s.id(), int64(len(p.MRs)+1), p.ID, "opened", now, now
	if mr.SHA == "" {
		mr.SHA = fakeSHA("mr" + strconv.FormatInt(mr.IID, 10) + src)
	}
	mr.MergeStatus = "checking"
	mr.WebURL = p.WebURL + "/-/merge_requests/" + strconv.FormatInt(mr.IID, 10)
	if id, _ := strconv.ParseInt(q.Get("milestone_id"), 10, 64); id > 0 {
		mr.Milestone = p.milestone(id)
	}
	m := mr
	p.MRs = append(p.MRs, &m)
	writeJSON(w, http.StatusCreated, m)
}

func labelsOf(s string, raw json.RawMessage) []string {
	var list []string
	if len(raw) > 0 && json.Unmarshal(raw, &list) == nil {
		return list
	}
	out := []string{}
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (p *GLProject) milestone(id int64) *GLMilestone {
	return find(p.Milestones, func(m *GLMilestone) bool { return m.ID == id })
}

func (p *GLProject) mr(iid int64) *GLMergeRequest {
	if iid < 1 || int(iid) > len(p.MRs) {
		return nil
	}
	return p.MRs[iid-1]
}

func (g *GitLab) updateMR(w http.ResponseWriter, r *http.Request, p *GLProject) {
	m := p.mr(pathInt(r, "iid"))
	if m == nil {
		glErr(w, http.StatusNotFound, "404 Not found")
		return
	}
	q, raw := params(r)
	if q.Has("title") {
		m.Title = q.Get("title")
	}
	if q.Has("description") {
		m.Description = q.Get("description")
	}
	if q.Has("target_branch") {
		m.TargetBranch = q.Get("target_branch")
	}
	if q.Has("labels") {
		m.Labels = labelsOf(q.Get("labels"), raw["labels"])
	}
	if q.Has("milestone_id") {
		id, _ := strconv.ParseInt(q.Get("milestone_id"), 10, 64)
		m.Milestone = p.milestone(id)
	}
	switch q.Get("state_event") {
	case "close":
		m.State = "closed"
	case "reopen":
		m.State = "opened"
	}
	m.UpdatedAt = g.s.now().UTC()
	writeJSON(w, http.StatusOK, m)
}

func (g *GitLab) closesIssues(w http.ResponseWriter, r *http.Request, p *GLProject) {
	m := p.mr(pathInt(r, "iid"))
	if m == nil {
		glErr(w, http.StatusNotFound, "404 Not found")
		return
	}
	out := []*GLIssue{}
	for _, n := range closedNumbers(m.Description) {
		if n >= 1 && int(n) <= len(p.Issues) {
			out = append(out, p.Issues[n-1])
		}
	}
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) noteKey(kind string, r *http.Request) string {
	if kind == "commit" {
		return "commit:" + r.PathValue("sha")
	}
	return kind + ":" + r.PathValue("iid")
}

func (g *GitLab) listNotes(kind string) glHandler {
	return func(w http.ResponseWriter, r *http.Request, p *GLProject) {
		notes := append([]*GLNote{}, p.Notes[g.noteKey(kind, r)]...)
		// Default order: created_at desc.
		if r.URL.Query().Get("sort") != "asc" {
			slices.Reverse(notes)
		}
		writeJSON(w, http.StatusOK, page(w, r, notes, true))
	}
}

func (g *GitLab) newNote(p *GLProject, kind string, iid int64, sha, body string) *GLNote {
	now := g.s.now().UTC()
	n := &GLNote{ID: g.s.id(), Body: body, Author: glBot, CreatedAt: now, UpdatedAt: now}
	switch kind {
	case "mr":
		n.NoteableType, n.NoteableIID = "MergeRequest", &iid
		if m := p.mr(iid); m != nil {
			n.NoteableID = m.ID
		}
	case "issue":
		n.NoteableType, n.NoteableIID = "Issue", &iid
	case "commit":
		n.NoteableType, n.CommitSHA = "Commit", sha
		t := "DiscussionNote"
		n.Type = &t
	}
	return n
}

func (g *GitLab) createNote(kind string) glHandler {
	return func(w http.ResponseWriter, r *http.Request, p *GLProject) {
		iid := pathInt(r, "iid")
		if kind == "mr" && p.mr(iid) == nil || kind == "issue" && (iid < 1 || int(iid) > len(p.Issues)) {
			glErr(w, http.StatusNotFound, "404 Not found")
			return
		}
		q, _ := params(r)
		if q.Get("body") == "" {
			glErr(w, http.StatusBadRequest, "body is missing")
			return
		}
		n := g.newNote(p, kind, iid, "", q.Get("body"))
		key := g.noteKey(kind, r)
		p.Notes[key] = append(p.Notes[key], n)
		writeJSON(w, http.StatusCreated, n)
	}
}

func (g *GitLab) updateNote(kind string) glHandler {
	return func(w http.ResponseWriter, r *http.Request, p *GLProject) {
		q, _ := params(r)
		for _, n := range p.Notes[g.noteKey(kind, r)] {
			if n.ID == pathInt(r, "note") {
				n.Body = q.Get("body")
				n.UpdatedAt = g.s.now().UTC()
				writeJSON(w, http.StatusOK, n)
				return
			}
		}
		glErr(w, http.StatusNotFound, "404 Note Not Found")
	}
}

// glDiscussion is a discussion payload: an id and its notes.
type glDiscussion struct {
	ID             string    `json:"id"`
	IndividualNote bool      `json:"individual_note"`
	Notes          []*GLNote `json:"notes"`
}

func (g *GitLab) listCommitDiscussions(w http.ResponseWriter, r *http.Request, p *GLProject) {
	out := []glDiscussion{}
	for _, n := range p.Notes[g.noteKey("commit", r)] {
		out = append(out, glDiscussion{ID: n.DiscussionID, Notes: []*GLNote{n}})
	}
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) createCommitDiscussion(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	n := g.newNote(p, "commit", 0, r.PathValue("sha"), q.Get("body"))
	n.DiscussionID = fakeSHA("disc" + strconv.FormatInt(n.ID, 10))
	key := g.noteKey("commit", r)
	p.Notes[key] = append(p.Notes[key], n)
	writeJSON(w, http.StatusCreated, glDiscussion{ID: n.DiscussionID, Notes: []*GLNote{n}})
}

func (g *GitLab) updateCommitNote(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	for _, n := range p.Notes[g.noteKey("commit", r)] {
		if n.ID == pathInt(r, "note") && n.DiscussionID == r.PathValue("disc") {
			n.Body = q.Get("body")
			n.UpdatedAt = g.s.now().UTC()
			writeJSON(w, http.StatusOK, n)
			return
		}
	}
	glErr(w, http.StatusNotFound, "404 Note Not Found")
}

func (g *GitLab) listIssues(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q := r.URL.Query()
	var out []*GLIssue
	for _, is := range p.Issues {
		if st := q.Get("state"); st != "" && st != "all" && is.State != st {
			continue
		}
		if !timeFilter(q.Get("updated_after"), is.UpdatedAt, true) {
			continue
		}
		out = append(out, is)
	}
	slices.Reverse(out)
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) listCommits(w http.ResponseWriter, r *http.Request, p *GLProject) {
	ref := r.URL.Query().Get("ref_name")
	if ref == "" {
		ref = "main"
	}
	out := []*GLCommit{}
	for sha := p.Branches[ref]; sha != ""; {
		c := p.Commits[sha]
		if c == nil {
			break
		}
		out = append(out, c)
		sha = ""
		if len(c.ParentIDs) > 0 {
			sha = c.ParentIDs[0]
		}
	}
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) cherryPick(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	sha, branch := r.PathValue("sha"), q.Get("branch")
	c := p.Commits[sha]
	if c == nil {
		glErr(w, http.StatusNotFound, "404 Commit Not Found")
		return
	}
	if _, ok := p.Branches[branch]; !ok {
		glErr(w, http.StatusNotFound, "404 Branch Not Found")
		return
	}
	// GitLab's answer names the reason in error_code (docs: api/commits.md
	// "Cherry-pick a commit"): "empty" when the branch already has the
	// changes, "conflict" when they do not apply.
	const cannot = "Sorry, we cannot cherry-pick this commit automatically. This commit may already have been cherry-picked, or a more recent commit may have updated some of its content."
	if p.EmptySHA[sha] || p.inHistory(branch, sha) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": cannot, "error_code": "empty"})
		return
	}
	if p.ConflictingSHA[sha] {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": cannot, "error_code": "conflict"})
		return
	}
	if q.Get("dry_run") == "true" {
		writeJSON(w, http.StatusOK, map[string]any{"dry_run": "success"})
		return
	}
	msg := q.Get("message")
	if msg == "" {
		msg = c.Message + "\n\n(cherry picked from commit " + sha + ")"
	}
	nsha := p.addCommit(g.s, branch, msg)
	writeJSON(w, http.StatusCreated, p.Commits[nsha])
}

// inHistory: sha is branch's head or one of its first-parent ancestors.
func (p *GLProject) inHistory(branch, sha string) bool {
	for c := p.Branches[branch]; c != ""; {
		if c == sha {
			return true
		}
		commit := p.Commits[c]
		if commit == nil || len(commit.ParentIDs) == 0 {
			return false
		}
		c = commit.ParentIDs[0]
	}
	return false
}

func (g *GitLab) listMilestones(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q := r.URL.Query()
	out := []*GLMilestone{}
	for _, m := range p.Milestones {
		if st := q.Get("state"); st != "" && m.State != st {
			continue
		}
		if t := q.Get("title"); t != "" && m.Title != t {
			continue
		}
		if s := q.Get("search"); s != "" && !strings.Contains(m.Title, s) {
			continue
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) createMilestone(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	title := q.Get("title")
	if title == "" {
		glErr(w, http.StatusBadRequest, "title is missing")
		return
	}
	for _, m := range p.Milestones {
		if m.Title == title {
			glErr(w, http.StatusBadRequest, "Failed to create milestone! Milestone title already being used for another group or project milestone.")
			return
		}
	}
	opt := func(k string) *string {
		if v := q.Get(k); v != "" {
			return &v
		}
		return nil
	}
	m := p.newMilestone(g.s, title, q.Get("description"), opt("start_date"), opt("due_date"), "active")
	writeJSON(w, http.StatusCreated, m)
}

func (g *GitLab) updateMilestone(w http.ResponseWriter, r *http.Request, p *GLProject) {
	m := p.milestone(pathInt(r, "mid"))
	if m == nil {
		glErr(w, http.StatusNotFound, "404 Milestone Not Found")
		return
	}
	q, _ := params(r)
	switch q.Get("state_event") {
	case "close":
		m.State = "closed"
	case "activate":
		m.State = "active"
	}
	if q.Has("title") {
		m.Title = q.Get("title")
	}
	if q.Has("description") {
		m.Description = q.Get("description")
	}
	m.UpdatedAt = g.s.now().UTC()
	writeJSON(w, http.StatusOK, m)
}

func (g *GitLab) milestoneIssues(w http.ResponseWriter, r *http.Request, p *GLProject) {
	id := pathInt(r, "mid")
	out := filter(p.Issues, func(is *GLIssue) bool { return is.Milestone != nil && is.Milestone.ID == id })
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (g *GitLab) milestoneMRs(w http.ResponseWriter, r *http.Request, p *GLProject) {
	id := pathInt(r, "mid")
	out := filter(p.MRs, func(m *GLMergeRequest) bool { return m.Milestone != nil && m.Milestone.ID == id })
	writeJSON(w, http.StatusOK, page(w, r, out, true))
}

func (p *GLProject) tag(name string) *GLTag {
	return find(p.Tags, func(t *GLTag) bool { return t.Name == name })
}

func (g *GitLab) getTag(w http.ResponseWriter, r *http.Request, p *GLProject) {
	t := p.tag(r.PathValue("tag"))
	if t == nil {
		glErr(w, http.StatusNotFound, "404 Tag Not Found")
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// commitFor resolves a ref (branch name or sha) to a commit payload. Any
// full sha is accepted, known or not, so that tests can tag the commits of
// their real git repositories without mirroring them here.
func (p *GLProject) commitFor(s *Server, ref string) (GLCommit, bool) {
	if sha, ok := p.Branches[ref]; ok {
		ref = sha
	}
	if c, ok := p.Commits[ref]; ok {
		return *c, true
	}
	if len(ref) == 40 {
		now := s.now().UTC()
		return GLCommit{ID: ref, ShortID: ref[:8], Title: "commit", Message: "commit", ParentIDs: []string{},
			AuthoredDate: now, CommittedDate: now, CreatedAt: now, WebURL: p.WebURL + "/-/commit/" + ref}, true
	}
	return GLCommit{}, false
}

func (p *GLProject) createTag(s *Server, name, ref, message string) (*GLTag, string) {
	if p.tag(name) != nil {
		return nil, "Tag " + name + " already exists"
	}
	c, ok := p.commitFor(s, ref)
	if !ok {
		return nil, "Target " + ref + " is invalid"
	}
	now := s.now().UTC()
	t := &GLTag{Name: name, Message: message, Target: c.ID, Commit: c, CreatedAt: &now}
	if message != "" {
		t.Target = fakeSHA("tag" + name)
	}
	p.Tags = append(p.Tags, t)
	return t, ""
}

func (g *GitLab) createTag(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, _ := params(r)
	t, msg := p.createTag(g.s, q.Get("tag_name"), q.Get("ref"), q.Get("message"))
	if t == nil {
		glErr(w, http.StatusBadRequest, msg)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (p *GLProject) release(tag string) *GLRelease {
	return find(p.Releases, func(r *GLRelease) bool { return r.TagName == tag })
}

func (g *GitLab) getRelease(w http.ResponseWriter, r *http.Request, p *GLProject) {
	rel := p.release(r.PathValue("tag"))
	if rel == nil {
		glErr(w, http.StatusNotFound, "404 Not Found")
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

func (g *GitLab) createRelease(w http.ResponseWriter, r *http.Request, p *GLProject) {
	q, raw := params(r)
	tag := q.Get("tag_name")
	if p.release(tag) != nil {
		glErr(w, http.StatusConflict, "Release already exists")
		return
	}
	t := p.tag(tag)
	if t == nil {
		if q.Get("ref") == "" {
			glErr(w, http.StatusUnprocessableEntity, "Ref is not specified")
			return
		}
		var msg string
		if t, msg = p.createTag(g.s, tag, q.Get("ref"), q.Get("tag_message")); t == nil {
			glErr(w, http.StatusUnprocessableEntity, msg)
			return
		}
	}
	now := g.s.now().UTC()
	rel := &GLRelease{TagName: tag, Name: q.Get("name"), Description: q.Get("description"), CreatedAt: now, ReleasedAt: now,
		Author: glBot, Commit: t.Commit, Links: map[string]string{"self": p.WebURL + "/-/releases/" + tag}}
	if rel.Name == "" {
		rel.Name = tag
	}
	rel.Assets.Sources = []any{}
	rel.Assets.Links = []GLReleaseLink{}
	if a, ok := raw["assets"]; ok {
		var assets struct {
			Links []struct {
				Name     string `json:"name"`
				URL      string `json:"url"`
				LinkType string `json:"link_type"`
			} `json:"links"`
		}
		_ = json.Unmarshal(a, &assets)
		for _, l := range assets.Links {
			rel.addLink(g.s, l.Name, l.URL, l.LinkType)
		}
	}
	t.Release = &GLTagRelease{TagName: tag, Description: rel.Description}
	p.Releases = append(p.Releases, rel)
	writeJSON(w, http.StatusCreated, rel)
}

func (rel *GLRelease) addLink(s *Server, name, url, typ string) (GLReleaseLink, bool) {
	for _, l := range rel.Assets.Links {
		if l.Name == name || l.URL == url {
			return l, false
		}
	}
	if typ == "" {
		typ = "other"
	}
	l := GLReleaseLink{ID: s.id(), Name: name, URL: url, DirectAssetURL: url, LinkType: typ}
	rel.Assets.Links = append(rel.Assets.Links, l)
	rel.Assets.Count = len(rel.Assets.Links)
	return l, true
}

func (g *GitLab) updateRelease(w http.ResponseWriter, r *http.Request, p *GLProject) {
	rel := p.release(r.PathValue("tag"))
	if rel == nil {
		glErr(w, http.StatusNotFound, "404 Not Found")
		return
	}
	q, _ := params(r)
	if q.Has("name") {
		rel.Name = q.Get("name")
	}
	if q.Has("description") {
		rel.Description = q.Get("description")
	}
	writeJSON(w, http.StatusOK, rel)
}

func (g *GitLab) listLinks(w http.ResponseWriter, r *http.Request, p *GLProject) {
	rel := p.release(r.PathValue("tag"))
	if rel == nil {
		glErr(w, http.StatusNotFound, "404 Not Found")
		return
	}
	writeJSON(w, http.StatusOK, page(w, r, rel.Assets.Links, true))
}

func (g *GitLab) createLink(w http.ResponseWriter, r *http.Request, p *GLProject) {
	rel := p.release(r.PathValue("tag"))
	if rel == nil {
		glErr(w, http.StatusNotFound, "404 Not Found")
		return
	}
	q, _ := params(r)
	l, created := rel.addLink(g.s, q.Get("name"), q.Get("url"), q.Get("link_type"))
	if !created {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": map[string]any{"name": []string{"has already been taken"}}})
		return
	}
	writeJSON(w, http.StatusCreated, l)
}
