package stages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

// A job on another runner, on a fresh checkout, with only the commit sha
// and the S3 credentials: it finds the build's hand-off in MinIO and gets
// the build's files, verified, into the build's output dir.
func TestHandoffThroughS3Only(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	ctx := context.Background()
	const sha = "1111111111111111111111111111111111111111"
	cfg := config.Default()
	cfg.Artifacts.URL = "s3://" + bucket + "/ci"
	cfg.Artifacts.S3 = config.S3{Endpoint: srv.Endpoint, Insecure: true, AccessKeyEnv: "S3_KEY", SecretKeyEnv: "S3_SECRET"}
	creds := ci.MapEnv{"S3_KEY": srv.AccessKey, "S3_SECRET": srv.SecretKey}

	// The build job: its own checkout, publishes the build and hands on.
	buildRepo := t.TempDir()
	out := filepath.Join(buildRepo, ".pipeline", "build")
	os.MkdirAll(filepath.Join(out, "apt", "dists", "stable"), 0o755)
	os.WriteFile(filepath.Join(out, "apt", "dists", "stable", "Release"), []byte("Suite: stable\n"), 0o644)
	os.WriteFile(filepath.Join(out, "dist.lock"), []byte("tiny 1.0\n"), 0o644)
	buildEnv := &Env{Repo: buildRepo, Config: cfg, CI: ci.Context{SHA: sha, Env: creds}, Log: logging.Discard(),
		Report: &report.Dir{Path: filepath.Join(buildRepo, ".pipeline", "reports")}, Handoff: &handoff.Set{}}
	st, err := buildEnv.OpenStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := &handoff.Build{ID: "1.0.0-1.gabc", Commit: sha, Metapackage: "tiny", Version: "1.0.0+1.gabc", Dir: ".pipeline/build", Store: st.URL("builds/1.0.0-1.gabc")}
	objs, err := artifacts.PublishDir(ctx, st, b.Prefix(), out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := artifacts.WriteManifest(ctx, st, b.Prefix(), artifacts.Manifest{Build: b.ID, Version: b.Version, Commit: sha, Objects: objs}); err != nil {
		t.Fatal(err)
	}
	if err := buildEnv.HandOn(ctx, st, b); err != nil {
		t.Fatal(err)
	}
	if buildEnv.Handoff.Build != b {
		t.Errorf("HandOn did not hand the build on in process")
	}
	if _, err := os.Stat(handoff.File(buildEnv.Report.Path, "build")); err != nil {
		t.Errorf("HandOn did not save the hand-off in the report dir: %v", err)
	}

	// The integration job: another checkout, no report dir, no build dir.
	jobRepo := t.TempDir()
	jobEnv := &Env{Repo: jobRepo, Config: cfg, CI: ci.Context{SHA: sha, Env: creds}, Log: logging.Discard(),
		Report: &report.Dir{Path: filepath.Join(jobRepo, ".pipeline", "reports")}}
	got, from, err := jobEnv.Handoffs(ctx).Build(ctx)
	if err != nil || from != handoff.FromStore || got == nil || got.Version != b.Version {
		t.Fatalf("hand-off: %+v from %q: %v", got, from, err)
	}
	dir, fetched, err := jobEnv.EnsureBuild(ctx, got)
	if err != nil || !fetched || dir != filepath.Join(jobRepo, ".pipeline", "build") {
		t.Fatalf("EnsureBuild: %s fetched=%v: %v", dir, fetched, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "apt", "dists", "stable", "Release")); string(data) != "Suite: stable\n" {
		t.Errorf("fetched Release: %q %v", data, err)
	}
	// Present now: nothing to fetch.
	if _, fetched, err := jobEnv.EnsureBuild(ctx, got); err != nil || fetched {
		t.Errorf("second EnsureBuild fetched=%v: %v", fetched, err)
	}

	// Without credentials: a usage error naming the variables, not a miss.
	noCreds := *jobEnv
	noCreds.CI.Env = ci.MapEnv{}
	if _, _, err := noCreds.Handoffs(ctx).Build(ctx); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "S3_KEY") {
		t.Errorf("no credentials: %v", err)
	}

	// A build whose manifest is not in the store: exit 2, saying what to do.
	gone := *got
	gone.ID, gone.Dir = "9.9.9", ".pipeline/other"
	if _, _, err := jobEnv.EnsureBuild(ctx, &gone); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "has no manifest") {
		t.Errorf("missing build: %v", err)
	}
}

// Looking for a hand-off in a file:// store that does not exist yet
// creates nothing (--dry-run changes nothing).
func TestReadStoreCreatesNothing(t *testing.T) {
	repo := t.TempDir()
	env := &Env{Repo: repo, Config: config.Default(), CI: ci.Context{SHA: "2222222222222222222222222222222222222222"}, Log: logging.Discard(), Report: &report.Dir{}}
	got, from, err := env.Handoffs(context.Background()).Build(context.Background())
	if got != nil || from != "" || err != nil {
		t.Fatalf("empty store: %+v %q %v", got, from, err)
	}
	if _, err := os.Stat(filepath.Join(repo, ".pipeline")); !os.IsNotExist(err) {
		t.Errorf("looking created the store directory: %v", err)
	}
}
