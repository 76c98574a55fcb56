package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a Forge that keeps every text it is asked to send.
type recorder struct {
	None
	sent []string
}

func (r *recorder) keep(v ...any) { r.sent = append(r.sent, fmt.Sprintf("%+v", v)) }

func (r *recorder) SetStatus(_ context.Context, s Status) error { r.keep(s); return nil }
func (r *recorder) CreateMergeRequest(_ context.Context, in MergeRequestInput) (*MergeRequest, error) {
	r.keep(in)
	return &MergeRequest{}, nil
}
func (r *recorder) UpdateMergeRequest(_ context.Context, n int, in MergeRequestInput) (*MergeRequest, error) {
	r.keep(n, in)
	return &MergeRequest{}, nil
}
func (r *recorder) CherryPick(_ context.Context, sha, branch, message string, dry bool) (string, error) {
	r.keep(sha, branch, message, dry)
	return "", nil
}
func (r *recorder) UpsertComment(_ context.Context, t CommentTarget, marker, body string) error {
	r.keep(t, marker, body)
	return nil
}
func (r *recorder) CreateMilestone(_ context.Context, in MilestoneInput) (*Milestone, error) {
	r.keep(in)
	return &Milestone{}, nil
}
func (r *recorder) CreateRelease(_ context.Context, in ReleaseInput) (*Release, error) {
	r.keep(in)
	return &Release{}, nil
}
func (r *recorder) UpdateRelease(_ context.Context, in ReleaseInput) (*Release, error) {
	r.keep(in)
	return &Release{}, nil
}

// TestMaskedMasksEveryText: each write of a Masked forge sends its texts
// through the mask; the caller's values are left as they were.
func TestMaskedMasksEveryText(t *testing.T) {
	const secret = "glpat-MaskMe0001"
	mask := func(s string) string { return strings.ReplaceAll(s, secret, "[MASKED]") }
	rec := &recorder{}
	f := Masked(rec, mask)
	if Masked(f, mask).(*masked).Forge != rec {
		t.Error("Masked of a masked forge wraps it twice")
	}
	ctx := context.Background()
	s := "text " + secret
	links := []Link{{Name: s, URL: "https://x.example/?t=" + secret}}
	f.SetStatus(ctx, Status{SHA: "abc", Name: s, Description: s, TargetURL: "https://x.example/?t=" + secret})
	f.CreateMergeRequest(ctx, MergeRequestInput{Title: s, Description: s})
	f.UpdateMergeRequest(ctx, 3, MergeRequestInput{Title: s, Description: s})
	f.CherryPick(ctx, "abc", "master", s, false)
	f.UpsertComment(ctx, CommentTarget{MergeRequest: 1}, "m", s)
	f.CreateMilestone(ctx, MilestoneInput{Title: s, Description: s})
	f.CreateRelease(ctx, ReleaseInput{Tag: "v1", Name: s, Notes: s, Links: links})
	f.UpdateRelease(ctx, ReleaseInput{Tag: "v1", Name: s, Notes: s, Links: links})
	if len(rec.sent) != 8 {
		t.Fatalf("%d writes reached the forge, want 8", len(rec.sent))
	}
	for _, sent := range rec.sent {
		if strings.Contains(sent, secret) || !strings.Contains(sent, "[MASKED]") {
			t.Errorf("sent unmasked: %s", sent)
		}
	}
	if links[0].Name != s {
		t.Error("the caller's links were changed")
	}
	// The GitLab-only calls: ErrUnsupported for a forge without them.
	if _, err := f.(interface {
		ExternalStatusCheckID(context.Context, string) (int, error)
	}).ExternalStatusCheckID(ctx, "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ExternalStatusCheckID on none: %v", err)
	}
}

// Masking changes no capability: a masked none forge still writes nothing,
// a masked GitLab still has external status checks.
func TestMaskedKeepsCapabilities(t *testing.T) {
	mask := func(s string) string { return s }
	if Can(Masked(None{}, mask)).Writes {
		t.Error("masked none forge says it writes")
	}
	if c := Can(Masked(&GitLab{}, mask)); !c.Writes || !c.ExternalStatusChecks || c.Web.MergeRequest == "" {
		t.Errorf("masked GitLab: %+v", c)
	}
}
