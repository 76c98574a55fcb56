package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/pipeline-ci/pipeline/internal/errs"
	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

// GitLab is the Forge of a GitLab project, over the v4 REST API
// (gitlab.com/gitlab-org/api/client-go/v2).
type GitLab struct {
	c     *gitlab.Client
	pid   string
	opts  Options
	retry Retry
}

// NewGitLab returns the GitLab forge for opts.Project at opts.BaseURL.
func NewGitLab(opts Options) (*GitLab, error) {
	r := opts.Retry.withDefaults()
	r.logf = opts.Logf
	hc := opts.HTTPClient
	if hc == nil {
		// Our own client gets Retry.Timeout; a caller's client keeps the
		// timeout (and everything else) it was given.
		hc = cleanhttp.DefaultPooledClient()
		hc.Timeout = r.Timeout
	}
	clientOpts := []gitlab.ClientOptionFunc{
		gitlab.WithBaseURL(opts.BaseURL),
		gitlab.WithHTTPClient(hc),
		gitlab.WithCustomRetry(r.checkRetry),
		gitlab.WithCustomBackoff(r.backoff),
		gitlab.WithCustomRetryMax(r.Attempts - 1),
		gitlab.WithRequestLogHook(func(_ retryablehttp.Logger, req *http.Request, attempt int) {
			if attempt > 0 && opts.Logf != nil {
				opts.Logf("gitlab: retrying %s %s (attempt %d)", req.Method, req.URL.Path, attempt+1)
			}
		}),
	}
	var (
		c   *gitlab.Client
		err error
	)
	if opts.JobToken {
		c, err = gitlab.NewJobClient(opts.Token, clientOpts...)
	} else {
		c, err = gitlab.NewClient(opts.Token, clientOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("gitlab client for %s: %w", opts.BaseURL, err)
	}
	return &GitLab{c: c, pid: opts.Project, opts: opts, retry: r}, nil
}

// Kind is "gitlab".
func (g *GitLab) Kind() string { return "gitlab" }

// api runs one API operation with retries. needsAPIToken says whether
// CI_JOB_TOKEN is refused for it (everything but releases): then it fails
// before any request.
func (g *GitLab) api(ctx context.Context, what string, needsAPIToken bool, f func(ctx context.Context, o gitlab.RequestOptionFunc) error) error {
	if g.opts.Token == "" {
		return noToken("gitlab")
	}
	if needsAPIToken && g.opts.JobToken {
		return jobTokenScope(what)
	}
	err := g.retry.call(ctx, "gitlab: "+what, glTransient, func(ctx context.Context) error { return f(ctx, gitlab.WithContext(ctx)) })
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		if rl, ok := rateLimitOf(er.Response, 0); ok {
			return g.retry.limitErr(err, rl)
		}
	}
	return refused(err, glStatus(err), g.opts.TokenSource, "gitlab", g.pid)
}

// glTransient classifies GitLab API errors for the method-level retry.
func glTransient(err error) (bool, time.Duration) {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) && er.Response != nil && er.Response.Request != nil {
		// 429s and 5xx of safe methods were already retried by the HTTP
		// client; a 5xx on POST was not, because the server may have acted.
		code := er.StatusCode
		if code >= 500 && code != http.StatusNotImplemented && !safeToRepeat(er.Response.Request.Method) {
			return true, 0
		}
	}
	return false, 0
}

func glStatus(err error) int {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode
	}
	return 0
}

func glMessage(err error) string {
	var er *gitlab.ErrorResponse
	if errors.As(err, &er) {
		return er.Message + " " + string(er.Body)
	}
	return err.Error()
}

