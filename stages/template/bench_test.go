package template_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/template"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
)

// BenchmarkCacheHit is a whole `pipeline template` run whose key is
// already in the store: hash every input (tool versions, the mirror's
// InRelease over the network), find the manifest, report. The first
// iteration's setup builds the fixture image once per machine
// (/var/tmp/pipeline-testcache).
func BenchmarkCacheHit(b *testing.B) {
	img := templatetest.Image(b)
	st, err := artifacts.NewFileStore(filepath.Join(img.Dir, "store"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Template = templatetest.Recipe()
	cfg.Template.CacheDir = filepath.Join(templatetest.CacheRoot, "base")
	env := &stages.Env{Repo: b.TempDir(), Config: cfg, CI: ci.Context{Env: ci.MapEnv{}}, Log: logging.Discard(), Report: &report.Dir{}}
	for b.Loop() {
		res, err := template.New(template.Options{Store: st}).Run(context.Background(), env)
		if err != nil {
			b.Fatal(err)
		}
		if out := res.Data.(*template.Output); !out.CacheHit || out.Key != img.Key {
			b.Fatalf("not a cache hit: key %s, fixture %s", out.Key, img.Key)
		}
	}
}

// BenchmarkKey is the key alone from gathered inputs (pure hashing).
func BenchmarkKey(b *testing.B) {
	r, err := template.NewRecipe(templatetest.Recipe())
	if err != nil {
		b.Fatal(err)
	}
	in := template.Inputs{Recipe: r, Files: map[string]string{"dist.lock": "00"}, Tools: map[string]string{"mmdebstrap": "mmdebstrap 1.3.5"},
		Mirrors: map[string]string{"http://deb.debian.org/debian bookworm": "00"}, Builder: template.BuilderVersion}
	for b.Loop() {
		_ = in.Key()
	}
}
