package gitops

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
)

// GitHub is the Forge of a GitHub repository over the REST API
// (google/go-github/v60), with hashicorp/go-retryablehttp underneath for
// retries that honour Retry-After and X-RateLimit-Reset.
type GitHub struct {
	c           *github.Client
	owner, repo string
	opts        Options
	retry       Retry
}

// NewGitHub returns the GitHub forge for opts.Project ("owner/repo").
func NewGitHub(opts Options) (*GitHub, error) {
	owner, repo, ok := strings.Cut(opts.Project, "/")
	if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, statusUsage(fmt.Errorf("github: project %q: want owner/repo", opts.Project), "set forge.project to the repository's owner/name")
	}
	r := opts.Retry.withDefaults()
	r.logf = opts.Logf
	hc := opts.HTTPClient
	if hc == nil {
		// Our own client gets Retry.Timeout; a caller's client keeps the
		// timeout (and everything else) it was given.
		hc = cleanhttp.DefaultPooledClient()
		hc.Timeout = r.Timeout
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = hc
	rc.CheckRetry = r.checkRetry
	rc.Backoff = r.backoff
	rc.RetryMax = r.Attempts - 1
	// Hand the last answer to go-github, which turns it into a typed error.
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	rc.Logger = log.New(discard{}, "", 0)
	rc.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, attempt int) {
		if attempt > 0 && opts.Logf != nil {
			opts.Logf("github: retrying %s %s (attempt %d)", req.Method, req.URL.Path, attempt+1)
		}
	}
	c := github.NewClient(rc.StandardClient())
	if opts.Token != "" {
		c = c.WithAuthToken(opts.Token)
	}
	base := opts.BaseURL
	if base == "" {
		base = GitHubDotCom
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, statusUsage(fmt.Errorf("github: API URL %q: %w", base, err), "set forge.url to the API root, e.g. https://github.example.com/api/v3/")
	}
	c.BaseURL = u
	return &GitHub{c: c, owner: owner, repo: repo, opts: opts, retry: r}, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Kind is "github".
func (g *GitHub) Kind() string { return "github" }

func (g *GitHub) api(ctx context.Context, what string, f func(ctx context.Context) error) error {
	if g.opts.Token == "" {
		return noToken("github")
	}
	err := g.retry.call(ctx, "github: "+what, ghTransient, f)
	if rl, ok := ghRateLimit(err); ok {
		return g.retry.limitErr(err, rl)
	}
	return refused(err, ghStatus(err), g.opts.TokenSource, "github", g.owner+"/"+g.repo)
}

// ghRateLimit reads a rate-limit refusal out of a go-github error: the
// HTTP layer already waited what it could (see Retry).
func ghRateLimit(err error) (rateLimit, bool) {
	var rl *github.RateLimitError
	var ab *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl):
		return rateLimit{wait: time.Until(rl.Rate.Reset.Time), until: rl.Rate.Reset.Time}, true
	case errors.As(err, &ab):
		if l, ok := rateLimitOf(ab.Response, 0); ok && !l.secondary {
			return l, true
		}
		return rateLimit{wait: secondaryWait, secondary: true}, true
	case errors.As(err, &er):
		return rateLimitOf(er.Response, 0)
	}
	return rateLimit{}, false
}

// ghTransient classifies go-github errors for the method-level retry.
// Rate limits are not retried here: the HTTP layer already waited as long
// as the policy allows (see Retry), and go-github refuses to send more
// requests until the limit resets.
func ghTransient(err error) (bool, time.Duration) {
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &er) && er.Response != nil && er.Response.Request != nil:
		// 429s and 5xx of safe methods were already retried by the HTTP
		// client; a 5xx on POST was not, because the server may have acted.
		code := er.Response.StatusCode
		return code >= 500 && code != http.StatusNotImplemented && !safeToRepeat(er.Response.Request.Method), 0
	}
	return false, 0
}