// glPages fetches every page of a list.
func glPages[T any](ctx context.Context, g *GitLab, what string, needsAPIToken bool, list func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]T, *gitlab.Response, error)) ([]T, error) {
	var all []T
	lo := gitlab.ListOptions{PerPage: 100, Page: 1}
	for {
		var next int64
		err := g.api(ctx, what, needsAPIToken, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
			items, resp, err := list(lo, o)
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
		lo.Page = next
	}
}

// --- statuses ------------------------------------------------------------------------

// SetStatus posts a commit status.
//
// GitLab keeps one pending or running status per name, ref and pipeline and
// moves it through its states; a status that has finished is left alone and
// a new one is made. A move GitLab's state machine refuses (running →
// pending, running or pending → skipped, pending → pending) answers 400
// "Cannot transition status". Then SetStatus reads the status back: when it
// already has the state asked for, nothing was lost and it returns nil;
// otherwise GitLab kept another state, and it returns a *StatusKeptError
// (errors.Is ErrStatusKept) naming it, so that no caller reports the
// status as posted.
//
// In a GitLab CI pipeline (Options.Pipeline), a status on the pipeline's
// own commit goes to that pipeline: its pipeline_id and its ref
// (refs/merge-requests/IID/head in a merge request pipeline, else the
// branch or tag). Sent with the source branch instead, GitLab would open a
// separate external pipeline beside the MR's.
func (g *GitLab) SetStatus(ctx context.Context, s Status) error {
	state, err := glState(s.State)
	if err != nil {
		return err
	}
	if err := checkTargetURL(s.TargetURL, glTargetURLMax); err != nil {
		return err
	}
	s = g.opts.Pipeline.apply(s)
	opt := &gitlab.SetCommitStatusOptions{State: state, Name: &s.Name}
	if s.Ref != "" {
		opt.Ref = &s.Ref
	}
	if s.PipelineID > 0 {
		opt.PipelineID = gitlab.Ptr(int64(s.PipelineID))
	}
	desc := truncate(s.Description, glDescriptionMax)
	if desc != "" {
		opt.Description = &desc
	}
	if s.TargetURL != "" {
		opt.TargetURL = &s.TargetURL
	}
	latest := func(o gitlab.RequestOptionFunc) (*gitlab.CommitStatus, error) {
		lo := &gitlab.GetCommitStatusesOptions{Name: &s.Name, All: gitlab.Ptr(true), ListOptions: gitlab.ListOptions{PerPage: 100}}
		if s.Ref != "" {
			lo.Ref = &s.Ref
		}
		have, _, err := g.c.Commits.GetCommitStatuses(g.pid, s.SHA, lo, o)
		if err != nil {
			return nil, err
		}
		var last *gitlab.CommitStatus
		for _, h := range have {
			if last == nil || h.ID > last.ID {
				last = h
			}
		}
		return last, nil
	}
	retried := false
	return g.api(ctx, "set status "+s.Name+" on "+short(s.SHA), true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		// A finished status posted again is a second entry: after a lost
		// answer, look before posting.
		if retried {
			last, err := latest(o)
			if err != nil {
				return err
			}
			if last != nil && last.Status == s.State && last.Description == desc && last.TargetURL == s.TargetURL {
				return nil
			}
		}
		retried = true
		_, _, err := g.c.Commits.SetCommitStatus(g.pid, s.SHA, opt, o)
		if glStatus(err) == http.StatusBadRequest && strings.Contains(glMessage(err), "Cannot transition status") {
			last, lerr := latest(o)
			if lerr != nil {
				return lerr
			}
			if last != nil && last.Status == s.State {
				return nil // already in that state: nothing to change
			}
			kept := ""
			if last != nil {
				kept = last.Status
			}
			return &StatusKeptError{Name: s.Name, SHA: s.SHA, Wanted: s.State, Kept: kept}
		}
		return err
	})
}

// Status text limits, in characters (runes), as the forges count them.
const (
	glDescriptionMax = 255 // GitLab: description
	glTargetURLMax   = 255 // GitLab: target_url (a longer one is refused)
	ghDescriptionMax = 140 // GitHub: description
)

func glState(s string) (gitlab.BuildStateValue, error) {
	switch s {
	case "pending", "running", "success", "failed", "canceled", "skipped":
		return gitlab.BuildStateValue(s), nil
	}
	return "", statusStateErr(s)
}

