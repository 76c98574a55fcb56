package gitops

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The none forge: reads find nothing, every write is skipped with a
// message naming it.
func TestNoneSkipsWritesAndNamesThem(t *testing.T) {
	ctx := context.Background()
	var f Forge = None{}
	writes := map[string]error{
		"set status pipeline/build=success": f.SetStatus(ctx, Status{Name: "pipeline/build", State: "success", SHA: "abc"}),
		"answer status check 3 on !1":       f.SetExternalStatusCheck(ctx, 1, 3, "abc", "passed"),
		"comment promote on !4":             f.UpsertComment(ctx, CommentTarget{MergeRequest: 4}, "promote", "x"),
		"comment culprit on commit abc":     f.UpsertComment(ctx, CommentTarget{Commit: "abc"}, "culprit", "x"),
		"close milestone 2":                 f.CloseMilestone(ctx, 2),
	}
	_, writes["open merge request release → main"] = f.CreateMergeRequest(ctx, MergeRequestInput{SourceBranch: "release", TargetBranch: "main"})
	_, writes["update merge request !4"] = f.UpdateMergeRequest(ctx, 4, MergeRequestInput{})
	_, writes["cherry-pick abc onto master"] = f.CherryPick(ctx, "abc", "master", "", false)
	_, writes["create milestone 2026.48"] = f.CreateMilestone(ctx, MilestoneInput{Title: "2026.48"})
	_, writes["create release v1.2.0"] = f.CreateRelease(ctx, ReleaseInput{Tag: "v1.2.0"})
	_, writes["update release v1.2.0"] = f.UpdateRelease(ctx, ReleaseInput{Tag: "v1.2.0"})
	for want, err := range writes {
		msg, skipped := Skipped(err)
		if !errors.Is(err, ErrNoForge) || !skipped || !strings.HasPrefix(msg, want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	if mr, err := f.FindMergeRequest(ctx, "a", "b"); mr != nil || err != nil {
		t.Errorf("FindMergeRequest = %v, %v", mr, err)
	}
	if rel, err := f.GetRelease(ctx, "v1"); rel != nil || err != nil {
		t.Errorf("GetRelease = %v, %v", rel, err)
	}
	if ms, err := f.MergedMergeRequests(ctx, "main", time.Time{}); ms != nil || err != nil {
		t.Errorf("MergedMergeRequests = %v, %v", ms, err)
	}
	if _, ok := Skipped(errors.New("other")); ok {
		t.Error("Skipped(other error) = true")
	}
}
