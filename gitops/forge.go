// Package gitops is the project's contact with version control: the git CLI
// on real repositories (git.go), an in-process reader of the refs, tags and
// objects that are cheap to read without it (files.go), and the forges that
// host them, GitLab and GitHub, behind one Forge interface, plus a "none"
// forge for local use.
// gitops/forgetest is a fake forge server that the real client libraries
// talk to over HTTP in tests.
package gitops

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Forge is everything the stages ask of a code-hosting server. It is the
// union of small interfaces so that a function can ask for only the part it
// uses.
type Forge interface {
	// Kind is "gitlab", "github" or "none".
	Kind() string
	Statuses
	MergeRequests
	Comments
	Milestones
	Releases
}

// Statuses posts commit statuses (GitLab statuses/:sha, GitHub statuses) and
// GitLab external status check responses.
type Statuses interface {
	SetStatus(ctx context.Context, s Status) error
	// SetExternalStatusCheck answers a GitLab external status check on an MR:
	// status is passed, failed or pending; sha must be the MR's head
	// (ErrStaleSHA otherwise). Other forges return ErrUnsupported.
	SetExternalStatusCheck(ctx context.Context, mr int, checkID int, sha string, status string) error
}

// MergeRequests reads and writes merge requests (pull requests on GitHub).
type MergeRequests interface {
	// FindMergeRequest returns the open MR from source into target, or nil.
	FindMergeRequest(ctx context.Context, source, target string) (*MergeRequest, error)
	CreateMergeRequest(ctx context.Context, in MergeRequestInput) (*MergeRequest, error)
	UpdateMergeRequest(ctx context.Context, number int, in MergeRequestInput) (*MergeRequest, error)
	// MergedMergeRequests lists MRs merged into target since the given time
	// (zero: all), with their merge/squash commit shas so callers can match
	// them to a commit range.
	MergedMergeRequests(ctx context.Context, target string, since time.Time) ([]MergeRequest, error)
	// IssuesClosedBy lists the issues an MR closes (closing keywords).
	IssuesClosedBy(ctx context.Context, mr int) ([]Issue, error)
	// CherryPick uses the forge's cherry-pick API (GitLab) to pick sha onto
	// branch; dryRun asks the server to check without committing. Forges
	// without such an API return ErrUnsupported.
	CherryPick(ctx context.Context, sha, branch, message string, dryRun bool) (string, error)
}

// Comments keeps one comment of ours per target, found by a hidden marker,
// updated in place on every run instead of adding a new one.
type Comments interface {
	UpsertComment(ctx context.Context, target CommentTarget, marker, body string) error
}

// Milestones rotates milestones.
type Milestones interface {
	ListMilestones(ctx context.Context, state string) ([]Milestone, error)
	// CreateMilestone creates the milestone, or returns the existing one of
	// the same title: a retry never makes two.
	CreateMilestone(ctx context.Context, in MilestoneInput) (*Milestone, error)
	CloseMilestone(ctx context.Context, id int) error
	// MilestoneItems lists the issues and MRs of a milestone.
	MilestoneItems(ctx context.Context, id int) ([]Issue, []MergeRequest, error)
}

// Releases manages forge releases. Tags are pushed with git (Git.Tag,
// Git.Push); a release whose tag is missing makes it at ReleaseInput.Ref.
type Releases interface {
	// GetRelease returns the release of a tag or nil when there is none.
	GetRelease(ctx context.Context, tag string) (*Release, error)
	// CreateRelease creates the release, or brings an existing one up to
	// date with in (UpdateRelease): a retry never makes two.
	CreateRelease(ctx context.Context, in ReleaseInput) (*Release, error)
	// UpdateRelease sets the name and notes of an existing release and
	// adds the links it lacks (by name).
	UpdateRelease(ctx context.Context, in ReleaseInput) (*Release, error)
}

// Errors a Forge may return; test with errors.Is.
var (
	// ErrUnsupported: this forge has no such API.
	ErrUnsupported = errors.New("not supported by this forge")
	// ErrNoForge: the "none" forge was asked to write; callers list the
	// action as skipped.
	ErrNoForge = errors.New("no forge configured")
	// ErrJobTokenScope: only CI_JOB_TOKEN is available and this call needs an
	// API token.
	ErrJobTokenScope = errors.New("CI_JOB_TOKEN cannot make this call")
	// ErrStaleSHA: an external status check was answered for a commit that
	// is no longer the merge request's head (GitLab's 409).
	ErrStaleSHA = errors.New("sha is no longer the merge request's head")
	// ErrStatusKept: the forge refused to move a commit status to the state
	// asked for and kept the one it had (GitLab's "Cannot transition
	// status", e.g. running → pending); see *StatusKeptError.
	ErrStatusKept = errors.New("the forge kept the status's previous state")
)