// SetExternalStatusCheck answers an external status check of an MR
// (POST /projects/:id/merge_requests/:iid/status_check_responses with sha,
// external_status_check_id and status passed, failed or pending). GitLab
// answers 409 when sha is no longer the MR's head: that is ErrStaleSHA.
func (g *GitLab) SetExternalStatusCheck(ctx context.Context, mr int, checkID int, sha string, status string) error {
	if err := checkStatusValue(status); err != nil {
		return err
	}
	opt := &gitlab.SetProjectMergeRequestExternalStatusCheckStatusOptions{SHA: &sha, ExternalStatusCheckID: gitlab.Ptr(int64(checkID)), Status: &status}
	err := g.api(ctx, fmt.Sprintf("answer status check %d on !%d", checkID, mr), true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		// Answering twice records the same answer again: harmless.
		_, err := g.c.ExternalStatusChecks.SetProjectMergeRequestExternalStatusCheckStatus(g.pid, int64(mr), opt, o)
		return err
	})
	switch glStatus(err) {
	case http.StatusConflict:
		return fmt.Errorf("gitlab: status check %d on !%d at %s: %w (%s)", checkID, mr, short(sha), ErrStaleSHA, glMessage(err))
	case http.StatusNotFound:
		return errs.New(errs.Usage, fmt.Errorf("gitlab: status check %d on !%d: %w", checkID, mr, err),
			"check that the MR exists and that the check id is one of GET /projects/"+g.pid+"/external_status_checks")
	}
	return err
}

// ExternalStatusCheckID returns the id of the project's external status
// check called name (GET /projects/:id/external_status_checks), or an
// error saying which names exist.
func (g *GitLab) ExternalStatusCheckID(ctx context.Context, name string) (int, error) {
	var (
		id    int
		names []string
	)
	err := g.api(ctx, "list external status checks", true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		names, id = nil, 0
		checks, _, err := g.c.ExternalStatusChecks.ListProjectExternalStatusChecks(g.pid, &gitlab.ListProjectExternalStatusChecksOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
		if err != nil {
			return err
		}
		for _, c := range checks {
			names = append(names, c.Name)
			if c.Name == name {
				id = int(c.ID)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, errs.New(errs.Usage, fmt.Errorf("gitlab: project %s has no external status check named %q (it has: %s)", g.pid, name, strings.Join(names, ", ")),
			"add it under Settings > Merge requests > Status checks, or give its id in serve.checks[].id")
	}
	return id, nil
}

// MergeRequestHead returns the MR's head commit and its state (opened,
// merged, closed) as GitLab has them now.
func (g *GitLab) MergeRequestHead(ctx context.Context, mr int) (sha, state string, err error) {
	err = g.api(ctx, fmt.Sprintf("read !%d", mr), true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		m, _, err := g.c.MergeRequests.GetMergeRequest(g.pid, int64(mr), nil, o)
		if err != nil {
			return err
		}
		sha, state = m.SHA, m.State
		return nil
	})
	return sha, state, err
}

// --- merge requests ----------------------------------------------------------------------

func glMR(m *gitlab.BasicMergeRequest) MergeRequest {
	out := MergeRequest{
		Number: int(m.IID), Title: m.Title, Description: m.Description,
		SourceBranch: m.SourceBranch, TargetBranch: m.TargetBranch, State: m.State,
		Labels: append([]string(nil), m.Labels...), WebURL: m.WebURL, SHA: m.SHA,
		MergeCommitSHA: m.MergeCommitSHA, SquashCommitSHA: m.SquashCommitSHA,
	}
	if m.Author != nil {
		out.Author = m.Author.Username
	}
	if m.Milestone != nil {
		out.Milestone = m.Milestone.Title
	}
	if m.MergedAt != nil {
		out.MergedAt = *m.MergedAt
	}
	return out
}

// FindMergeRequest returns the open MR from source into target, or nil.
func (g *GitLab) FindMergeRequest(ctx context.Context, source, target string) (*MergeRequest, error) {
	var found *MergeRequest
	err := g.api(ctx, "find MR "+source+" → "+target, true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		mrs, _, err := g.c.MergeRequests.ListProjectMergeRequests(g.pid, &gitlab.ListProjectMergeRequestsOptions{
			State: gitlab.Ptr("opened"), SourceBranch: &source, TargetBranch: &target,
		}, o)
		if err != nil {
			return err
		}
		if len(mrs) > 0 {
			m := glMR(mrs[0])
			found = &m
		}
		return nil
	})
	return found, err
}

// CreateMergeRequest opens an MR, or returns the open one from the same
// source into the same target (updated to in): a retry never opens two.
func (g *GitLab) CreateMergeRequest(ctx context.Context, in MergeRequestInput) (*MergeRequest, error) {
	if existing, err := g.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch); err != nil || existing != nil {
		if err != nil {
			return nil, err
		}
		return g.UpdateMergeRequest(ctx, existing.Number, in)
	}
	var out *MergeRequest
	conflict := false
	err := g.api(ctx, "create MR "+in.SourceBranch+" → "+in.TargetBranch, true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		// Checked again on every attempt: a lost answer may hide a success.
		if m, err := g.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch); err != nil || m != nil {
			out = m
			return err
		}
		opt := &gitlab.CreateMergeRequestOptions{Title: &in.Title, Description: &in.Description,
			SourceBranch: &in.SourceBranch, TargetBranch: &in.TargetBranch}
		if len(in.Labels) > 0 {
			opt.Labels = gitlab.Ptr(gitlab.LabelOptions(in.Labels))
		}
		if in.MilestoneID > 0 {
			opt.MilestoneID = gitlab.Ptr(int64(in.MilestoneID))
		}
		m, _, err := g.c.MergeRequests.CreateMergeRequest(g.pid, opt, o)
		if glStatus(err) == http.StatusConflict {
			conflict = true
			return nil
		}
		if err != nil {
			return err
		}
		mr := glMR(&m.BasicMergeRequest)
		out = &mr
		return nil
	})
	if err == nil && conflict {
		return g.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch)
	}
	return out, err
}

