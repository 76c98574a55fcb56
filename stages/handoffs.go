package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Handoffs says where a consuming stage finds the hand-offs of the stages
// before it: this process (Env.Handoff), the report dir (the earlier
// job's artifacts), the artifact store by commit (the CI commit sha, else
// HEAD).
func (e *Env) Handoffs(ctx context.Context) handoff.Sources {
	s := handoff.Sources{InProcess: e.Handoff, Commit: e.Commit(ctx), Store: e.ReadStore}
	if e.Report != nil {
		s.ReportDir = e.Report.Path
	}
	return s
}

// Commit is the commit this job works on: the CI's commit sha, else HEAD;
// "" outside a git repository.
func (e *Env) Commit(ctx context.Context) string {
	if e.CI.SHA != "" {
		return e.CI.SHA
	}
	sha, err := gitops.Open(e.Repo).Run(ctx, "rev-parse", "HEAD")
	if err != nil {
		return ""
	}
	return sha
}

// OpenStore opens the artifact store pipeline.yaml names (artifacts.url).
func (e *Env) OpenStore(ctx context.Context) (artifacts.Store, error) {
	var env ci.Env = ci.MapEnv{}
	if e.CI.Env != nil {
		env = e.CI.Env
	}
	st, err := artifacts.Open(ctx, e.Config.Artifacts.URL, artifacts.Settings{Base: e.Repo, S3: e.Config.Artifacts.S3, Env: env})
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	return st, nil
}

// ReadStore is OpenStore for reading only: a file:// store whose
// directory does not exist is empty, not created (looking for a hand-off
// writes nothing, and --dry-run changes nothing).
func (e *Env) ReadStore(ctx context.Context) (artifacts.Store, error) {
	u := e.Config.Artifacts.URL
	if u == "" || strings.HasPrefix(u, "file://") {
		dir := strings.TrimPrefix(u, "file://")
		if dir == "" {
			dir = filepath.Join(".pipeline", "artifacts")
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(e.Repo, dir)
		}
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return emptyStore{root: dir}, nil
		}
	}
	return e.OpenStore(ctx)
}

// emptyStore is a file:// store whose directory does not exist yet.
type emptyStore struct{ root string }

func (s emptyStore) URL(key string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(s.root, filepath.FromSlash(key)))}).String()
}
func (s emptyStore) missing(key string) error {
	return fmt.Errorf("%s: %w", s.URL(key), artifacts.ErrNotExist)
}
func (s emptyStore) PutFile(context.Context, string, string) (artifacts.Object, error) {
	return artifacts.Object{}, errors.New("read-only view of the artifact store")
}
func (s emptyStore) Put(context.Context, string, io.Reader, int64) (artifacts.Object, error) {
	return artifacts.Object{}, errors.New("read-only view of the artifact store")
}
func (s emptyStore) Stat(_ context.Context, key string) (artifacts.Object, error) {
	return artifacts.Object{}, s.missing(key)
}
func (s emptyStore) Get(_ context.Context, key string, _ io.Writer) error { return s.missing(key) }
func (s emptyStore) List(context.Context, string) ([]artifacts.Object, error) {
	return nil, nil
}
func (s emptyStore) Delete(context.Context, string) error { return nil }

// EnsureBuild makes sure build b's output dir is on this runner: when it
// is missing (a job on a fresh checkout), its published files are
// downloaded from the store into it, each checked against the build's
// manifest. It reports the local dir and whether it was downloaded; under
// --dry-run it only says what it would do.
func (e *Env) EnsureBuild(ctx context.Context, b *handoff.Build) (dir string, fetched bool, err error) {
	if b == nil || b.Dir == "" {
		return "", false, nil
	}
	dir = b.Dir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(e.Repo, dir)
	}
	if _, err := os.Stat(dir); err == nil {
		return dir, false, nil
	}
	if e.DryRun {
		e.Log.Infof("dry run: %s is missing: would download build %s from %s into it", dir, b.ID, b.Store)
		return dir, false, nil
	}
	st, err := e.ReadStore(ctx)
	if err != nil {
		return dir, false, err
	}
	n, kept, err := handoff.FetchBuild(ctx, st, b, dir)
	switch {
	case errors.Is(err, handoff.ErrNoBuild):
		return dir, false, errs.New(errs.Usage, fmt.Errorf("%s is missing on this runner and the artifact store has none: %w", dir, err),
			"give this job the same artifacts.url as the build job, or the build's output dir as artifacts")
	case err != nil:
		return dir, false, errs.New(errs.Infra, fmt.Errorf("build %s: %w", b.ID, err), "check the artifact store; run again to retry")
	}
	e.Log.Infof("build %s fetched from %s into %s (%d file(s) downloaded and verified by sha256, %d already there)", b.ID, st.URL(b.Prefix()), dir, n, kept)
	return dir, true, nil
}

// HandOn records v as this run's hand-off of its stage (for the later
// stages of `pipeline run`), saves it in the report dir (for later jobs
// given the report dir as artifacts) and, when st is not nil, publishes it
// to the store (for jobs on other runners). Nothing is written under
// --dry-run.
func (e *Env) HandOn(ctx context.Context, st artifacts.Store, v handoff.Value) error {
	if e.Handoff != nil {
		switch x := v.(type) {
		case *handoff.Build:
			e.Handoff.Build = x
		case *handoff.Template:
			e.Handoff.Template = x
		case *handoff.Verdict:
			if x.Stage == "integration" {
				e.Handoff.Integration = x
			}
		}
	}
	if e.DryRun {
		return nil
	}
	e.mask(v)
	if e.Report != nil {
		if _, err := handoff.Save(e.Report.Path, v); err != nil {
			return err
		}
	}
	if st != nil {
		if _, err := handoff.Publish(ctx, st, v); err != nil {
			return err
		}
	}
	return nil
}

// mask replaces every known secret in v's text (a summary quoting an
// error that quotes a command line) before v is written anywhere: a JSON
// round trip, as the masker knows the JSON-escaped form of each secret.
func (e *Env) mask(v handoff.Value) {
	if e.Log == nil || e.Log.Masker().Len() == 0 {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	if masked := e.Log.Masker().Mask(string(data)); masked != string(data) {
		_ = json.Unmarshal([]byte(masked), v)
	}
}
