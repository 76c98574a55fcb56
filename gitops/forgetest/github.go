package forgetest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// GitHub is the fake GitHub REST API (v3, under /api/v3/ as on GitHub
// Enterprise Server): repositories with commit statuses, pull requests,
// issues and their comments, commit comments, milestones, git refs and
// annotated tags, and releases. Payloads carry the fields of the GitHub REST
// API documentation (docs.github.com/rest/…).
type GitHub struct {
	s     *Server
	mu    sync.Mutex
	repos map[string]*GHRepo // "owner/repo"
}

// GHUser is the user object of GitHub payloads.
type GHUser struct {
	Login     string `json:"login"`
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	AvatarURL string `json:"avatar_url"`
	HTMLURL   string `json:"html_url"`
	Type      string `json:"type"`
	SiteAdmin bool   `json:"site_admin"`
}

var ghBot = GHUser{Login: "pipeline-bot", ID: 1, NodeID: "MDQ6VXNlcjE=", Type: "Bot", HTMLURL: "https://github.com/pipeline-bot"}

// GHStatus is a commit status.
type GHStatus struct {
	URL         string    `json:"url"`
	AvatarURL   string    `json:"avatar_url"`
	ID          int64     `json:"id"`
	NodeID      string    `json:"node_id"`
	State       string    `json:"state"`
	Description *string   `json:"description"`
	TargetURL   *string   `json:"target_url"`
	Context     string    `json:"context"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Creator     GHUser    `json:"creator"`
	SHA         string    `json:"-"`
}

// GHLabel is a label.
type GHLabel struct {
	ID      int64  `json:"id"`
	NodeID  string `json:"node_id"`
	URL     string `json:"url"`
	Name    string `json:"name"`
	Color   string `json:"color"`
	Default bool   `json:"default"`
}

// GHMilestone is a milestone.
type GHMilestone struct {
	URL          string     `json:"url"`
	HTMLURL      string     `json:"html_url"`
	ID           int64      `json:"id"`
	NodeID       string     `json:"node_id"`
	Number       int64      `json:"number"`
	State        string     `json:"state"`
	Title        string     `json:"title"`
	Description  *string    `json:"description"`
	Creator      GHUser     `json:"creator"`
	OpenIssues   int        `json:"open_issues"`
	ClosedIssues int        `json:"closed_issues"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ClosedAt     *time.Time `json:"closed_at"`
	DueOn        *time.Time `json:"due_on"`
}

// GHBranchRef is the head/base of a pull request.
type GHBranchRef struct {
	Label string         `json:"label"`
	Ref   string         `json:"ref"`
	SHA   string         `json:"sha"`
	User  GHUser         `json:"user"`
	Repo  map[string]any `json:"repo"` // the repository object (set by the fake)
}

// GHPull is a pull request.
type GHPull struct {
	URL            string       `json:"url"`
	ID             int64        `json:"id"`
	NodeID         string       `json:"node_id"`
	HTMLURL        string       `json:"html_url"`
	Number         int64        `json:"number"`
	State          string       `json:"state"`
	Locked         bool         `json:"locked"`
	Title          string       `json:"title"`
	User           GHUser       `json:"user"`
	Body           *string      `json:"body"`
	Labels         []GHLabel    `json:"labels"`
	Milestone      *GHMilestone `json:"milestone"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	ClosedAt       *time.Time   `json:"closed_at"`
	MergedAt       *time.Time   `json:"merged_at"`
	MergeCommitSHA *string      `json:"merge_commit_sha"`
	Head           GHBranchRef  `json:"head"`
	Base           GHBranchRef  `json:"base"`
	Draft          bool         `json:"draft"`
}

// GHIssue is an issue (or, with PullRequest set, the issue side of a PR).
type GHIssue struct {
	ID          int64        `json:"id"`
	NodeID      string       `json:"node_id"`
	URL         string       `json:"url"`
	HTMLURL     string       `json:"html_url"`
	Number      int64        `json:"number"`
	State       string       `json:"state"`
	StateReason *string      `json:"state_reason"`
	Title       string       `json:"title"`
	Body        *string      `json:"body"`
	User        GHUser       `json:"user"`
	Labels      []GHLabel    `json:"labels"`
	Milestone   *GHMilestone `json:"milestone"`
	Comments    int          `json:"comments"`
	ClosedAt    *time.Time   `json:"closed_at"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
	PullRequest *GHIssuePR   `json:"pull_request,omitempty"`
}