// UpdateMergeRequest sets the title, description, labels and milestone of an MR.
func (g *GitLab) UpdateMergeRequest(ctx context.Context, number int, in MergeRequestInput) (*MergeRequest, error) {
	opt := &gitlab.UpdateMergeRequestOptions{Title: &in.Title, Description: &in.Description}
	if in.TargetBranch != "" {
		opt.TargetBranch = &in.TargetBranch
	}
	if in.Labels != nil {
		opt.Labels = gitlab.Ptr(gitlab.LabelOptions(in.Labels))
	}
	if in.MilestoneID > 0 {
		opt.MilestoneID = gitlab.Ptr(int64(in.MilestoneID))
	}
	var out *MergeRequest
	err := g.api(ctx, fmt.Sprintf("update MR !%d", number), true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		m, _, err := g.c.MergeRequests.UpdateMergeRequest(g.pid, int64(number), opt, o)
		if err != nil {
			return err
		}
		mr := glMR(&m.BasicMergeRequest)
		out = &mr
		return nil
	})
	return out, err
}

// MergedMergeRequests lists MRs merged into target since the given time.
func (g *GitLab) MergedMergeRequests(ctx context.Context, target string, since time.Time) ([]MergeRequest, error) {
	opt := &gitlab.ListProjectMergeRequestsOptions{State: gitlab.Ptr("merged"), TargetBranch: &target}
	if !since.IsZero() {
		// Merging updates an MR, so updated_after narrows the list safely.
		opt.UpdatedAfter = &since
	}
	mrs, err := glPages(ctx, g, "list merged MRs into "+target, true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		opt.ListOptions = lo
		return g.c.MergeRequests.ListProjectMergeRequests(g.pid, opt, o)
	})
	if err != nil {
		return nil, err
	}
	var out []MergeRequest
	for _, m := range mrs {
		if m.MergedAt != nil && m.MergedAt.Before(since) {
			continue
		}
		out = append(out, glMR(m))
	}
	return out, nil
}

