package release

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/pipeline-ci/pipeline/bench/release/benchrepo"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/stages"
)

// benchEnv is a dry-run Env on the generated benchmark repository (100,000
// commits, 490 tags, 2,000 unreleased), made once and cached under
// /var/tmp/pipeline-bench (PIPELINE_BENCH_DIR overrides).
func benchEnv(b *testing.B) *stages.Env {
	b.Helper()
	base := os.Getenv("PIPELINE_BENCH_DIR")
	if base == "" {
		base = "/var/tmp/pipeline-bench"
	}
	dir, err := benchrepo.Ensure(context.Background(), base, benchrepo.Default, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	return &stages.Env{Repo: dir, Config: config.Default(), Log: logging.Discard(), DryRun: true}
}

// BenchmarkPlanUnreleased is (a): plan and notes of the 2,000 unreleased
// commits, as `pipeline --dry-run release` does.
func BenchmarkPlanUnreleased(b *testing.B) {
	env := benchEnv(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := New(Options{}).Run(context.Background(), env)
		if err != nil {
			b.Fatal(err)
		}
		if d := res.Data.(*Data); d.Version != "2.0.0" || len(d.Changes) != 2000 || d.Notes == "" {
			b.Fatalf("unexpected plan %s with %d changes", d.Version, len(d.Changes))
		}
	}
}

// BenchmarkFullChangelog is (b): the whole CHANGELOG.md over all 490 tags,
// as `pipeline release changelog` does.
func BenchmarkFullChangelog(b *testing.B) {
	env := benchEnv(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		text, err := FullChangelog(context.Background(), env)
		if err != nil {
			b.Fatal(err)
		}
		if len(text) < 1<<20 {
			b.Fatalf("changelog of %d bytes", len(text))
		}
	}
}