// GHIssuePR marks an issue that is a pull request.
type GHIssuePR struct {
	URL      string     `json:"url"`
	HTMLURL  string     `json:"html_url"`
	MergedAt *time.Time `json:"merged_at"`
}

// GHComment is an issue/PR comment or a commit comment.
type GHComment struct {
	ID                int64     `json:"id"`
	NodeID            string    `json:"node_id"`
	URL               string    `json:"url"`
	HTMLURL           string    `json:"html_url"`
	Body              string    `json:"body"`
	User              GHUser    `json:"user"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	IssueURL          string    `json:"issue_url,omitempty"`
	CommitID          string    `json:"commit_id,omitempty"`
	AuthorAssociation string    `json:"author_association"`
}

// GHGitObject is the object a ref or tag points to.
type GHGitObject struct {
	Type string `json:"type"`
	SHA  string `json:"sha"`
	URL  string `json:"url"`
}

// GHRef is a git reference.
type GHRef struct {
	Ref    string      `json:"ref"`
	NodeID string      `json:"node_id"`
	URL    string      `json:"url"`
	Object GHGitObject `json:"object"`
}

// GHTag is an annotated tag object.
type GHTag struct {
	NodeID  string      `json:"node_id"`
	Tag     string      `json:"tag"`
	SHA     string      `json:"sha"`
	URL     string      `json:"url"`
	Message string      `json:"message"`
	Tagger  GHTagger    `json:"tagger"`
	Object  GHGitObject `json:"object"`
}

// GHTagger is the tagger of an annotated tag.
type GHTagger struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

// GHRelease is a release.
type GHRelease struct {
	URL             string    `json:"url"`
	HTMLURL         string    `json:"html_url"`
	AssetsURL       string    `json:"assets_url"`
	UploadURL       string    `json:"upload_url"`
	TarballURL      string    `json:"tarball_url"`
	ZipballURL      string    `json:"zipball_url"`
	ID              int64     `json:"id"`
	NodeID          string    `json:"node_id"`
	TagName         string    `json:"tag_name"`
	TargetCommitish string    `json:"target_commitish"`
	Name            string    `json:"name"`
	Body            string    `json:"body"`
	Draft           bool      `json:"draft"`
	Prerelease      bool      `json:"prerelease"`
	CreatedAt       time.Time `json:"created_at"`
	PublishedAt     time.Time `json:"published_at"`
	Author          GHUser    `json:"author"`
	Assets          []any     `json:"assets"`
}

// GHRepo is one repository's state.
type GHRepo struct {
	FullName string
	HTMLURL  string
	APIURL   string
	Statuses []GHStatus
	Pulls    []*GHPull
	// Issues holds issues and the issue side of PRs: one number space.
	Issues         []*GHIssue
	IssueComments  map[int64][]*GHComment
	CommitComments map[string][]*GHComment
	Milestones     []*GHMilestone
	Refs           map[string]*GHRef // "refs/tags/v1"
	TagObjects     map[string]*GHTag // by sha
	Releases       []*GHRelease
}

func newGitHub(s *Server) *GitHub { return &GitHub{s: s, repos: map[string]*GHRepo{}} }

// AddRepo creates the repository "owner/name".
func (g *GitHub) AddRepo(fullName string) *GHRepo {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := &GHRepo{FullName: fullName, HTMLURL: "https://github.com/" + fullName,
		APIURL:        g.s.URL + "/api/v3/repos/" + fullName,
		IssueComments: map[int64][]*GHComment{}, CommitComments: map[string][]*GHComment{},
		Refs: map[string]*GHRef{}, TagObjects: map[string]*GHTag{}}
	g.repos[fullName] = r
	return r
}

// Do runs f with the repository's state locked.
func (g *GitHub) Do(repo string, f func(r *GHRepo)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.repos[repo]
	if r == nil {
		panic("forgetest: no GitHub repository " + repo)
	}
	f(r)
}

// Pulls returns copies of the pull requests.
func (g *GitHub) Pulls(repo string) []GHPull {
	var out []GHPull
	g.Do(repo, func(r *GHRepo) { out = copies(r.Pulls) })
	return out
}

// Statuses returns the statuses posted, oldest first.
func (g *GitHub) Statuses(repo string) []GHStatus {
	var out []GHStatus
	g.Do(repo, func(r *GHRepo) { out = append(out, r.Statuses...) })
	return out
}

// IssueComments returns the comments of issue or PR number.
func (g *GitHub) IssueComments(repo string, number int64) []GHComment {
	var out []GHComment
	g.Do(repo, func(r *GHRepo) { out = copies(r.IssueComments[number]) })
	return out
}

// CommitComments returns the comments on a commit.
func (g *GitHub) CommitComments(repo, sha string) []GHComment {
	var out []GHComment
	g.Do(repo, func(r *GHRepo) { out = copies(r.CommitComments[sha]) })
	return out
}

// Milestones returns the milestones.
func (g *GitHub) Milestones(repo string) []GHMilestone {
	var out []GHMilestone
	g.Do(repo, func(r *GHRepo) { out = copies(r.Milestones) })
	return out
}

// Refs returns the git refs ("refs/tags/v1" → ref).
func (g *GitHub) Refs(repo string) map[string]GHRef {
	out := map[string]GHRef{}
	g.Do(repo, func(r *GHRepo) {
		for k, v := range r.Refs {
			out[k] = *v
		}
	})
	return out
}

// Releases returns the releases.
func (g *GitHub) Releases(repo string) []GHRelease {
	var out []GHRelease
	g.Do(repo, func(r *GHRepo) { out = copies(r.Releases) })
	return out
}

// AddIssue seeds an issue; its number is returned.
func (g *GitHub) AddIssue(repo string, is GHIssue) int64 {
	g.Do(repo, func(r *GHRepo) { is = *r.addIssue(g.s, is) })
	return is.Number
}

// AddPull seeds a pull request; its number is returned. State "closed" with
// MergedAt set is a merged PR.
func (g *GitHub) AddPull(repo string, p GHPull) int64 {
	g.Do(repo, func(r *GHRepo) { p = *r.addPull(g.s, p) })
	return p.Number
}

// AddMilestone seeds a milestone and returns its number.
func (g *GitHub) AddMilestone(repo, title, state string) int64 {
	var n int64
	g.Do(repo, func(r *GHRepo) { n = r.newMilestone(g.s, title, "", nil, state).Number })
	return n
}

// SetMilestone puts issue or PR number in milestone ms.
func (g *GitHub) SetMilestone(repo string, number, ms int64) {
	g.Do(repo, func(r *GHRepo) {
		m := r.milestone(ms)
		r.Issues[number-1].Milestone = m
		for _, p := range r.Pulls {
			if p.Number == number {
				p.Milestone = m
			}
		}
	})
}

func (r *GHRepo) addIssue(s *Server, is GHIssue) *GHIssue {
	now := s.now().UTC()
	is.ID = s.id()
	is.Number = int64(len(r.Issues) + 1)
	is.NodeID = "I_" + strconv.FormatInt(is.ID, 10)
	is.URL = r.APIURL + "/issues/" + strconv.FormatInt(is.Number, 10)
	is.HTMLURL = r.HTMLURL + "/issues/" + strconv.FormatInt(is.Number, 10)
	if is.State == "" {
		is.State = "open"
	}
	if is.User.Login == "" {
		is.User = GHUser{Login: "dev", ID: 2, Type: "User"}
	}
	if is.Labels == nil {
		is.Labels = []GHLabel{}
	}
	seedTimes(now, &is.CreatedAt, &is.UpdatedAt, is.ClosedAt)
	i := is
	r.Issues = append(r.Issues, &i)
	return &i
}

func (r *GHRepo) addPull(s *Server, p GHPull) *GHPull {
	is := r.addIssue(s, GHIssue{Title: p.Title, Body: p.Body, State: p.State, ClosedAt: p.ClosedAt, Labels: p.Labels, Milestone: p.Milestone,
		PullRequest: &GHIssuePR{MergedAt: p.MergedAt}})
	p.ID, p.Number, p.NodeID = s.id(), is.Number, "PR_"+strconv.FormatInt(is.Number, 10)
	p.URL = r.APIURL + "/pulls/" + strconv.FormatInt(p.Number, 10)
	p.HTMLURL = r.HTMLURL + "/pull/" + strconv.FormatInt(p.Number, 10)
	is.PullRequest.URL, is.PullRequest.HTMLURL = p.URL, p.HTMLURL
	if p.State == "" {
		p.State = "open"
	}
	if p.User.Login == "" {
		p.User = GHUser{Login: "dev", ID: 2, Type: "User"}
	}
	if p.Labels == nil {
		p.Labels = []GHLabel{}
	}
	p.CreatedAt, p.UpdatedAt = is.CreatedAt, is.UpdatedAt
	owner, _, _ := strings.Cut(r.FullName, "/")
	if p.Head.SHA == "" {
		p.Head.SHA = fakeSHA("pr" + strconv.FormatInt(p.Number, 10) + p.Head.Ref)
	}
	p.Head.Label, p.Base.Label = owner+":"+p.Head.Ref, owner+":"+p.Base.Ref
	if p.Head.User.Login == "" {
		p.Head.User = p.User
	}
	if p.Base.User.Login == "" {
		p.Base.User = p.User
	}
	if p.Base.SHA == "" {
		p.Base.SHA = fakeSHA("base" + p.Base.Ref)
	}
	p.Head.Repo, p.Base.Repo = r.repoJSON(), r.repoJSON()
	if p.MergedAt != nil && p.MergeCommitSHA == nil {
		sha := fakeSHA("merge" + p.Head.SHA)
		p.MergeCommitSHA = &sha
	}
	pp := p
	r.Pulls = append(r.Pulls, &pp)
	return &pp
}

func (r *GHRepo) newMilestone(s *Server, title, desc string, due *time.Time, state string) *GHMilestone {
	now := s.now().UTC()
	if state == "" {
		state = "open"
	}
	m := &GHMilestone{ID: s.id(), Number: int64(len(r.Milestones) + 1), State: state, Title: title, Creator: ghBot,
		CreatedAt: now, UpdatedAt: now, DueOn: due}
	if desc != "" {
		m.Description = &desc
	}
	m.NodeID = "MI_" + strconv.FormatInt(m.ID, 10)
	m.URL = r.APIURL + "/milestones/" + strconv.FormatInt(m.Number, 10)
	m.HTMLURL = r.HTMLURL + "/milestone/" + strconv.FormatInt(m.Number, 10)
	r.Milestones = append(r.Milestones, m)
	return m
}

func (r *GHRepo) milestone(n int64) *GHMilestone {
	return find(r.Milestones, func(m *GHMilestone) bool { return m.Number == n })
}

// --- HTTP -------------------------------------------------------------------------

type ghHandler func(w http.ResponseWriter, req *http.Request, r *GHRepo)

func ghErr(w http.ResponseWriter, status int, msg string, errors ...map[string]any) {
	body := map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest"}
	if len(errors) > 0 {
		body["errors"] = errors
	}
	writeJSON(w, status, body)
}

func (g *GitHub) routes(mux *http.ServeMux) {
	h := func(pattern string, f ghHandler) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			if a := g.s.authOf(req); a != "token" {
				ghErr(w, http.StatusUnauthorized, "Bad credentials")
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			r := g.repos[req.PathValue("owner")+"/"+req.PathValue("repo")]
			if r == nil {
				ghErr(w, http.StatusNotFound, "Not Found")
				return
			}
			f(w, req, r)
		})
	}
	const rp = "/api/v3/repos/{owner}/{repo}"
	h("POST "+rp+"/statuses/{sha}", g.postStatus)
	h("GET "+rp+"/commits/{ref}/statuses", g.listStatuses)
	h("GET "+rp+"/pulls", g.listPulls)
	h("POST "+rp+"/pulls", g.createPull)
	h("PATCH "+rp+"/pulls/{n}", g.editPull)
	h("GET "+rp+"/pulls/{n}", g.getPull)
	h("GET "+rp+"/issues", g.listIssues)
	h("GET "+rp+"/issues/{n}", g.getIssue)
	h("PATCH "+rp+"/issues/{n}", g.editIssue)
	h("GET "+rp+"/issues/{n}/comments", g.listIssueComments)
	h("POST "+rp+"/issues/{n}/comments", g.createIssueComment)
	h("PATCH "+rp+"/issues/comments/{id}", g.editIssueComment)
	h("GET "+rp+"/commits/{sha}/comments", g.listCommitComments)
	h("POST "+rp+"/commits/{sha}/comments", g.createCommitComment)
	h("PATCH "+rp+"/comments/{id}", g.editCommitComment)
	h("GET "+rp+"/milestones", g.listMilestones)
	h("POST "+rp+"/milestones", g.createMilestone)
	h("PATCH "+rp+"/milestones/{n}", g.editMilestone)
	h("GET "+rp+"/git/ref/{ref...}", g.getRef)
	h("POST "+rp+"/git/refs", g.createRef)
	h("GET "+rp+"/git/tags/{sha}", g.getTagObject)
	h("POST "+rp+"/git/tags", g.createTagObject)
	h("GET "+rp+"/releases/tags/{tag}", g.getReleaseByTag)
	h("POST "+rp+"/releases", g.createRelease)
	h("PATCH "+rp+"/releases/{id}", g.editRelease)
}

func (g *GitHub) postStatus(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	state := q.Get("state")
	if !slices.Contains([]string{"error", "failure", "pending", "success"}, state) {
		ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{"resource": "Status", "field": "state", "code": "custom"})
		return
	}
	ctxName := q.Get("context")
	if ctxName == "" {
		ctxName = "default"
	}
	// GitHub counts the description's characters, not its bytes.
	if utf8.RuneCountInString(q.Get("description")) > 140 {
		ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{"resource": "Status", "field": "description", "code": "custom",
			"message": "description is too long (maximum is 140 characters)"})
		return
	}
	now := g.s.now().UTC()
	st := GHStatus{ID: g.s.id(), State: state, Context: ctxName, CreatedAt: now, UpdatedAt: now, Creator: ghBot, SHA: req.PathValue("sha")}
	st.NodeID = "SC_" + strconv.FormatInt(st.ID, 10)
	st.URL = r.APIURL + "/statuses/" + st.SHA
	if v := q.Get("description"); v != "" {
		st.Description = &v
	}
	if v := q.Get("target_url"); v != "" {
		st.TargetURL = &v
	}
	r.Statuses = append(r.Statuses, st)
	writeJSON(w, http.StatusCreated, st)
}

func (g *GitHub) listStatuses(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	out := []GHStatus{}
	for i := len(r.Statuses) - 1; i >= 0; i-- { // newest first
		if r.Statuses[i].SHA == req.PathValue("ref") {
			out = append(out, r.Statuses[i])
		}
	}
	writeJSON(w, http.StatusOK, page(w, req, out, false))
}

func (g *GitHub) listPulls(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	owner := req.PathValue("owner")
	var out []*GHPull
	for _, p := range r.Pulls {
		if state != "all" && p.State != state {
			continue
		}
		if head := q.Get("head"); head != "" {
			// head is "user:ref" (or just "ref" is rejected by GitHub; we accept it).
			if !strings.Contains(head, ":") {
				head = owner + ":" + head
			}
			if p.Head.Label != head {
				continue
			}
		}
		if base := q.Get("base"); base != "" && p.Base.Ref != base {
			continue
		}
		out = append(out, p)
	}
	// sort=created (default) or updated, direction desc by default.
	if q.Get("sort") == "updated" {
		slices.SortStableFunc(out, func(a, b *GHPull) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(out)
	}
	writeJSON(w, http.StatusOK, page(w, req, out, false))
}

func (g *GitHub) createPull(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	head, base, title := q.Get("head"), q.Get("base"), q.Get("title")
	if head == "" || base == "" || title == "" {
		ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{"resource": "PullRequest", "code": "missing_field"})
		return
	}
	if _, ref, ok := strings.Cut(head, ":"); ok {
		head = ref
	}
	for _, p := range r.Pulls {
		if p.State == "open" && p.Head.Ref == head && p.Base.Ref == base {
			ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{
				"resource": "PullRequest", "code": "custom",
				"message": "A pull request already exists for " + p.Head.Label + "."})
			return
		}
	}
	var body *string
	if b := q.Get("body"); b != "" {
		body = &b
	}
	p := r.addPull(g.s, GHPull{Title: title, Body: body, User: ghBot, Head: GHBranchRef{Ref: head, User: ghBot}, Base: GHBranchRef{Ref: base, User: ghBot}})
	writeJSON(w, http.StatusCreated, p)
}

func (r *GHRepo) pull(n int64) *GHPull {
	return find(r.Pulls, func(p *GHPull) bool { return p.Number == n })
}

func (g *GitHub) getPull(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	p := r.pull(pathInt(req, "n"))
	if p == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *GitHub) editPull(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	p := r.pull(pathInt(req, "n"))
	if p == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	q, _ := params(req)
	is := r.Issues[p.Number-1]
	if q.Has("title") {
		p.Title, is.Title = q.Get("title"), q.Get("title")
	}
	if q.Has("body") {
		b := q.Get("body")
		p.Body, is.Body = &b, &b
	}
	if q.Has("base") {
		p.Base.Ref = q.Get("base")
	}
	if q.Has("state") {
		p.State, is.State = q.Get("state"), q.Get("state")
	}
	p.UpdatedAt = g.s.now().UTC()
	is.UpdatedAt = p.UpdatedAt
	writeJSON(w, http.StatusOK, p)
}

func (g *GitHub) listIssues(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var out []*GHIssue
	for _, is := range r.Issues {
		if state != "all" && is.State != state {
			continue
		}
		if ms := q.Get("milestone"); ms != "" && ms != "*" {
			n, _ := strconv.ParseInt(ms, 10, 64)
			if is.Milestone == nil || is.Milestone.Number != n {
				continue
			}
		}
		if !timeFilter(q.Get("since"), is.UpdatedAt, true) {
			continue
		}
		out = append(out, is)
	}
	if q.Get("direction") != "asc" {
		slices.Reverse(out)
	}
	writeJSON(w, http.StatusOK, page(w, req, out, false))
}

func (g *GitHub) getIssue(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	n := pathInt(req, "n")
	if n < 1 || int(n) > len(r.Issues) {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, r.Issues[n-1])
}

func (g *GitHub) editIssue(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	n := pathInt(req, "n")
	if n < 1 || int(n) > len(r.Issues) {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	is := r.Issues[n-1]
	q, raw := params(req)
	if q.Has("title") {
		is.Title = q.Get("title")
	}
	if q.Has("state") {
		is.State = q.Get("state")
	}
	if lr, ok := raw["labels"]; ok {
		is.Labels = []GHLabel{}
		for _, l := range labelsOf("", lr) {
			is.Labels = append(is.Labels, GHLabel{ID: g.s.id(), Name: l, Color: "ededed", URL: r.APIURL + "/labels/" + l})
		}
	}
	if q.Has("milestone") {
		ms, _ := strconv.ParseInt(q.Get("milestone"), 10, 64)
		is.Milestone = r.milestone(ms)
	}
	is.UpdatedAt = g.s.now().UTC()
	if p := r.pull(n); p != nil {
		p.Labels, p.Milestone, p.Title, p.UpdatedAt = is.Labels, is.Milestone, is.Title, is.UpdatedAt
	}
	writeJSON(w, http.StatusOK, is)
}

func (g *GitHub) newComment(r *GHRepo, body string) *GHComment {
	now := g.s.now().UTC()
	c := &GHComment{ID: g.s.id(), Body: body, User: ghBot, CreatedAt: now, UpdatedAt: now, AuthorAssociation: "NONE"}
	c.NodeID = "IC_" + strconv.FormatInt(c.ID, 10)
	return c
}

func (g *GitHub) listIssueComments(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	writeJSON(w, http.StatusOK, page(w, req, r.IssueComments[pathInt(req, "n")], false))
}

func (g *GitHub) createIssueComment(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	n := pathInt(req, "n")
	if n < 1 || int(n) > len(r.Issues) {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	q, _ := params(req)
	c := g.newComment(r, q.Get("body"))
	c.URL = r.APIURL + "/issues/comments/" + strconv.FormatInt(c.ID, 10)
	c.HTMLURL = r.Issues[n-1].HTMLURL + "#issuecomment-" + strconv.FormatInt(c.ID, 10)
	c.IssueURL = r.Issues[n-1].URL
	r.IssueComments[n] = append(r.IssueComments[n], c)
	r.Issues[n-1].Comments++
	writeJSON(w, http.StatusCreated, c)
}

func (g *GitHub) editIssueComment(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	g.editComment(w, req, findComment(r.IssueComments, pathInt(req, "id")))
}

// findComment looks a comment up by id in lists (issue comments by issue
// number, commit comments by sha): GitHub's edit endpoints name only the id.
func findComment[K comparable](lists map[K][]*GHComment, id int64) *GHComment {
	for _, list := range lists {
		if c := find(list, func(c *GHComment) bool { return c.ID == id }); c != nil {
			return c
		}
	}
	return nil
}

// editComment sets the body of c (nil: not found) from the request.
func (g *GitHub) editComment(w http.ResponseWriter, req *http.Request, c *GHComment) {
	if c == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	q, _ := params(req)
	c.Body, c.UpdatedAt = q.Get("body"), g.s.now().UTC()
	writeJSON(w, http.StatusOK, c)
}

func (g *GitHub) listCommitComments(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	writeJSON(w, http.StatusOK, page(w, req, r.CommitComments[req.PathValue("sha")], false))
}

func (g *GitHub) createCommitComment(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	sha := req.PathValue("sha")
	c := g.newComment(r, q.Get("body"))
	c.NodeID = "CC_" + strconv.FormatInt(c.ID, 10)
	c.URL = r.APIURL + "/comments/" + strconv.FormatInt(c.ID, 10)
	c.HTMLURL = r.HTMLURL + "/commit/" + sha + "#commitcomment-" + strconv.FormatInt(c.ID, 10)
	c.CommitID = sha
	r.CommitComments[sha] = append(r.CommitComments[sha], c)
	writeJSON(w, http.StatusCreated, c)
}

func (g *GitHub) editCommitComment(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	g.editComment(w, req, findComment(r.CommitComments, pathInt(req, "id")))
}

func (g *GitHub) listMilestones(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	state := req.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	out := filter(r.Milestones, func(m *GHMilestone) bool { return state == "all" || m.State == state })
	writeJSON(w, http.StatusOK, page(w, req, out, false))
}

func (g *GitHub) createMilestone(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	title := q.Get("title")
	for _, m := range r.Milestones {
		if m.Title == title {
			ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{"resource": "Milestone", "code": "already_exists", "field": "title"})
			return
		}
	}
	var due *time.Time
	if v := q.Get("due_on"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			due = &t
		}
	}
	m := r.newMilestone(g.s, title, q.Get("description"), due, q.Get("state"))
	writeJSON(w, http.StatusCreated, m)
}

func (g *GitHub) editMilestone(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	m := r.milestone(pathInt(req, "n"))
	if m == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	q, _ := params(req)
	if q.Has("state") {
		m.State = q.Get("state")
		if m.State == "closed" {
			now := g.s.now().UTC()
			m.ClosedAt = &now
		}
	}
	if q.Has("title") {
		m.Title = q.Get("title")
	}
	m.UpdatedAt = g.s.now().UTC()
	writeJSON(w, http.StatusOK, m)
}

func (g *GitHub) getRef(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	ref := r.Refs["refs/"+req.PathValue("ref")]
	if ref == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, ref)
}

func (g *GitHub) createRef(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	name, sha := q.Get("ref"), q.Get("sha")
	if !strings.HasPrefix(name, "refs/") || strings.Count(name, "/") < 2 || len(sha) != 40 {
		ghErr(w, http.StatusUnprocessableEntity, name+" is not a valid ref name.")
		return
	}
	if r.Refs[name] != nil {
		ghErr(w, http.StatusUnprocessableEntity, "Reference already exists")
		return
	}
	typ := "commit"
	if r.TagObjects[sha] != nil {
		typ = "tag"
	}
	ref := &GHRef{Ref: name, NodeID: "REF_" + name, URL: r.APIURL + "/git/" + name,
		Object: GHGitObject{Type: typ, SHA: sha, URL: r.APIURL + "/git/" + typ + "s/" + sha}}
	r.Refs[name] = ref
	writeJSON(w, http.StatusCreated, ref)
}

func (g *GitHub) getTagObject(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	t := r.TagObjects[req.PathValue("sha")]
	if t == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (g *GitHub) createTagObject(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	// Creating a tag object twice is harmless on GitHub: it is only
	// reachable once a ref points to it. Same input gives the same sha here.
	sha := fakeSHA("tagobj" + q.Get("tag") + q.Get("object") + q.Get("message"))
	t := &GHTag{NodeID: "TAG_" + sha[:8], Tag: q.Get("tag"), SHA: sha, URL: r.APIURL + "/git/tags/" + sha, Message: q.Get("message"),
		Tagger: GHTagger{Name: "Pipeline Bot", Email: "bot@example.com", Date: g.s.now().UTC()},
		Object: GHGitObject{Type: "commit", SHA: q.Get("object"), URL: r.APIURL + "/git/commits/" + q.Get("object")}}
	r.TagObjects[sha] = t
	writeJSON(w, http.StatusCreated, t)
}

func (r *GHRepo) releaseByTag(tag string) *GHRelease {
	return find(r.Releases, func(rel *GHRelease) bool { return rel.TagName == tag })
}

func (g *GitHub) getReleaseByTag(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	rel := r.releaseByTag(req.PathValue("tag"))
	if rel == nil {
		ghErr(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, rel)
}

func (g *GitHub) createRelease(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	q, _ := params(req)
	tag := q.Get("tag_name")
	if r.releaseByTag(tag) != nil {
		ghErr(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]any{"resource": "Release", "code": "already_exists", "field": "tag_name"})
		return
	}
	target := q.Get("target_commitish")
	if r.Refs["refs/tags/"+tag] == nil {
		// GitHub creates the tag from target_commitish (a sha or a branch;
		// default: the default branch) when it is missing. This fake has no
		// branches: a branch name stands for a made-up commit.
		sha := target
		if len(sha) != 40 {
			if target == "" {
				target = "main"
			}
			sha = fakeSHA("branch:" + target)
		}
		r.Refs["refs/tags/"+tag] = &GHRef{Ref: "refs/tags/" + tag, URL: r.APIURL + "/git/refs/tags/" + tag,
			Object: GHGitObject{Type: "commit", SHA: sha, URL: r.APIURL + "/git/commits/" + sha}}
	}
	now := g.s.now().UTC()
	rel := &GHRelease{ID: g.s.id(), TagName: tag, TargetCommitish: target, Name: q.Get("name"), Body: q.Get("body"),
		Draft: q.Get("draft") == "true", Prerelease: q.Get("prerelease") == "true", CreatedAt: now, PublishedAt: now, Author: ghBot, Assets: []any{}}
	id := strconv.FormatInt(rel.ID, 10)
	rel.NodeID = "RE_" + id
	rel.URL = r.APIURL + "/releases/" + id
	rel.HTMLURL = r.HTMLURL + "/releases/tag/" + tag
	rel.AssetsURL = rel.URL + "/assets"
	rel.UploadURL = "https://uploads.github.com/repos/" + r.FullName + "/releases/" + id + "/assets{?name,label}"
	rel.TarballURL = r.APIURL + "/tarball/" + tag
	rel.ZipballURL = r.APIURL + "/zipball/" + tag
	r.Releases = append(r.Releases, rel)
	writeJSON(w, http.StatusCreated, rel)
}

func (g *GitHub) editRelease(w http.ResponseWriter, req *http.Request, r *GHRepo) {
	id := pathInt(req, "id")
	for _, rel := range r.Releases {
		if rel.ID == id {
			q, _ := params(req)
			if q.Has("name") {
				rel.Name = q.Get("name")
			}
			if q.Has("body") {
				rel.Body = q.Get("body")
			}
			writeJSON(w, http.StatusOK, rel)
			return
		}
	}
	ghErr(w, http.StatusNotFound, "Not Found")
}