func glIssue(i *gitlab.Issue) Issue {
	out := Issue{Number: int(i.IID), Title: i.Title, State: i.State, Labels: append([]string(nil), i.Labels...), WebURL: i.WebURL}
	if i.Milestone != nil {
		out.Milestone = i.Milestone.Title
	}
	if i.ClosedAt != nil {
		out.ClosedAt = *i.ClosedAt
	}
	return out
}

// IssuesClosedBy lists the issues an MR closes.
func (g *GitLab) IssuesClosedBy(ctx context.Context, mr int) ([]Issue, error) {
	issues, err := glPages(ctx, g, fmt.Sprintf("issues closed by !%d", mr), true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
		return g.c.MergeRequests.GetIssuesClosedOnMerge(g.pid, int64(mr), &gitlab.GetIssuesClosedOnMergeOptions{ListOptions: lo}, o)
	})
	out := make([]Issue, 0, len(issues))
	for _, i := range issues {
		out = append(out, glIssue(i))
	}
	return out, err
}

// glErrorCode is the error_code of a GitLab error answer ("" when none).
func glErrorCode(err error) string {
	var er *gitlab.ErrorResponse
	if !errors.As(err, &er) {
		return ""
	}
	var body struct {
		ErrorCode string `json:"error_code"`
	}
	_ = json.Unmarshal(er.Body, &body)
	return body.ErrorCode
}

// CherryPick picks sha onto branch with GitLab's cherry-pick API. Before
// picking it looks at branch's recent commits for a "(cherry picked from
// commit SHA)" line, so a retry returns the earlier pick instead of making a
// second one; a custom message therefore always gets that line. A conflict
// returns a *ConflictError; a pick that would change nothing (the branch
// already has the changes) returns an error wrapping ErrEmptyPick.
func (g *GitLab) CherryPick(ctx context.Context, sha, branch, message string, dryRun bool) (string, error) {
	line := "(cherry picked from commit " + sha + ")"
	if message != "" && !strings.Contains(message, line) {
		message = strings.TrimRight(message, "\n") + "\n\n" + line
	}
	var picked string
	err := g.api(ctx, "cherry-pick "+short(sha)+" onto "+branch, true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		if !dryRun {
			commits, _, err := g.c.Commits.ListCommits(g.pid, &gitlab.ListCommitsOptions{RefName: &branch, ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
			if err != nil {
				return err
			}
			for _, c := range commits {
				if strings.Contains(c.Message, line) {
					picked = c.ID
					return nil
				}
			}
		}
		opt := &gitlab.CherryPickCommitOptions{Branch: &branch}
		if dryRun {
			opt.DryRun = gitlab.Ptr(true)
		}
		if message != "" {
			opt.Message = &message
		}
		c, _, err := g.c.Commits.CherryPickCommit(g.pid, sha, opt, o)
		if glStatus(err) == http.StatusBadRequest {
			// GitLab says why in error_code: "empty" (the branch already
			// has these changes) or "conflict".
			switch glErrorCode(err) {
			case "empty":
				return fmt.Errorf("gitlab: cherry-pick %s onto %s: %w", short(sha), branch, ErrEmptyPick)
			case "conflict":
				return &ConflictError{SHA: sha, Files: []string{"(reported by GitLab: " + strings.TrimSpace(glMessage(err)) + ")"}}
			}
		}
		if err != nil {
			return err
		}
		if !dryRun && c != nil {
			picked = c.ID
		}
		return nil
	})
	return picked, err
}

// --- comments -------------------------------------------------------------------------------

// Marker is the hidden line that identifies our comment NAME.
func Marker(name string) string { return "<!-- pipeline:" + name + " -->" }

// withMarker puts the marker on the first line of body.
func withMarker(name, body string) string { return Marker(name) + "\n" + body }

// UpsertComment keeps one comment of ours per target and marker name.
func (g *GitLab) UpsertComment(ctx context.Context, t CommentTarget, marker, body string) error {
	full := withMarker(marker, body)
	switch {
	case t.MergeRequest > 0 || t.Issue > 0:
		return g.upsertNote(ctx, t, marker, full)
	case t.Commit != "":
		return g.upsertCommitNote(ctx, t.Commit, marker, full)
	}
	return fmt.Errorf("comment %s: no target (MR, issue or commit)", marker)
}

func (g *GitLab) upsertNote(ctx context.Context, t CommentTarget, marker, full string) error {
	what := fmt.Sprintf("comment on !%d", t.MergeRequest)
	if t.MergeRequest == 0 {
		what = fmt.Sprintf("comment on #%d", t.Issue)
	}
	find := func() (*gitlab.Note, error) {
		notes, err := glPages(ctx, g, what, true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
			if t.MergeRequest > 0 {
				return g.c.Notes.ListMergeRequestNotes(g.pid, int64(t.MergeRequest), &gitlab.ListMergeRequestNotesOptions{ListOptions: lo}, o)
			}
			return g.c.Notes.ListIssueNotes(g.pid, int64(t.Issue), &gitlab.ListIssueNotesOptions{ListOptions: lo}, o)
		})
		if err != nil {
			return nil, err
		}
		for _, n := range notes {
			if !n.System && strings.Contains(n.Body, Marker(marker)) {
				return n, nil
			}
		}
		return nil, nil
	}
	return g.api(ctx, what, true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		n, err := find()
		if err != nil {
			return err
		}
		switch {
		case n != nil && n.Body == full:
			return nil
		case n != nil && t.MergeRequest > 0:
			_, _, err = g.c.Notes.UpdateMergeRequestNote(g.pid, int64(t.MergeRequest), n.ID, &gitlab.UpdateMergeRequestNoteOptions{Body: &full}, o)
		case n != nil:
			_, _, err = g.c.Notes.UpdateIssueNote(g.pid, int64(t.Issue), n.ID, &gitlab.UpdateIssueNoteOptions{Body: &full}, o)
		case t.MergeRequest > 0:
			_, _, err = g.c.Notes.CreateMergeRequestNote(g.pid, int64(t.MergeRequest), &gitlab.CreateMergeRequestNoteOptions{Body: &full}, o)
		default:
			_, _, err = g.c.Notes.CreateIssueNote(g.pid, int64(t.Issue), &gitlab.CreateIssueNoteOptions{Body: &full}, o)
		}
		return err
	})
}

