package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
)

// repo is a real git repository with a bare "origin" next to it.
type repo struct {
	t      testing.TB
	dir    string // the work tree
	remote string // the bare repository
	n      int
}

// newRepo makes an empty work repo on branch main with a bare origin.
func newRepo(t testing.TB) *repo {
	t.Helper()
	testutil.NeedTool(t, "git")
	base := t.TempDir()
	r := &repo{t: t, dir: filepath.Join(base, "work"), remote: filepath.Join(base, "origin.git")}
	r.git(base, "init", "--quiet", "--bare", "--initial-branch=main", r.remote)
	r.git(base, "init", "--quiet", "--initial-branch=main", r.dir)
	r.run("config", "user.name", "Dev")
	r.run("config", "user.email", "dev@example.com")
	r.run("config", "commit.gpgsign", "false")
	r.run("config", "tag.gpgsign", "false")
	r.run("remote", "add", "origin", r.remote)
	return r
}

func (r *repo) git(dir string, args ...string) string {
	r.t.Helper()
	out, err := r.gitErr(dir, nil, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *repo) gitErr(dir string, stdin []byte, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	// Commit times one second apart, so that the history has an order.
	when := fmt.Sprintf("%d +0000", time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Unix()+int64(r.n))
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimRight(out.String(), "\n"), nil
}

// run runs git in the work tree.
func (r *repo) run(args ...string) string { r.t.Helper(); return r.git(r.dir, args...) }

// commit makes a commit with message msg that touches a file.
func (r *repo) commit(msg string) string {
	r.t.Helper()
	r.n++
	name := filepath.Join(r.dir, "src", fmt.Sprintf("f%03d.txt", r.n))
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(msg), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.run("add", "src")
	if _, err := r.gitErr(r.dir, []byte(msg), "commit", "--quiet", "--cleanup=verbatim", "-F", "-"); err != nil {
		r.t.Fatal(err)
	}
	return r.run("rev-parse", "HEAD")
}

// bulk appends n commits with message msg to main in one git fast-import
// (no file changes): long histories for a fraction of the cost.
func (r *repo) bulk(msg string, n int) {
	r.t.Helper()
	var b strings.Builder
	from := r.run("rev-parse", "HEAD")
	for i := 0; i < n; i++ {
		r.n++
		ts := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Unix() + int64(r.n)
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Dev <dev@example.com> %d +0000\ndata %d\n%s\n", ts, len(msg), msg)
		if i == 0 {
			fmt.Fprintf(&b, "from %s\n", from)
		}
	}
	if _, err := r.gitErr(r.dir, []byte(b.String()), "fast-import", "--quiet"); err != nil {
		r.t.Fatal(err)
	}
	r.run("reset", "--quiet", "--hard", "main")
}

// tag makes an annotated tag at HEAD (not ours: no release trailers).
func (r *repo) tag(name string) { r.t.Helper(); r.run("tag", "-a", "-m", "release "+name, name) }

func (r *repo) push() {
	r.t.Helper()
	r.run("push", "--quiet", "--follow-tags", "origin", "HEAD:refs/heads/main")
}

func (r *repo) head() string { return r.run("rev-parse", "HEAD") }

func (r *repo) read(name string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

// tags lists the tags of the work repo, or of the remote.
func (r *repo) tags(remote bool) []string {
	dir := r.dir
	if remote {
		dir = r.remote
	}
	out := r.git(dir, "tag", "--list")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// env is a stage Env on the repo with the default config and forge f.
func (r *repo) env(f gitops.Forge, edit func(*config.Release)) *stages.Env {
	cfg := config.Default()
	cfg.Release.Milestone.Period = config.Duration(7 * 24 * time.Hour)
	if edit != nil {
		edit(&cfg.Release)
	}
	if f == nil {
		f = gitops.None{}
	}
	return &stages.Env{
		Repo: r.dir, Config: cfg, Log: logging.Discard(), Forge: f,
		Report: &report.Dir{Path: filepath.Join(r.t.(interface{ TempDir() string }).TempDir(), "reports")},
	}
}

var fixedNow = func() time.Time { return time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC) }

// release runs the stage once.
func (r *repo) release(env *stages.Env, opts Options) (*stages.Result, *Data, error) {
	r.t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	res, err := New(opts).Run(context.Background(), env)
	var d *Data
	if res != nil {
		d, _ = res.Data.(*Data)
	}
	return res, d, err
}

// mustRelease runs the stage and fails the test on an error.
func (r *repo) mustRelease(env *stages.Env, opts Options) (*stages.Result, *Data) {
	r.t.Helper()
	res, d, err := r.release(env, opts)
	if err != nil {
		r.t.Fatalf("release: %v", err)
	}
	return res, d
}

func count(s, sub string) int { return strings.Count(s, sub) }
