package integration_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/handoff"
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// bufferLog is a logger writing into a buffer (and to the test log under -v).
func bufferLog(t *testing.T) (*logging.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	var w interface{ Write([]byte) (int, error) } = &buf
	if testing.Verbose() {
		w = multiWriter{&buf, testLogWriter{t}}
	}
	l, err := logging.New(w, logging.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l, &buf
}

type multiWriter [2]interface{ Write([]byte) (int, error) }

func (m multiWriter) Write(p []byte) (int, error) {
	m[0].Write(p)
	return m[1].Write(p)
}

var docYAML = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// minimalDocExample is docs/integration.md's minimal configuration block,
// as it stands.
func minimalDocExample(t *testing.T) string {
	t.Helper()
	md, err := os.ReadFile("../../docs/integration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range docYAML.FindAllStringSubmatch(string(md), -1) {
		if first, _, _ := strings.Cut(m[1], "\n"); strings.HasPrefix(first, "integration:") && strings.Contains(first, "# minimal") {
			return m[1]
		}
	}
	t.Fatal("docs/integration.md has no ```yaml block starting `integration:   # minimal`")
	return ""
}

// docs/integration.md's minimal example, copied as it stands into the
// example appliance's pipeline.yaml in place of its integration section
// (no copy, setup, base, provision, bootstrap: one chroot target and the
// suites): the stage provisions from the build's APT repository and the
// last release's build by itself, on the base it bootstraps, and FRESH and
// UPGRADE pass.
func TestBuiltinProvisioningRunsTheDocExample(t *testing.T) {
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mmdebstrap")
	minimal := minimalDocExample(t)

	prod := buildtest.BuildExample(t) // v1.0.0, published: production
	applyChange(t, prod.Repo, "good")
	next := prod.Rebuild(t, "v1.1.0")

	file := filepath.Join(next.Repo, config.FileName)
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?ms)^integration:\n.*?^promote:\n`)
	if !section.Match(text) {
		t.Fatal("the example's pipeline.yaml has no integration: section before promote:")
	}
	text = section.ReplaceAll(text, []byte(minimal+"\npromote:\n"))
	if err := os.WriteFile(file, text, 0o644); err != nil {
		t.Fatal(err)
	}

	vars := ci.MapEnv{"XDG_CACHE_HOME": runnertest.CacheDir} // the base the other tests share
	cfg, err := config.Load(file, vars.Lookup)
	if err != nil {
		t.Fatalf("pipeline.yaml with the doc's example: %v", err)
	}
	if in := cfg.Integration; !in.BuiltinProvisioning() || len(in.Targets) != 1 || in.Bootstrap.Suite != "" {
		t.Fatalf("not the minimal section: %+v", in)
	}
	cfg.Artifacts.URL = "file://" + next.Store
	reports := t.TempDir()
	log, logBuf := bufferLog(t)
	env := &stages.Env{Repo: next.Repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: vars},
		Log: log, Report: &report.Dir{Path: reports}, Forge: gitops.None{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := (&integration.Stage{}).Run(ctx, env)
	if res == nil {
		t.Fatalf("no result: %v\n%s", err, logBuf)
	}
	data := res.Data.(*integration.Data)
	if err != nil || res.Outcome != stages.Passed {
		t.Fatalf("outcome %s, err %v, failures:\n%s\nlog:\n%s", res.Outcome, err, strings.Join(failures(data), "\n"), logBuf)
	}
	if !strings.Contains(logBuf.String(), "provisioning: built-in apt (from the build's hand-off)") {
		t.Errorf("the log does not say the provisioning is built in:\n%s", logBuf)
	}
	if in := data.Inputs; in.Version != "1.1.0" || in.Previous != "1.0.0" || in.Metapackage != "appliance" {
		t.Errorf("inputs %+v", in)
	}
	if len(data.Targets) != 1 {
		t.Fatalf("targets: %+v", data.Targets)
	}
	td := data.Targets[0]
	for _, phase := range []string{integration.Fresh, integration.Upgrade} {
		// The example's 15 checks, the provisioning steps, idempotence, logs.
		if c := td.Phases[phase]; c.Failed+c.Errors != 0 || c.Passed < 18 {
			t.Errorf("%s: %+v", phase, c)
		}
	}
	if c := td.Phases["diff"]; c.Passed != 1 || c.Failed != 0 {
		t.Errorf("state diff %+v", c)
	}
	// UPGRADE really started from production: the base step installed
	// 1.0.0 from the production repository only, provision upgraded.
	up, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/upgrade.log"))
	for _, want := range []string{"base ($PIPELINE_VERSION=1.0.0)", "file:/srv/pipeline/apt/prod stable main",
		"Setting up appliance-agent (1.0.0-1)", "Setting up appliance (1.0.0)",
		"provision ($PIPELINE_VERSION=1.1.0)", "file:/srv/pipeline/apt/new stable main",
		"Unpacking appliance-agent (1.1.0-1) over (1.0.0-1)"} {
		if !strings.Contains(string(up), want) {
			t.Errorf("upgrade log lacks %q:\n%s", want, up)
		}
	}
	snap, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/upgrade.snapshot.txt"))
	if !strings.Contains(string(snap), "package:appliance\t1.1.0") || !strings.Contains(string(snap), "package:appliance-agent\t1.1.0-1\n") {
		t.Errorf("snapshot:\n%s", snap)
	}
}

// An rpm-only build with no provisioning given stops before any target
// starts, exit 2, saying to write provision; with no suites the stage says
// it runs only the built-in phases.
func TestBuiltinProvisioningNeedsAPT(t *testing.T) {
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, ".pipeline", "build", "yum"), 0o755)
	cfg, err := config.Parse("pipeline.yaml", []byte("version: 1\nproject: {name: appliance}\nintegration:\n  scenarios: [fresh]\n  targets: [{name: chroot, runner: chroot}]\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log, logBuf := bufferLog(t)
	env := &stages.Env{Repo: repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{}},
		Log: log, Report: &report.Dir{Path: t.TempDir()}, Forge: gitops.None{},
		Handoff: &handoff.Set{Build: &handoff.Build{ID: "1.0.0", Version: "1.0.0", Metapackage: "appliance",
			Dir: ".pipeline/build", YUMURL: "file:///store/builds/1.0.0/yum"}}}
	_, err = (&integration.Stage{}).Run(context.Background(), env)
	if errs.Code(err) != 2 || !strings.Contains(errs.Format(err), "the build has no APT repository") || !strings.Contains(errs.Format(err), "hint: write integration.provision") {
		t.Fatalf("got %v, want exit 2 saying to write provision", err)
	}
	if !strings.Contains(logBuf.String(), "no suites (integration.suites is empty): running only the built-in phases (provision, idempotence, logs, state)") {
		t.Errorf("log:\n%s", logBuf)
	}
}

// No suites: only the built-in phases run (provision, idempotence, logs),
// and they pass on the example appliance's build.
func TestBuiltinProvisioningWithoutSuites(t *testing.T) {
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mmdebstrap")
	ex := buildtest.BuildExample(t) // v1.0.0
	cfg, err := config.Parse("pipeline.yaml", []byte("version: 1\nproject: {name: appliance}\nintegration:\n  scenarios: [fresh]\n  targets: [{name: chroot, runner: chroot}]\n"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Artifacts.URL = "file://" + ex.Store
	reports := t.TempDir()
	log, logBuf := bufferLog(t)
	env := &stages.Env{Repo: ex.Repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{"XDG_CACHE_HOME": runnertest.CacheDir}},
		Log: log, Report: &report.Dir{Path: reports}, Forge: gitops.None{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := (&integration.Stage{}).Run(ctx, env)
	if res == nil || err != nil || res.Outcome != stages.Passed {
		t.Fatalf("result %+v, err %v\n%s", res, err, logBuf)
	}
	if !strings.Contains(logBuf.String(), "running only the built-in phases") {
		t.Errorf("log:\n%s", logBuf)
	}
	junit, _ := os.ReadFile(filepath.Join(reports, "junit-integration.xml"))
	for _, want := range []string{`name="provision" classname="provision.chroot.fresh"`, `classname="idempotence.chroot.fresh"`, `classname="logs.chroot.fresh"`} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("JUnit lacks %s:\n%s", want, junit)
		}
	}
	if strings.Contains(string(junit), `classname="appliance.`) {
		t.Errorf("a suite ran without suites configured:\n%s", junit)
	}
	snap, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/fresh.snapshot.txt"))
	if !strings.Contains(string(snap), "package:appliance\t1.0.0\n") {
		t.Errorf("the meta-package is not installed; snapshot:\n%s", snap)
	}
}