func (g *GitLab) upsertCommitNote(ctx context.Context, sha, marker, full string) error {
	what := "comment on commit " + short(sha)
	return g.api(ctx, what, true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		discs, err := glPages(ctx, g, what, true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.Discussion, *gitlab.Response, error) {
			return g.c.Discussions.ListCommitDiscussions(g.pid, sha, &gitlab.ListCommitDiscussionsOptions{ListOptions: lo}, o)
		})
		if err != nil {
			return err
		}
		for _, d := range discs {
			for _, n := range d.Notes {
				if strings.Contains(n.Body, Marker(marker)) {
					if n.Body == full {
						return nil
					}
					_, _, err := g.c.Discussions.UpdateCommitDiscussionNote(g.pid, sha, d.ID, n.ID, &gitlab.UpdateCommitDiscussionNoteOptions{Body: &full}, o)
					return err
				}
			}
		}
		_, _, err = g.c.Discussions.CreateCommitDiscussion(g.pid, sha, &gitlab.CreateCommitDiscussionOptions{Body: &full}, o)
		return err
	})
}

// --- issues and milestones --------------------------------------------------------------------

func glMilestone(m *gitlab.Milestone) Milestone {
	out := Milestone{ID: int(m.ID), Title: m.Title, State: m.State, WebURL: m.WebURL}
	if m.StartDate != nil {
		out.StartDate = time.Time(*m.StartDate)
	}
	if m.DueDate != nil {
		out.DueDate = time.Time(*m.DueDate)
	}
	return out
}