// StatusKeptError says which state a commit status kept when the forge
// refused the one asked for.
type StatusKeptError struct {
	Name, SHA string
	Wanted    string
	Kept      string // "" when the forge shows no status of that name
}

func (e *StatusKeptError) Error() string {
	kept := e.Kept
	if kept == "" {
		kept = "its previous state"
	}
	return fmt.Sprintf("status %s on %s stays %s: the forge refuses the move to %s", e.Name, short(e.SHA), kept, e.Wanted)
}

// Is makes errors.Is(err, ErrStatusKept) true.
func (e *StatusKeptError) Is(target error) bool { return target == ErrStatusKept }

// checkTargetURL refuses a status link that is not an absolute http(s)
// URL with a host, or is longer than max characters (0: no limit): the
// forges refuse such a status whole.
func checkTargetURL(raw string, max int) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errs.New(errs.Usage, fmt.Errorf("status target URL %q is not an http(s) URL", RedactURL(raw)),
			"give --target-url (or the CI job URL) as https://host/path")
	}
	if max > 0 && utf8.RuneCountInString(raw) > max {
		return errs.New(errs.Usage, fmt.Errorf("status target URL is %d characters long; the forge takes at most %d", utf8.RuneCountInString(raw), max),
			"give a shorter --target-url")
	}
	return nil
}

// ExternalCheckStates are the statuses an external status check takes.
var ExternalCheckStates = []string{"passed", "failed", "pending"}

func checkStatusValue(status string) error {
	for _, s := range ExternalCheckStates {
		if s == status {
			return nil
		}
	}
	return errs.New(errs.Usage, fmt.Errorf("external status check status %q", status), "use passed, failed or pending")
}

// Status is a commit status.
type Status struct {
	SHA         string
	Ref         string
	Name        string // context on GitHub
	State       string // pending, running, success, failed, canceled
	Description string
	TargetURL   string
	// PipelineID is the GitLab pipeline the status belongs to (0: the one
	// Options.Pipeline names when SHA is its commit, else GitLab's choice).
	PipelineID int
}

// MergeRequest is a GitLab merge request or a GitHub pull request.
type MergeRequest struct {
	Number          int // IID on GitLab, number on GitHub
	Title           string
	Description     string
	SourceBranch    string
	TargetBranch    string
	State           string // opened, merged, closed
	Author          string
	Labels          []string
	Milestone       string
	WebURL          string
	SHA             string // head
	MergeCommitSHA  string
	SquashCommitSHA string
	MergedAt        time.Time
}

// MergeRequestInput creates or updates a merge request.
type MergeRequestInput struct {
	Title        string
	Description  string
	SourceBranch string
	TargetBranch string
	Labels       []string
	MilestoneID  int
}

// Issue is a forge issue.
type Issue struct {
	Number    int // IID on GitLab
	Title     string
	State     string
	Labels    []string
	Milestone string
	WebURL    string
	ClosedAt  time.Time
}

// CommentTarget says where a comment goes: an MR, an issue or a commit.
type CommentTarget struct {
	MergeRequest int
	Issue        int
	Commit       string
}

// Milestone is a forge milestone.
type Milestone struct {
	ID        int // GitLab id, GitHub number: what the API calls take
	Title     string
	State     string // active/open, closed
	StartDate time.Time
	DueDate   time.Time
	WebURL    string
}

// MilestoneInput creates a milestone.
type MilestoneInput struct {
	Title       string
	Description string
	StartDate   time.Time
	DueDate     time.Time
}

// Release is a forge release attached to a tag.
type Release struct {
	Tag    string
	Name   string
	Notes  string
	WebURL string
	Links  []Link
}

// ReleaseInput creates or updates a release.
type ReleaseInput struct {
	Tag   string
	Name  string
	Notes string
	Ref   string // commit to tag when the tag does not exist yet
	Links []Link
}

// Link is a release asset link.
type Link struct {
	Name string
	URL  string
}
