package gitops

import (
	"context"
	"time"
)

// None is the forge for local use: reads return nothing, writes return
// ErrNoForge so that callers list the action as skipped.
type None struct{}

func (None) Kind() string { return "none" }

func (None) SetStatus(context.Context, Status) error { return ErrNoForge }
func (None) SetExternalStatusCheck(context.Context, int, int, string, bool) error {
	return ErrNoForge
}
func (None) FindMergeRequest(context.Context, string, string) (*MergeRequest, error) {
	return nil, nil
}
func (None) CreateMergeRequest(context.Context, MergeRequestInput) (*MergeRequest, error) {
	return nil, ErrNoForge
}
func (None) UpdateMergeRequest(context.Context, int, MergeRequestInput) (*MergeRequest, error) {
	return nil, ErrNoForge
}
func (None) MergedMergeRequests(context.Context, string, time.Time) ([]MergeRequest, error) {
	return nil, nil
}
func (None) IssuesClosedBy(context.Context, int) ([]Issue, error) { return nil, nil }
func (None) CherryPick(context.Context, string, string, string, bool) (string, error) {
	return "", ErrNoForge
}
func (None) UpsertComment(context.Context, CommentTarget, string, string) error { return ErrNoForge }
func (None) ClosedIssues(context.Context, time.Time) ([]Issue, error)           { return nil, nil }
func (None) ListMilestones(context.Context, string) ([]Milestone, error)        { return nil, nil }
func (None) CreateMilestone(context.Context, MilestoneInput) (*Milestone, error) {
	return nil, ErrNoForge
}
func (None) CloseMilestone(context.Context, int) error { return ErrNoForge }
func (None) MilestoneItems(context.Context, int) ([]Issue, []MergeRequest, error) {
	return nil, nil, nil
}
func (None) GetTag(context.Context, string) (*Tag, error) { return nil, nil }
func (None) CreateTag(context.Context, string, string, string) (*Tag, error) {
	return nil, ErrNoForge
}
func (None) GetRelease(context.Context, string) (*Release, error) { return nil, nil }
func (None) CreateRelease(context.Context, ReleaseInput) (*Release, error) {
	return nil, ErrNoForge
}
func (None) UpdateRelease(context.Context, ReleaseInput) (*Release, error) {
	return nil, ErrNoForge
}

var _ Forge = None{}