// ListMilestones lists milestones: state "active" (or "open"), "closed", or
// "" for all.
func (g *GitLab) ListMilestones(ctx context.Context, state string) ([]Milestone, error) {
	opt := &gitlab.ListMilestonesOptions{}
	switch state {
	case "open", "active":
		opt.State = gitlab.Ptr("active")
	case "closed":
		opt.State = gitlab.Ptr("closed")
	}
	return g.listMilestones(ctx, opt)
}

func (g *GitLab) listMilestones(ctx context.Context, opt *gitlab.ListMilestonesOptions) ([]Milestone, error) {
	ms, err := glPages(ctx, g, "list milestones", true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.Milestone, *gitlab.Response, error) {
		opt.ListOptions = lo
		return g.c.Milestones.ListMilestones(g.pid, opt, o)
	})
	out := make([]Milestone, 0, len(ms))
	for _, m := range ms {
		out = append(out, glMilestone(m))
	}
	return out, err
}

// CreateMilestone creates the milestone or returns the one with that title.
func (g *GitLab) CreateMilestone(ctx context.Context, in MilestoneInput) (*Milestone, error) {
	list := func() ([]Milestone, error) {
		return g.listMilestones(ctx, &gitlab.ListMilestonesOptions{Title: &in.Title})
	}
	retried := func(try func(ctx context.Context) error) error {
		return g.api(ctx, "create milestone "+in.Title, true, func(ctx context.Context, _ gitlab.RequestOptionFunc) error { return try(ctx) })
	}
	return createMilestone(in.Title, list, retried, func(ctx context.Context) (*Milestone, bool, error) {
		opt := &gitlab.CreateMilestoneOptions{Title: &in.Title}
		if in.Description != "" {
			opt.Description = &in.Description
		}
		if !in.StartDate.IsZero() {
			opt.StartDate = gitlab.Ptr(gitlab.ISOTime(in.StartDate))
		}
		if !in.DueDate.IsZero() {
			opt.DueDate = gitlab.Ptr(gitlab.ISOTime(in.DueDate))
		}
		created, _, err := g.c.Milestones.CreateMilestone(g.pid, opt, gitlab.WithContext(ctx))
		if err != nil {
			return nil, glStatus(err) == http.StatusBadRequest && strings.Contains(glMessage(err), "already"), err
		}
		m := glMilestone(created)
		return &m, false, nil
	})
}

// CloseMilestone closes a milestone (closing a closed one is fine).
func (g *GitLab) CloseMilestone(ctx context.Context, id int) error {
	return g.api(ctx, fmt.Sprintf("close milestone %d", id), true, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		_, _, err := g.c.Milestones.UpdateMilestone(g.pid, int64(id), &gitlab.UpdateMilestoneOptions{StateEvent: gitlab.Ptr("close")}, o)
		return err
	})
}

// MilestoneItems lists the issues and MRs of a milestone.
func (g *GitLab) MilestoneItems(ctx context.Context, id int) ([]Issue, []MergeRequest, error) {
	what := fmt.Sprintf("items of milestone %d", id)
	issues, err := glPages(ctx, g, what, true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.Issue, *gitlab.Response, error) {
		return g.c.Milestones.GetMilestoneIssues(g.pid, int64(id), &gitlab.GetMilestoneIssuesOptions{ListOptions: lo}, o)
	})
	if err != nil {
		return nil, nil, err
	}
	mrs, err := glPages(ctx, g, what, true, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
		return g.c.Milestones.GetMilestoneMergeRequests(g.pid, int64(id), &gitlab.GetMilestoneMergeRequestsOptions{ListOptions: lo}, o)
	})
	if err != nil {
		return nil, nil, err
	}
	var is []Issue
	for _, i := range issues {
		is = append(is, glIssue(i))
	}
	var ms []MergeRequest
	for _, m := range mrs {
		ms = append(ms, glMR(m))
	}
	return is, ms, nil
}

// --- tags and releases ------------------------------------------------------------------------

