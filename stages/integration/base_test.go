package integration_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// The test base of runnertest is integration.bootstrap's default base, so
// the stage and the runner tests share one mmdebstrap run per machine.
func TestBootstrapDefaultIsTheTestBase(t *testing.T) {
	if a, b := integration.BootstrapSpec(config.IntegrationBootstrap{}).Key(), runnertest.BaseSpec().Key(); a != b {
		t.Fatalf("default bootstrap key %s, test base key %s: the tests would bootstrap twice", a, b)
	}
	s := integration.BootstrapSpec(config.IntegrationBootstrap{Suite: "trixie", Packages: []string{"curl", "iproute2"}, Variant: "apt"})
	if s.Suite != "trixie" || s.Variant != "apt" || strings.Join(s.Packages, ",") != "curl,iproute2" || s.Mirror != "http://deb.debian.org/debian" || !s.KeepDocs {
		t.Fatalf("spec %+v", s)
	}
	if none := integration.BootstrapSpec(config.IntegrationBootstrap{Packages: []string{}}); len(none.Packages) != 0 {
		t.Fatalf("packages: [] should add none, got %v", none.Packages)
	}
}

func TestBootstrapCacheDir(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) { return ci.MapEnv(m).Lookup }
	for _, tc := range []struct {
		cfg  string
		env  map[string]string
		want string
	}{
		{"", nil, "/var/cache/pipeline/rootfs"},
		{"", map[string]string{"XDG_CACHE_HOME": "/home/ci/.cache"}, "/home/ci/.cache/pipeline/rootfs"},
		{"", map[string]string{"XDG_CACHE_HOME": "relative"}, "/var/cache/pipeline/rootfs"},
		{"/srv/bases", map[string]string{"XDG_CACHE_HOME": "/x"}, "/srv/bases"},
		{".cache/bases", nil, "/repo/.cache/bases"},
	} {
		if got := integration.BootstrapCacheDir(config.IntegrationBootstrap{CacheDir: tc.cfg}, "/repo", env(tc.env)); got != tc.want {
			t.Errorf("cache_dir %q, env %v: %s, want %s", tc.cfg, tc.env, got, tc.want)
		}
	}
}

// A chroot target with no rootfs runs on the base the stage bootstraps
// with the real mmdebstrap (or finds in the cache the runner tests share);
// the second run reuses it without starting mmdebstrap. --dry-run on an
// empty cache says it would bootstrap and creates nothing.
func TestChrootTargetOnTheBootstrappedBase(t *testing.T) {
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mmdebstrap")
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "suites"), 0o755)
	os.WriteFile(filepath.Join(repo, "suites", "base.yaml"), []byte(`suite: base
checks:
  - id: debian-12
    file: {path: /etc/debian_version, contains: /^12\./}
  - id: procps-from-the-bootstrap
    command: {run: ps --version, stdout: /procps/}
  - id: docs-kept
    file: {path: /usr/share/doc/procps/changelog.Debian.gz}
  - id: provisioned
    file: {path: /etc/provisioned, contains: /^1\.0$/}
`), 0o644)
	cfgText := `version: 1
integration:
  version: "1.0"
  scenarios: [fresh]
  provision: echo "$PIPELINE_VERSION" > /etc/provisioned
  suites: [suites/*.yaml]
  logs: {journal: false}
  targets:
    - {name: base, runner: chroot}
`
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(cfgText), 0o644)
	run := func(vars ci.MapEnv, dryRun bool, opts ...integration.Options) (*stages.Result, string, error) {
		t.Helper()
		cfg, err := config.Load(filepath.Join(repo, "pipeline.yaml"), vars.Lookup)
		if err != nil {
			t.Fatal(err)
		}
		var log lockedBuffer
		l, _ := logging.New(io.MultiWriter(&log, testLogWriter{t}), logging.Options{}, nil)
		env := &stages.Env{Repo: repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: vars}, DryRun: dryRun,
			Log: l, Report: &report.Dir{Path: t.TempDir()}, Forge: gitops.None{}}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		st := &integration.Stage{}
		if len(opts) > 0 {
			st.Opts = opts[0]
		}
		res, err := st.Run(ctx, env)
		return res, log.String(), err
	}

	empty := filepath.Join(t.TempDir(), "cache")
	res, log, err := run(ci.MapEnv{"XDG_CACHE_HOME": empty}, true)
	if err != nil || res.Outcome != stages.DryRunned {
		t.Fatalf("dry run: %v %+v", err, res)
	}
	if !strings.Contains(log, "dry run: would bootstrap base ") || !strings.Contains(log, "with mmdebstrap into "+empty+"/pipeline/rootfs/") {
		t.Fatalf("the dry run does not say it would bootstrap:\n%s", log)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatalf("the dry run made %s: %v", empty, err)
	}

	shared := ci.MapEnv{"XDG_CACHE_HOME": runnertest.CacheDir} // → runnertest.BaseCacheDir
	start := time.Now()
	res, log, err = run(shared, false)
	if err != nil {
		t.Fatalf("first run: %v\n%s", err, log)
	}
	if tot := res.Data.(*integration.Data).Totals; tot.Passed < 4 || tot.Failed+tot.Errors > 0 {
		t.Fatalf("first run: %+v\n%s", tot, log)
	}
	switch {
	case strings.Contains(log, "built base "):
		for _, want := range []string{"bootstrapping debian bookworm minbase from http://deb.debian.org/debian with procps", "mmdebstrap: "} {
			if !strings.Contains(log, want) {
				t.Errorf("the build's log lacks %q", want)
			}
		}
		t.Logf("first run bootstrapped the base in %s", time.Since(start).Round(time.Second))
	case strings.Contains(log, "reused base "):
		t.Logf("the base was already in %s (another test made it)", runnertest.BaseCacheDir)
	default:
		t.Fatalf("the first run neither built nor reused a base:\n%s", log)
	}

	_, log2, err := run(shared, false)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, log2)
	}
	if !strings.Contains(log2, "reused base ") || strings.Contains(log2, "mmdebstrap:") || strings.Contains(log2, "bootstrapping") {
		t.Fatalf("the second run did not reuse the base without mmdebstrap:\n%s", log2)
	}
	keyOf := func(s string) string {
		k, _, _ := strings.Cut(s[strings.Index(s, "reused base ")+len("reused base "):], " ")
		return k
	}
	if _, err := os.Stat(filepath.Join(runnertest.BaseCacheDir, keyOf(log2), "rootfs", "bin", "sh")); err != nil {
		t.Fatalf("the reused base is not where the log says: %v", err)
	}
	_, log, _ = run(shared, true)
	if !strings.Contains(log, "dry run: would reuse base "+keyOf(log2)) {
		t.Fatalf("the dry run on a warm cache does not say it would reuse %s:\n%s", keyOf(log2), log)
	}

	// --base-only: the base, and no suite.
	res, log, err = run(shared, false, integration.Options{BaseOnly: true})
	if err != nil || res.Outcome != stages.Passed || !strings.Contains(log, "reused base "+keyOf(log2)) || strings.Contains(log, "running 4 check(s)") {
		t.Fatalf("--base-only: %v %+v\n%s", err, res, log)
	}
	if d, _ := res.Data.(map[string]any); d["key"] != keyOf(log2) || d["rootfs"] != filepath.Join(runnertest.BaseCacheDir, keyOf(log2), "rootfs") {
		t.Fatalf("--base-only data: %+v", res.Data)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
