package gitops

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// waits records the waits the retry policy decides on, without sleeping.
type waits struct {
	mu sync.Mutex
	ds []time.Duration
}

func (w *waits) sleep(d time.Duration) { w.mu.Lock(); w.ds = append(w.ds, d); w.mu.Unlock() }
func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.ds...)
}

func githubWith(t *testing.T, r Retry) (*forgetest.Server, Forge) {
	srv := forgetest.New(t, ghToken)
	srv.GitHub().AddRepo("appliance/os")
	f, err := NewGitHub(Options{BaseURL: srv.GitHubURL(), Project: "appliance/os", Token: ghToken, Retry: r})
	if err != nil {
		t.Fatal(err)
	}
	return srv, f
}

// GitHub's secondary rate limit (403, no Retry-After): wait at least a
// minute, more on each try, never the 0.5–4 s backoff.
func TestGitHubSecondaryRateLimitWaitsAMinute(t *testing.T) {
	w := &waits{}
	srv, f := githubWith(t, Retry{Attempts: 5, Sleep: w.sleep, MaxWait: 10 * time.Minute})
	srv.Inject(forgetest.Fault{Kind: forgetest.SecondaryRateLimited, Times: 2})
	if _, err := f.GetRelease(context.Background(), "v1"); err != nil {
		t.Fatalf("after two secondary limits the call should go through: %v", err)
	}
	ds := w.all()
	if len(ds) != 2 || ds[0] < time.Minute || ds[1] <= ds[0] {
		t.Fatalf("waits %v, want two, the first at least 1m0s and the second longer", ds)
	}
	if n := srv.Count("GET", "/api/v3/repos/appliance/os/releases/tags/v1"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

// When the policy may not wait a minute (MaxWait below it), a secondary
// limit fails at once and says what it is.
func TestGitHubSecondaryRateLimitFailsClearly(t *testing.T) {
	w := &waits{}
	srv, f := githubWith(t, Retry{Attempts: 5, Sleep: w.sleep, MaxWait: 30 * time.Second})
	srv.Inject(forgetest.Fault{Kind: forgetest.SecondaryRateLimited, Times: 10})
	_, err := f.GetRelease(context.Background(), "v1")
	if err == nil || !strings.Contains(err.Error(), "secondary rate limit") || errs.KindOf(err) != errs.Infra {
		t.Fatalf("err = %v (kind %v), want an infra error naming the secondary rate limit", err, errs.KindOf(err))
	}
	if ds := w.all(); len(ds) != 0 {
		t.Fatalf("waited %v before giving up; a wait shorter than a minute must never be tried", ds)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// A primary limit that resets later than MaxWait fails at once, naming the
// reset time; one that resets sooner is waited out to the reset.
func TestGitHubPrimaryRateLimit(t *testing.T) {
	t.Run("reset far away", func(t *testing.T) {
		w := &waits{}
		srv, f := githubWith(t, Retry{Attempts: 5, Sleep: w.sleep})
		srv.Inject(forgetest.Fault{Kind: forgetest.PrimaryRateLimited, RetryAfter: 40 * time.Minute, Times: 10})
		_, err := f.GetRelease(context.Background(), "v1")
		if err == nil || !strings.Contains(err.Error(), "rate limit") || !strings.Contains(err.Error(), "UTC") || errs.KindOf(err) != errs.Infra {
			t.Fatalf("err = %v, want an infra error naming the reset time", err)
		}
		if !strings.Contains(errs.Format(err), "hint: run the job again after") {
			t.Fatalf("err = %v, want a hint saying when to run again", err)
		}
		if ds, n := w.all(), len(srv.Requests()); len(ds) != 0 || n != 1 {
			t.Fatalf("waits %v and %d requests; want no retry before the reset", ds, n)
		}
	})
	t.Run("reset soon", func(t *testing.T) {
		w := &waits{}
		srv, f := githubWith(t, Retry{Attempts: 5, Sleep: w.sleep})
		srv.Inject(forgetest.Fault{Kind: forgetest.PrimaryRateLimited, RetryAfter: 90 * time.Second})
		if _, err := f.GetRelease(context.Background(), "v1"); err != nil {
			t.Fatal(err)
		}
		if ds := w.all(); len(ds) != 1 || ds[0] < 85*time.Second || ds[0] > 2*time.Minute {
			t.Fatalf("waits %v, want one of about 90s (until the reset)", ds)
		}
	})
}

// GitLab's 429 with a reset later than MaxWait fails at once too.
func TestGitLabRateLimitBeyondMaxWaitFails(t *testing.T) {
	w := &waits{}
	srv := forgetest.New(t, apiToken)
	srv.GitLab().AddProject(42, "appliance/os")
	f, _ := NewGitLab(Options{BaseURL: srv.GitLabURL(), Project: "42", Token: apiToken, Retry: Retry{Sleep: w.sleep}})
	srv.Inject(forgetest.Fault{Kind: forgetest.RateLimited, RetryAfter: 10 * time.Minute, Times: 10})
	_, err := f.GetRelease(context.Background(), "v1")
	if err == nil || !strings.Contains(err.Error(), "rate limit") || errs.KindOf(err) != errs.Infra {
		t.Fatalf("err = %v, want an infra rate-limit error", err)
	}
	if ds, n := w.all(), len(srv.Requests()); len(ds) != 0 || n != 1 {
		t.Fatalf("waits %v and %d requests; want none before the reset", ds, n)
	}
}
