package build_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
)

// benchComponents is how many components BenchmarkIncremental20 builds.
const benchComponents = 20

// incrementalRepo writes a distribution of n components, each a copy of
// the example's (a Makefile including package.mk that builds a .deb and
// an .rpm with dpkg-deb and rpmbuild), commits it and returns its config.
func incrementalRepo(b *testing.B, n int) (string, *config.Config) {
	b.Helper()
	repo := b.TempDir()
	pkgmk, err := os.ReadFile(filepath.Join(buildtest.ExampleDir(), "components", "package.mk"))
	if err != nil {
		b.Fatal(err)
	}
	write := func(rel, text string) {
		p := filepath.Join(repo, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("components/package.mk", string(pkgmk))
	write(".gitignore", "dist/\nbuild/\n.pipeline/\n")
	cfg := config.Default()
	cfg.Project.Name = "bench"
	cfg.Build.Parallel = 2
	cfg.Build.Base.Packages = []string{"dash", "bash", "/bin/sh"}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("bench-c%02d", i)
		dir := "components/" + name
		write(dir+"/VERSION", "1.0.0\n")
		write(dir+"/data.txt", strings.Repeat(name+" data line\n", 2000))
		write(dir+"/Makefile", fmt.Sprintf(`NAME         := %s
VERSION      := $(shell cat VERSION)
RELEASE      := 1
SUMMARY      := Benchmark component %d
install:
	install -d $(DESTDIR)/usr/share/%s
	install -m 0644 data.txt $(DESTDIR)/usr/share/%s/data.txt
include ../package.mk
`, name, i, name, name))
		cfg.Build.Components = append(cfg.Build.Components, config.Component{
			Name: name, Command: "make -s -C " + dir + " clean deb rpm",
			Inputs:   []string{dir, "components/package.mk"},
			Packages: []string{dir + "/dist/*.deb", dir + "/dist/*.rpm"},
		})
	}
	gitIn(b, repo, "init", "-q", "-b", "main")
	gitIn(b, repo, "add", "-A")
	gitIn(b, repo, "commit", "-q", "-m", "bench")
	return repo, cfg
}

// BenchmarkIncremental20 measures, side by side in one run, the full
// build of 20 components (a cold component cache) and the build after a
// commit that changes one of them (the other 19 taken from the cache):
// full-s and incremental-s are wall seconds, incremental-% the second as
// a share of the first. Both include the lock, meta-package, repositories
// and the publish.
func BenchmarkIncremental20(b *testing.B) {
	for _, tool := range []string{"git", "make", "dpkg-deb", "rpmbuild", "createrepo_c"} {
		testutil.NeedTool(b, tool)
	}
	repo, cfg := incrementalRepo(b, benchComponents)
	build1 := func(store string) (*build.Output, time.Duration) {
		cfg.Artifacts.URL = "file://" + store
		lg := logging.Discard()
		if p := os.Getenv("BENCH_LOG"); p != "" {
			f, _ := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			lg, _ = logging.New(f, logging.Options{}, nil)
		}
		env := &stages.Env{Repo: repo, Config: cfg, Log: lg,
			CI:     ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{}},
			Report: &report.Dir{Path: filepath.Join(repo, ".pipeline", "reports")}}
		start := time.Now()
		out, err := build.Build(context.Background(), env)
		if err != nil {
			b.Fatal(err)
		}
		return out, time.Since(start)
	}
	var full, incr time.Duration
	for i := 0; i < b.N; i++ {
		store := filepath.Join(b.TempDir(), "store") // a cold cache each time
		out, d := build1(store)
		full += d
		if n := reusedCount(out); n != 0 {
			b.Fatalf("full build: %d component(s) reused", n)
		}
		changed := fmt.Sprintf("components/bench-c%02d/VERSION", i%benchComponents)
		if err := os.WriteFile(filepath.Join(repo, changed), []byte(fmt.Sprintf("1.0.%d\n", i+1)), 0o644); err != nil {
			b.Fatal(err)
		}
		gitIn(b, repo, "commit", "-q", "-am", "change one component")
		out, d = build1(store)
		incr += d
		if n := reusedCount(out); n != benchComponents-1 {
			b.Fatalf("incremental build: %d component(s) reused, want %d", n, benchComponents-1)
		}
	}
	b.ReportMetric(full.Seconds()/float64(b.N), "full-s")
	b.ReportMetric(incr.Seconds()/float64(b.N), "incremental-s")
	b.ReportMetric(100*incr.Seconds()/full.Seconds(), "incremental-%")
	b.ReportMetric(0, "ns/op") // the two figures above are the result
}

func reusedCount(out *build.Output) int {
	n := 0
	for _, c := range out.Components {
		if c.Reused {
			n++
		}
	}
	return n
}