func ghStatus(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// ghExists: GitHub's 422 for something that is already there.
func ghExists(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	if strings.Contains(er.Message, "already exists") {
		return true
	}
	for _, e := range er.Errors {
		if e.Code == "already_exists" || strings.Contains(e.Message, "already exists") {
			return true
		}
	}
	return false
}

// --- statuses ----------------------------------------------------------------------------

// SetStatus posts a commit status. GitHub has no "running": it is "pending";
// "failed" is "failure", "canceled" is "error".
func (g *GitHub) SetStatus(ctx context.Context, s Status) error {
	state, err := ghState(s.State)
	if err != nil {
		return err
	}
	if err := checkTargetURL(s.TargetURL, 0); err != nil {
		return err
	}
	st := &github.RepoStatus{State: &state, Context: &s.Name}
	if s.Description != "" {
		st.Description = github.String(truncate(s.Description, ghDescriptionMax))
	}
	if s.TargetURL != "" {
		st.TargetURL = &s.TargetURL
	}
	retried := false
	return g.api(ctx, "set status "+s.Name+" on "+short(s.SHA), func(ctx context.Context) error {
		// GitHub keeps every status posted (the newest per context
		// counts): after a lost answer, look before posting again.
		if retried {
			have, _, err := g.c.Repositories.ListStatuses(ctx, g.owner, g.repo, s.SHA, &github.ListOptions{PerPage: 100})
			if err != nil {
				return err
			}
			for _, h := range have { // newest first
				if h.GetContext() == s.Name {
					if h.GetState() == st.GetState() && h.GetDescription() == st.GetDescription() && h.GetTargetURL() == st.GetTargetURL() {
						return nil
					}
					break
				}
			}
		}
		retried = true
		_, _, err := g.c.Repositories.CreateStatus(ctx, g.owner, g.repo, s.SHA, st)
		return err
	})
}

func ghState(s string) (string, error) {
	switch s {
	case "pending", "running":
		return "pending", nil
	case "success":
		return "success", nil
	case "failed":
		return "failure", nil
	case "canceled", "skipped":
		return "error", nil
	}
	return "", statusStateErr(s)
}

// SetExternalStatusCheck is GitLab-only.
func (g *GitHub) SetExternalStatusCheck(context.Context, int, int, string, string) error {
	return fmt.Errorf("github: external status checks: %w", ErrUnsupported)
}

// --- pull requests ------------------------------------------------------------------------

func ghPR(p *github.PullRequest) MergeRequest {
	out := MergeRequest{
		Number: p.GetNumber(), Title: p.GetTitle(), Description: p.GetBody(),
		SourceBranch: p.GetHead().GetRef(), TargetBranch: p.GetBase().GetRef(),
		State: p.GetState(), Author: p.GetUser().GetLogin(), WebURL: p.GetHTMLURL(),
		SHA: p.GetHead().GetSHA(), MergeCommitSHA: p.GetMergeCommitSHA(),
	}
	if p.MergedAt != nil {
		out.State = "merged"
		out.MergedAt = p.MergedAt.Time
	} else if out.State == "open" {
		out.State = "opened"
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	if p.Milestone != nil {
		out.Milestone = p.Milestone.GetTitle()
	}
	return out
}

// FindMergeRequest returns the open PR from source into target, or nil.
func (g *GitHub) FindMergeRequest(ctx context.Context, source, target string) (*MergeRequest, error) {
	var found *MergeRequest
	err := g.api(ctx, "find PR "+source+" → "+target, func(ctx context.Context) error {
		prs, _, err := g.c.PullRequests.List(ctx, g.owner, g.repo, &github.PullRequestListOptions{
			State: "open", Head: g.owner + ":" + source, Base: target,
		})
		if err != nil {
			return err
		}
		found = nil
		if len(prs) > 0 {
			m := ghPR(prs[0])
			found = &m
		}
		return nil
	})
	return found, err
}

// CreateMergeRequest opens a PR, or updates and returns the open one from
// the same head into the same base.
func (g *GitHub) CreateMergeRequest(ctx context.Context, in MergeRequestInput) (*MergeRequest, error) {
	var number int
	err := g.api(ctx, "create PR "+in.SourceBranch+" → "+in.TargetBranch, func(ctx context.Context) error {
		m, err := g.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch)
		if err != nil {
			return err
		}
		if m != nil {
			number = m.Number
			return nil
		}
		pr, _, err := g.c.PullRequests.Create(ctx, g.owner, g.repo, &github.NewPullRequest{
			Title: &in.Title, Body: &in.Description, Head: &in.SourceBranch, Base: &in.TargetBranch,
		})
		if ghExists(err) {
			m, err := g.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch)
			if err == nil && m != nil {
				number = m.Number
			}
			return err
		}
		if err != nil {
			return err
		}
		number = pr.GetNumber()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g.UpdateMergeRequest(ctx, number, in)
}

// UpdateMergeRequest sets title, body, base, labels and milestone of a PR.
func (g *GitHub) UpdateMergeRequest(ctx context.Context, number int, in MergeRequestInput) (*MergeRequest, error) {
	var out *MergeRequest
	err := g.api(ctx, fmt.Sprintf("update PR #%d", number), func(ctx context.Context) error {
		edit := &github.PullRequest{Title: &in.Title, Body: &in.Description}
		if in.TargetBranch != "" {
			edit.Base = &github.PullRequestBranch{Ref: &in.TargetBranch}
		}
		pr, _, err := g.c.PullRequests.Edit(ctx, g.owner, g.repo, number, edit)
		if err != nil {
			return err
		}
		// Labels and milestone live on the issue side of a PR.
		if in.Labels != nil || in.MilestoneID > 0 {
			req := &github.IssueRequest{}
			if in.Labels != nil {
				req.Labels = &in.Labels
			}
			if in.MilestoneID > 0 {
				req.Milestone = &in.MilestoneID
			}
			if _, _, err := g.c.Issues.Edit(ctx, g.owner, g.repo, number, req); err != nil {
				return err
			}
			if pr, _, err = g.c.PullRequests.Get(ctx, g.owner, g.repo, number); err != nil {
				return err
			}
		}
		m := ghPR(pr)
		out = &m
		return nil
	})
	return out, err
}

// MergedMergeRequests lists PRs merged into target since the given time.
func (g *GitHub) MergedMergeRequests(ctx context.Context, target string, since time.Time) ([]MergeRequest, error) {
	var out []MergeRequest
	opt := &github.PullRequestListOptions{State: "closed", Base: target, Sort: "updated", Direction: "desc",
		ListOptions: github.ListOptions{PerPage: 100}}
	for {
		var prs []*github.PullRequest
		var next int
		err := g.api(ctx, "list merged PRs into "+target, func(ctx context.Context) error {
			var resp *github.Response
			var err error
			prs, resp, err = g.c.PullRequests.List(ctx, g.owner, g.repo, opt)
			if err == nil {
				next = resp.NextPage
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		older := false
		for _, p := range prs {
			// Sorted by update time: once older than since, so is the rest.
			if !since.IsZero() && p.GetUpdatedAt().Time.Before(since) {
				older = true
				break
			}
			if p.MergedAt == nil || p.MergedAt.Time.Before(since) {
				continue
			}
			out = append(out, ghPR(p))
		}
		if older || next == 0 {
			return out, nil
		}
		opt.Page = next
	}
}

func ghIssue(i *github.Issue) Issue {
	out := Issue{Number: i.GetNumber(), Title: i.GetTitle(), State: i.GetState(), WebURL: i.GetHTMLURL()}
	if out.State == "open" {
		out.State = "opened"
	}
	for _, l := range i.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	if i.Milestone != nil {
		out.Milestone = i.Milestone.GetTitle()
	}
	if i.ClosedAt != nil {
		out.ClosedAt = i.ClosedAt.Time
	}
	return out
}

var ghClosing = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+#(\d+)`)
})

// IssuesClosedBy lists the issues a PR closes. GitHub's REST API has no such
// list, so the closing keywords of the PR's body ("Fixes #12") are read, as
// GitHub itself does.
func (g *GitHub) IssuesClosedBy(ctx context.Context, mr int) ([]Issue, error) {
	var body string
	err := g.api(ctx, fmt.Sprintf("get PR #%d", mr), func(ctx context.Context) error {
		pr, _, err := g.c.PullRequests.Get(ctx, g.owner, g.repo, mr)
		body = pr.GetBody()
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Issue
	seen := map[int]bool{}
	for _, m := range ghClosing().FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		if seen[n] {
			continue
		}
		seen[n] = true
		err := g.api(ctx, fmt.Sprintf("get issue #%d", n), func(ctx context.Context) error {
			is, _, err := g.c.Issues.Get(ctx, g.owner, g.repo, n)
			if ghStatus(err) == http.StatusNotFound {
				return nil
			}
			if err != nil {
				return err
			}
			if !is.IsPullRequest() {
				out = append(out, ghIssue(is))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CherryPick is GitLab-only: use the git CLI (Git.CherryPick) on GitHub.
func (g *GitHub) CherryPick(context.Context, string, string, string, bool) (string, error) {
	return "", fmt.Errorf("github: cherry-pick API: %w", ErrUnsupported)
}

// --- comments --------------------------------------------------------------------------------

// UpsertComment keeps one comment of ours per target and marker name: on
// the conversation of a PR or issue, or on a commit.
func (g *GitHub) UpsertComment(ctx context.Context, t CommentTarget, marker, body string) error {
	full := withMarker(marker, body)
	switch {
	case t.MergeRequest > 0 || t.Issue > 0:
		n := t.MergeRequest
		if n == 0 {
			n = t.Issue
		}
		return g.api(ctx, fmt.Sprintf("comment on #%d", n), func(ctx context.Context) error {
			return ghUpsertComment(marker, full,
				func(page int) ([]*github.IssueComment, *github.Response, error) {
					opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100, Page: page}}
					return g.c.Issues.ListComments(ctx, g.owner, g.repo, n, opt)
				},
				func(id int64) error {
					_, _, err := g.c.Issues.EditComment(ctx, g.owner, g.repo, id, &github.IssueComment{Body: &full})
					return err
				},
				func() error {
					_, _, err := g.c.Issues.CreateComment(ctx, g.owner, g.repo, n, &github.IssueComment{Body: &full})
					return err
				})
		})
	case t.Commit != "":
		return g.api(ctx, "comment on commit "+short(t.Commit), func(ctx context.Context) error {
			return ghUpsertComment(marker, full,
				func(page int) ([]*github.RepositoryComment, *github.Response, error) {
					opt := &github.ListOptions{PerPage: 100, Page: page}
					return g.c.Repositories.ListCommitComments(ctx, g.owner, g.repo, t.Commit, opt)
				},
				func(id int64) error {
					_, _, err := g.c.Repositories.UpdateComment(ctx, g.owner, g.repo, id, &github.RepositoryComment{Body: &full})
					return err
				},
				func() error {
					_, _, err := g.c.Repositories.CreateComment(ctx, g.owner, g.repo, t.Commit, &github.RepositoryComment{Body: &full})
					return err
				})
		})
	}
	return fmt.Errorf("comment %s: no target (PR, issue or commit)", marker)
}

// ghComment is what ghUpsertComment reads of an issue or commit comment.
type ghComment interface {
	GetID() int64
	GetBody() string
}

// ghUpsertComment keeps one comment carrying marker, the same way for the
// comments of a PR or issue and those of a commit: it pages through them
// (list) and edits the first one with the marker unless its body is already
// full, or creates one (create) when none has it.
func ghUpsertComment[C ghComment](marker, full string, list func(page int) ([]C, *github.Response, error),
	edit func(id int64) error, create func() error) error {
	for page := 0; ; {
		cs, resp, err := list(page)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if strings.Contains(c.GetBody(), Marker(marker)) {
				if c.GetBody() == full {
					return nil
				}
				return edit(c.GetID())
			}
		}
		if resp.NextPage == 0 {
			return create()
		}
		page = resp.NextPage
	}
}

// --- issues and milestones ------------------------------------------------------------------

// ghPages fetches every page of a list, each page in its own retried call.
func ghPages[T any](ctx context.Context, g *GitHub, what string, list func(ctx context.Context, page int) ([]T, *github.Response, error)) ([]T, error) {
	var all []T
	page := 0
	for {
		var next int
		err := g.api(ctx, what, func(ctx context.Context) error {
			items, resp, err := list(ctx, page)
			if err != nil {
				return err
			}
			all = append(all, items...)
			next = resp.NextPage
			return nil
		})
		if err != nil {
			return nil, err
		}
		if next == 0 {
			return all, nil
		}
		page = next
	}
}

func (g *GitHub) listIssues(ctx context.Context, what string, opt *github.IssueListByRepoOptions) ([]*github.Issue, error) {
	opt.PerPage = 100
	return ghPages(ctx, g, what, func(ctx context.Context, page int) ([]*github.Issue, *github.Response, error) {
		opt.Page = page
		return g.c.Issues.ListByRepo(ctx, g.owner, g.repo, opt)
	})
}

func ghMilestone(m *github.Milestone) Milestone {
	out := Milestone{ID: m.GetNumber(), Title: m.GetTitle(), State: m.GetState(), WebURL: m.GetHTMLURL()}
	if m.DueOn != nil {
		out.DueDate = m.DueOn.Time
	}
	return out
}

// ListMilestones lists milestones: "open" (or "active"), "closed", "" all.
func (g *GitHub) ListMilestones(ctx context.Context, state string) ([]Milestone, error) {
	st := "all"
	switch state {
	case "open", "active":
		st = "open"
	case "closed":
		st = "closed"
	}
	opt := &github.MilestoneListOptions{State: st, ListOptions: github.ListOptions{PerPage: 100}}
	ms, err := ghPages(ctx, g, "list milestones", func(ctx context.Context, page int) ([]*github.Milestone, *github.Response, error) {
		opt.Page = page
		return g.c.Issues.ListMilestones(ctx, g.owner, g.repo, opt)
	})
	if err != nil {
		return nil, err
	}
	var out []Milestone
	for _, m := range ms {
		out = append(out, ghMilestone(m))
	}
	return out, nil
}

// CreateMilestone creates the milestone or returns the one with that title.
// GitHub milestones have a due date but no start date.
func (g *GitHub) CreateMilestone(ctx context.Context, in MilestoneInput) (*Milestone, error) {
	list := func() ([]Milestone, error) { return g.ListMilestones(ctx, "") }
	retried := func(try func(ctx context.Context) error) error {
		return g.api(ctx, "create milestone "+in.Title, try)
	}
	return createMilestone(in.Title, list, retried, func(ctx context.Context) (*Milestone, bool, error) {
		req := &github.Milestone{Title: &in.Title}
		if in.Description != "" {
			req.Description = &in.Description
		}
		if !in.DueDate.IsZero() {
			req.DueOn = &github.Timestamp{Time: in.DueDate}
		}
		created, _, err := g.c.Issues.CreateMilestone(ctx, g.owner, g.repo, req)
		if err != nil {
			return nil, ghExists(err), err
		}
		m := ghMilestone(created)
		return &m, false, nil
	})
}

// CloseMilestone closes milestone number id.
func (g *GitHub) CloseMilestone(ctx context.Context, id int) error {
	return g.api(ctx, fmt.Sprintf("close milestone %d", id), func(ctx context.Context) error {
		_, _, err := g.c.Issues.EditMilestone(ctx, g.owner, g.repo, id, &github.Milestone{State: github.String("closed")})
		return err
	})
}

// MilestoneItems lists the issues and PRs of milestone number id.
func (g *GitHub) MilestoneItems(ctx context.Context, id int) ([]Issue, []MergeRequest, error) {
	is, err := g.listIssues(ctx, fmt.Sprintf("items of milestone %d", id), &github.IssueListByRepoOptions{State: "all", Milestone: strconv.Itoa(id)})
	if err != nil {
		return nil, nil, err
	}
	var issues []Issue
	var prs []MergeRequest
	for _, i := range is {
		if !i.IsPullRequest() {
			issues = append(issues, ghIssue(i))
			continue
		}
		m := MergeRequest{Number: i.GetNumber(), Title: i.GetTitle(), Description: i.GetBody(), State: i.GetState(),
			Author: i.GetUser().GetLogin(), WebURL: i.GetHTMLURL()}
		if i.PullRequestLinks != nil && i.PullRequestLinks.MergedAt != nil {
			m.State, m.MergedAt = "merged", i.PullRequestLinks.MergedAt.Time
		}
		for _, l := range i.Labels {
			m.Labels = append(m.Labels, l.GetName())
		}
		if i.Milestone != nil {
			m.Milestone = i.Milestone.GetTitle()
		}
		prs = append(prs, m)
	}
	return issues, prs, nil
}

// --- tags and releases ------------------------------------------------------------------------

// GitHub releases have uploaded assets but no link assets: links are kept
// in a section of the notes after this marker, and read back from it.
const linksMarker = "<!-- pipeline:links -->"

func ghRelease(r *github.RepositoryRelease) *Release {
	notes, links := splitLinks(r.GetBody())
	return &Release{Tag: r.GetTagName(), Name: r.GetName(), Notes: notes, WebURL: r.GetHTMLURL(), Links: links}
}

var mdLink = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^- \[(.*)\]\((.*)\)$`) })

func splitLinks(body string) (string, []Link) {
	notes, section, found := strings.Cut(body, linksMarker)
	if !found {
		return body, nil
	}
	var links []Link
	for _, line := range strings.Split(section, "\n") {
		if m := mdLink().FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			links = append(links, Link{Name: m[1], URL: m[2]})
		}
	}
	return strings.TrimRight(notes, "\n"), links
}

func joinLinks(notes string, links []Link) string {
	if len(links) == 0 {
		return notes
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(notes, "\n"))
	b.WriteString("\n\n" + linksMarker + "\n### Downloads\n\n")
	for _, l := range links {
		fmt.Fprintf(&b, "- [%s](%s)\n", l.Name, l.URL)
	}
	return b.String()
}

func (g *GitHub) getRelease(ctx context.Context, tag string) (*github.RepositoryRelease, error) {
	var out *github.RepositoryRelease
	err := g.api(ctx, "get release "+tag, func(ctx context.Context) error {
		r, _, err := g.c.Repositories.GetReleaseByTag(ctx, g.owner, g.repo, tag)
		if ghStatus(err) == http.StatusNotFound {
			out = nil
			return nil
		}
		out = r
		return err
	})
	return out, err
}

// GetRelease returns the release of tag, or nil.
func (g *GitHub) GetRelease(ctx context.Context, tag string) (*Release, error) {
	r, err := g.getRelease(ctx, tag)
	if err != nil || r == nil {
		return nil, err
	}
	return ghRelease(r), nil
}

// CreateRelease creates the release (GitHub makes the tag at in.Ref when it
// is missing), or brings an existing one up to date with in.
func (g *GitHub) CreateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	retried := func(try func(ctx context.Context) error) error {
		return g.api(ctx, "create release "+in.Tag, try)
	}
	return createRelease(ctx, g, in, retried, func(ctx context.Context) (bool, error) {
		req := &github.RepositoryRelease{TagName: &in.Tag, Name: &in.Name, Body: github.String(joinLinks(in.Notes, in.Links))}
		if in.Ref != "" {
			req.TargetCommitish = &in.Ref
		}
		_, _, err := g.c.Repositories.CreateRelease(ctx, g.owner, g.repo, req)
		return ghExists(err), err
	})
}

// UpdateRelease sets the name and notes of a release and adds the links it
// lacks (by name).
func (g *GitHub) UpdateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	var out *Release
	err := g.api(ctx, "update release "+in.Tag, func(ctx context.Context) error {
		r, _, err := g.c.Repositories.GetReleaseByTag(ctx, g.owner, g.repo, in.Tag)
		if err != nil {
			return err
		}
		_, have := splitLinks(r.GetBody())
		links := append([]Link(nil), have...)
		for _, l := range in.Links {
			found := false
			for _, h := range have {
				found = found || h.Name == l.Name
			}
			if !found {
				links = append(links, l)
			}
		}
		edited, _, err := g.c.Repositories.EditRelease(ctx, g.owner, g.repo, r.GetID(), &github.RepositoryRelease{
			Name: &in.Name, Body: github.String(joinLinks(in.Notes, links)),
		})
		if err != nil {
			return err
		}
		out = ghRelease(edited)
		return nil
	})
	return out, err
}

var _ Forge = (*GitHub)(nil)
