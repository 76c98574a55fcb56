package gitops

import (
	"context"
	"fmt"
)

// Masked returns f with every text it sends to the server passed through
// mask first (the log's secret masker): comment bodies, commit status
// descriptions and links, merge request titles and descriptions, release
// names, notes and links, tag and cherry-pick messages, milestone titles
// and descriptions. The binary wraps the forge it opens, so no stage can
// forget to mask what it posts. Reads pass through unchanged.
//
// The result also answers the GitLab-only calls (ExternalStatusCheckID,
// MergeRequestHead) when f does, and says ErrUnsupported otherwise.
func Masked(f Forge, mask func(string) string) Forge {
	if f == nil || mask == nil {
		return f
	}
	if m, ok := f.(*masked); ok {
		f = m.Forge // one layer: the newest masker knows every secret the older did
	}
	return &masked{Forge: f, mask: mask}
}

// masked is the Forge that Masked returns; embedding forwards every read.
type masked struct {
	Forge
	mask func(string) string
}

func (m *masked) SetStatus(ctx context.Context, s Status) error {
	s.Name, s.Description, s.TargetURL = m.mask(s.Name), m.mask(s.Description), m.mask(s.TargetURL)
	return m.Forge.SetStatus(ctx, s)
}

func (m *masked) CreateMergeRequest(ctx context.Context, in MergeRequestInput) (*MergeRequest, error) {
	return m.Forge.CreateMergeRequest(ctx, m.mergeRequest(in))
}

func (m *masked) UpdateMergeRequest(ctx context.Context, number int, in MergeRequestInput) (*MergeRequest, error) {
	return m.Forge.UpdateMergeRequest(ctx, number, m.mergeRequest(in))
}

func (m *masked) mergeRequest(in MergeRequestInput) MergeRequestInput {
	in.Title, in.Description = m.mask(in.Title), m.mask(in.Description)
	return in
}

func (m *masked) CherryPick(ctx context.Context, sha, branch, message string, dryRun bool) (string, error) {
	return m.Forge.CherryPick(ctx, sha, branch, m.mask(message), dryRun)
}

func (m *masked) UpsertComment(ctx context.Context, target CommentTarget, marker, body string) error {
	return m.Forge.UpsertComment(ctx, target, marker, m.mask(body))
}

func (m *masked) CreateMilestone(ctx context.Context, in MilestoneInput) (*Milestone, error) {
	in.Title, in.Description = m.mask(in.Title), m.mask(in.Description)
	return m.Forge.CreateMilestone(ctx, in)
}

func (m *masked) CreateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	return m.Forge.CreateRelease(ctx, m.release(in))
}

func (m *masked) UpdateRelease(ctx context.Context, in ReleaseInput) (*Release, error) {
	return m.Forge.UpdateRelease(ctx, m.release(in))
}

func (m *masked) release(in ReleaseInput) ReleaseInput {
	in.Name, in.Notes = m.mask(in.Name), m.mask(in.Notes)
	links := make([]Link, len(in.Links))
	for i, l := range in.Links {
		links[i] = Link{Name: m.mask(l.Name), URL: m.mask(l.URL)}
	}
	in.Links = links
	return in
}

// ExternalStatusCheckID is GitLab's lookup of a check by name.
func (m *masked) ExternalStatusCheckID(ctx context.Context, name string) (int, error) {
	f, ok := m.Forge.(interface {
		ExternalStatusCheckID(ctx context.Context, name string) (int, error)
	})
	if !ok {
		return 0, fmt.Errorf("%s: find external status check %q: %w", m.Kind(), name, ErrUnsupported)
	}
	return f.ExternalStatusCheckID(ctx, name)
}

// MergeRequestHead is an MR's head commit and state (GitLab).
func (m *masked) MergeRequestHead(ctx context.Context, mr int) (sha, state string, err error) {
	f, ok := m.Forge.(interface {
		MergeRequestHead(ctx context.Context, mr int) (string, string, error)
	})
	if !ok {
		return "", "", fmt.Errorf("%s: head of !%d: %w", m.Kind(), mr, ErrUnsupported)
	}
	return f.MergeRequestHead(ctx, mr)
}

// Capabilities are the wrapped forge's: masking changes no capability.
func (m *masked) Capabilities() Capabilities { return Can(m.Forge) }
