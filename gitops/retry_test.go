package gitops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
)

// A request that fails the same way every time (untrusted certificate, a
// scheme other than http(s), an unparsable URL) is tried once, not
// Attempts times.
func TestPermanentNetworkErrorsAreNotRetried(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	cases := []struct{ name, url, want string }{
		{"untrusted certificate", tlsSrv.URL + "/api/v4", "certificate"},
		{"unsupported scheme", "ftp://gitlab.example.com/api/v4", "unsupported protocol scheme"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tries int
			f, err := NewGitLab(Options{BaseURL: c.url, Project: "42", Token: apiToken,
				Retry: Retry{Attempts: 5, Min: time.Millisecond, Max: 2 * time.Millisecond},
				Logf:  func(string, ...any) { tries++ }})
			if err != nil {
				t.Fatal(err)
			}
			err = f.SetStatus(context.Background(), Status{SHA: strings.Repeat("a", 40), Name: "pipeline/build", State: "pending"})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to name %q", err, c.want)
			}
			if tries != 0 {
				t.Fatalf("retried %d times a request that cannot succeed", tries)
			}
		})
	}
	// A dropped connection is still retried.
	srv := forgetest.New(t, apiToken)
	srv.GitLab().AddProject(42, "appliance/os")
	sha := srv.GitLab().AddCommit("42", "main", "first")
	srv.Inject(forgetest.Fault{Method: "POST", Kind: forgetest.Drop})
	f, _ := NewGitLab(Options{BaseURL: srv.GitLabURL(), Project: "42", Token: apiToken, Retry: fastRetry})
	if err := f.SetStatus(context.Background(), Status{SHA: sha, Name: "pipeline/build", State: "pending"}); err != nil {
		t.Fatalf("a dropped connection must be retried: %v", err)
	}
}

// A caller's HTTP client keeps its own timeout; only ours gets Retry.Timeout.
func TestCallersHTTPClientTimeoutIsKept(t *testing.T) {
	for _, kind := range []string{"gitlab", "github"} {
		hc := &http.Client{Timeout: 7 * time.Minute}
		opts := Options{BaseURL: "http://127.0.0.1:1/api/v4", Project: "owner/repo", Token: "x", HTTPClient: hc, Retry: Retry{Timeout: time.Second}}
		var err error
		if kind == "gitlab" {
			_, err = NewGitLab(opts)
		} else {
			_, err = NewGitHub(opts)
		}
		if err != nil {
			t.Fatal(err)
		}
		if hc.Timeout != 7*time.Minute {
			t.Errorf("%s: the caller's client timeout became %s, want 7m0s kept", kind, hc.Timeout)
		}
	}
}
