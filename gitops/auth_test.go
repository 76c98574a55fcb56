package gitops

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
)

// gitHTTPServer serves the bare repositories under root with the real
// git http-backend (smart HTTP, push enabled), answering 401 to any request
// without Basic user:token.
func gitHTTPServer(t *testing.T, root, user, token string) *httptest.Server {
	t.Helper()
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + user},
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+token))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "HTTP Basic: Access denied", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPushOverHTTPWithToken(t *testing.T) {
	ctx := context.Background()
	const tok = "glpat-PUSH-SECRET-42"
	root := t.TempDir()
	seed := newRepo(t)
	commitFile(t, seed, "a", "1", "one")
	must(t, seed, "clone", "--quiet", "--bare", seed.Dir, filepath.Join(root, "p.git"))
	srv := gitHTTPServer(t, root, "oauth2", tok)
	remote := srv.URL + "/p.git"

	g := newRepo(t)
	sha := commitFile(t, g, "b", "2", "two")
	up := RefUpdate{Ref: "refs/heads/feature", New: sha}

	// Without credentials: refused, and no prompt (GIT_TERMINAL_PROMPT=0).
	if err := g.Push(ctx, remote, up); err == nil {
		t.Fatal("push without a token succeeded")
	}

	// The API token from the environment, as under GitLab CI.
	c := ci.Context{Provider: ci.GitLab, WebURL: srv.URL + "/group/p", Env: ci.MapEnv{"PIPELINE_TOKEN": tok}}
	authed := g.WithForgeAuth(config.Forge{}, c)
	if err := authed.Push(ctx, remote, up); err != nil {
		t.Fatalf("push with the token: %v", err)
	}
	bare := &Git{Dir: filepath.Join(root, "p.git")}
	if got := must(t, bare, "rev-parse", "refs/heads/feature"); got != sha {
		t.Fatalf("remote feature = %s, want %s", got, sha)
	}
	if h, err := authed.RemoteRef(ctx, remote, "refs/heads/feature"); err != nil || h != sha {
		t.Fatalf("ls-remote with the token: %q, %v", h, err)
	}

	// The token is in no file and the original Git is unchanged.
	cfg, _ := os.ReadFile(filepath.Join(g.Dir, ".git", "config"))
	if strings.Contains(string(cfg), tok) || strings.Contains(string(cfg), base64.StdEncoding.EncodeToString([]byte("oauth2:"+tok))) {
		t.Fatal("token written to .git/config")
	}
	if err := g.Push(ctx, remote, RefUpdate{Ref: "refs/heads/other", New: sha}); err == nil {
		t.Fatal("WithForgeAuth changed the original Git")
	}

	// CI_JOB_TOKEN cannot push: not used. No forge: nothing added.
	job := ci.Context{Provider: ci.GitLab, WebURL: srv.URL + "/group/p", Env: ci.MapEnv{"CI_JOB_TOKEN": tok}}
	for _, same := range []*Git{g.WithForgeAuth(config.Forge{}, job), g.WithForgeAuth(config.Forge{}, ci.Context{})} {
		if same != g {
			t.Fatal("WithForgeAuth added credentials it should not have")
		}
	}
	// Stacks with other GIT_CONFIG_* settings instead of replacing them.
	two := g.WithHTTPAuth("https://other.example.com/", "u", "x").WithHTTPAuth(srv.URL+"/", "oauth2", tok)
	if err := two.Push(ctx, remote, RefUpdate{Ref: "refs/heads/third", New: sha}); err != nil {
		t.Fatalf("push with two auth settings: %v", err)
	}
}