func glRelease(r *gitlab.Release) *Release {
	out := &Release{Tag: r.TagName, Name: r.Name, Notes: r.Description, WebURL: r.Links.Self}
	for _, l := range r.Assets.Links {
		out.Links = append(out.Links, Link{Name: l.Name, URL: l.URL})
	}
	return out
}

// GetRelease returns the release of tag, or nil. CI_JOB_TOKEN may do this.
func (g *GitLab) GetRelease(ctx context.Context, tag string) (*Release, error) {
	var out *Release
	err := g.api(ctx, "get release "+tag, false, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		r, _, err := g.c.Releases.GetRelease(g.pid, tag, o)
		if glStatus(err) == http.StatusNotFound || glStatus(err) == http.StatusForbidden && g.opts.JobToken {
			out = nil
			return nil
		}
		if err != nil {
			return err
		}
		out = glRelease(r)
		return nil
	})
	return out, err
}

// CreateRelease creates the release (and the tag at in.Ref when missing),
// or brings an existing one up to date with in. CI_JOB_TOKEN may do this.
func (g *GitLab) CreateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	retried := func(try func(ctx context.Context) error) error {
		return g.api(ctx, "create release "+in.Tag, false, func(ctx context.Context, _ gitlab.RequestOptionFunc) error { return try(ctx) })
	}
	return createRelease(ctx, g, in, retried, func(ctx context.Context) (bool, error) {
		opt := &gitlab.CreateReleaseOptions{TagName: &in.Tag, Name: &in.Name, Description: &in.Notes}
		if in.Ref != "" {
			opt.Ref = &in.Ref
		}
		if len(in.Links) > 0 {
			assets := &gitlab.ReleaseAssetsOptions{}
			for _, l := range in.Links {
				assets.Links = append(assets.Links, &gitlab.ReleaseAssetLinkOptions{Name: gitlab.Ptr(l.Name), URL: gitlab.Ptr(l.URL)})
			}
			opt.Assets = assets
		}
		_, _, err := g.c.Releases.CreateRelease(g.pid, opt, gitlab.WithContext(ctx))
		return glStatus(err) == http.StatusConflict, err
	})
}

// UpdateRelease sets the name and notes of a release and adds the links it
// lacks (by name). CI_JOB_TOKEN may do this.
func (g *GitLab) UpdateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	err := g.api(ctx, "update release "+in.Tag, false, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
		_, _, err := g.c.Releases.UpdateRelease(g.pid, in.Tag, &gitlab.UpdateReleaseOptions{Name: &in.Name, Description: &in.Notes}, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(in.Links) > 0 {
		have, err := glPages(ctx, g, "list links of release "+in.Tag, false, func(lo gitlab.ListOptions, o gitlab.RequestOptionFunc) ([]*gitlab.ReleaseLink, *gitlab.Response, error) {
			return g.c.ReleaseLinks.ListReleaseLinks(g.pid, in.Tag, &gitlab.ListReleaseLinksOptions{ListOptions: lo}, o)
		})
		if err != nil {
			return nil, err
		}
		names := map[string]bool{}
		for _, l := range have {
			names[l.Name] = true
		}
		for _, l := range in.Links {
			if names[l.Name] {
				continue
			}
			err := g.api(ctx, "add link "+l.Name+" to release "+in.Tag, false, func(ctx context.Context, o gitlab.RequestOptionFunc) error {
				_, _, err := g.c.ReleaseLinks.CreateReleaseLink(g.pid, in.Tag, &gitlab.CreateReleaseLinkOptions{Name: gitlab.Ptr(l.Name), URL: gitlab.Ptr(l.URL)}, o)
				// "has already been taken": a lost answer to our own earlier try.
				if glStatus(err) == http.StatusBadRequest && strings.Contains(glMessage(err), "already been taken") {
					return nil
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return g.GetRelease(ctx, in.Tag)
}

// truncate cuts s to at most n characters (runes, never inside a UTF-8
// sequence), ending it with "…" when it was cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

var _ Forge = (*GitLab)(nil)
