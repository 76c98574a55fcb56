package gitops

import (
	"context"
	"errors"
	"testing"
)

// Can says what callers used to read from Kind() strings, and agrees with
// what the forge does: a forge that does not write answers writes with
// ErrNoForge.
func TestCan(t *testing.T) {
	gl, err := NewGitLab(Options{BaseURL: "http://127.0.0.1:1", Project: "1", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := NewGitHub(Options{BaseURL: "http://127.0.0.1:1", Project: "o/r", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f                Forge
		writes, external bool
		mrRef, mrPage    string
	}{
		{gl, true, true, "!%d", "/-/merge_requests/%d"},
		{gh, true, false, "#%d", "/pull/%d"},
		{None{}, false, false, "!%d", ""},
	} {
		c := Can(tc.f)
		if c.Writes != tc.writes || c.ExternalStatusChecks != tc.external || c.MRRef != tc.mrRef || c.Web.MergeRequest != tc.mrPage {
			t.Errorf("%s: %+v", tc.f.Kind(), c)
		}
	}
	if err := (None{}).SetStatus(context.Background(), Status{Name: "x", State: "success", SHA: "abc"}); !errors.Is(err, ErrNoForge) {
		t.Errorf("the none forge, which does not write, answered a write with %v", err)
	}
}
