package gitops

import (
	"context"
	"fmt"
	"time"
)

// None is the forge for local use (forge.type none, or no CI forge found).
// Reads answer "nothing there" so that everything that needs no server
// still works; writes do nothing and return an error wrapping ErrNoForge
// that names the action ("create tag v1.2.0: no forge configured"), so that
// callers list it as skipped:
//
//	if _, err := env.Forge.CreateRelease(ctx, in); errors.Is(err, gitops.ErrNoForge) {
//		skipped = append(skipped, err.Error())
//	}
type None struct{}

// Kind is "none".
func (None) Kind() string { return "none" }

func skip(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrNoForge)...)
}

// Skipped reports whether err only says the forge action was skipped
// because there is no forge, and returns the action's description.
func Skipped(err error) (string, bool) {
	if err == nil || !isNoForge(err) {
		return "", false
	}
	return err.Error(), true
}

func (None) SetStatus(_ context.Context, s Status) error {
	return skip("set status %s=%s on %s", s.Name, s.State, short(s.SHA))
}
func (None) SetExternalStatusCheck(_ context.Context, mr, check int, _ string, status string) error {
	return skip("answer status check %d on !%d (%s)", check, mr, status)
}
func (None) FindMergeRequest(context.Context, string, string) (*MergeRequest, error) {
	return nil, nil
}
func (None) CreateMergeRequest(_ context.Context, in MergeRequestInput) (*MergeRequest, error) {
	return nil, skip("open merge request %s → %s %q", in.SourceBranch, in.TargetBranch, in.Title)
}
func (None) UpdateMergeRequest(_ context.Context, n int, _ MergeRequestInput) (*MergeRequest, error) {
	return nil, skip("update merge request !%d", n)
}
func (None) MergedMergeRequests(context.Context, string, time.Time) ([]MergeRequest, error) {
	return nil, nil
}
func (None) IssuesClosedBy(context.Context, int) ([]Issue, error) { return nil, nil }
func (None) CherryPick(_ context.Context, sha, branch, _ string, _ bool) (string, error) {
	return "", skip("cherry-pick %s onto %s with the forge API", short(sha), branch)
}
func (None) UpsertComment(_ context.Context, t CommentTarget, marker, _ string) error {
	switch {
	case t.MergeRequest > 0:
		return skip("comment %s on !%d", marker, t.MergeRequest)
	case t.Issue > 0:
		return skip("comment %s on #%d", marker, t.Issue)
	}
	return skip("comment %s on commit %s", marker, short(t.Commit))
}
func (None) ListMilestones(context.Context, string) ([]Milestone, error) { return nil, nil }
func (None) CreateMilestone(_ context.Context, in MilestoneInput) (*Milestone, error) {
	return nil, skip("create milestone %s", in.Title)
}
func (None) CloseMilestone(_ context.Context, id int) error { return skip("close milestone %d", id) }
func (None) MilestoneItems(context.Context, int) ([]Issue, []MergeRequest, error) {
	return nil, nil, nil
}
func (None) GetRelease(context.Context, string) (*Release, error) { return nil, nil }
func (None) CreateRelease(_ context.Context, in ReleaseInput) (*Release, error) {
	return nil, skip("create release %s", in.Tag)
}
func (None) UpdateRelease(_ context.Context, in ReleaseInput) (*Release, error) {
	return nil, skip("update release %s", in.Tag)
}

var _ Forge = None{}
