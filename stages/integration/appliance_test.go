package integration_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
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
	"github.com/pipeline-ci/pipeline/stages/integration"
)

// applianceRun builds the example appliance at 1.0.0 (production) and at
// 1.1.0 with the named changes applied (examples/appliance/changes), then
// runs the integration stage with the example's own pipeline.yaml on the
// given targets.
func applianceRun(t *testing.T, changes []string, targets []string) (*stages.Result, *integration.Data, string, error) {
	t.Helper()
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	testutil.NeedRoot(t)
	testutil.NeedTool(t, "mmdebstrap") // the base of integration.bootstrap

	prod := buildtest.BuildExample(t) // v1.0.0, published: production
	for _, c := range changes {
		applyChange(t, prod.Repo, c)
	}
	next := prod.Rebuild(t, "v1.1.0")

	// Nothing handed over by hand: the version under test comes from the
	// build's hand-off in the store (by commit), the production repository
	// from the store's build of the last release (v1.0.0).
	vars := ci.MapEnv{
		// The targets run on the example's integration.bootstrap base,
		// kept with the other tests' (runnertest.BaseCacheDir).
		"XDG_CACHE_HOME": runnertest.CacheDir,
	}
	cfg, err := config.Load(filepath.Join(next.Repo, config.FileName), vars.Lookup)
	if err != nil {
		t.Fatalf("the example's pipeline.yaml: %v", err)
	}
	cfg.Artifacts.URL = "file://" + next.Store
	reports := t.TempDir()
	env := &stages.Env{Repo: next.Repo, Config: cfg, CI: ci.Context{Provider: ci.Terminal, Env: vars},
		Log: testLog(t), Report: &report.Dir{Path: reports}, Forge: gitops.None{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := (&integration.Stage{Opts: integration.Options{Targets: targets}}).Run(ctx, env)
	if res == nil {
		t.Fatalf("no result: %v", err)
	}
	data := res.Data.(*integration.Data)
	if in := data.Inputs; in == nil || in.Version != next.Out.Revision.Version || in.VersionFrom != "the artifact store" ||
		in.Previous != prod.Out.Revision.Version || !strings.HasSuffix(in.Production, "/builds/1.0.0") {
		t.Errorf("inputs: %+v, want version %s from the store's hand-off, production %s from the store", in, next.Out.Revision.Version, prod.Out.Revision.Version)
	}
	return res, data, reports, err
}

// applyChange copies examples/appliance/changes/NAME over the repository.
func applyChange(t *testing.T, repo, name string) {
	t.Helper()
	src := filepath.Join(buildtest.ExampleDir(), "changes", name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(repo, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("apply change %s: %v", name, err)
	}
}

// testLog shows the stage's log under -v.
func testLog(t *testing.T) *logging.Logger {
	if !testing.Verbose() {
		return logging.Discard()
	}
	l, _ := logging.New(testLogWriter{t}, logging.Options{}, nil)
	return l
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// failures returns "suite.target.phase name" of every failed or errored case.
func failures(d *integration.Data) []string {
	var out []string
	for _, td := range d.Targets {
		for _, f := range td.Failures {
			out = append(out, f.Classname()+" "+f.Name)
		}
	}
	return out
}

func has(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// The good change passes everything, on a chroot and in a podman container
// at once.
func TestApplianceGoodChangePasses(t *testing.T) {
	p := runnertest.NewPodman(t)
	for _, e := range p.Env {
		if k, v, ok := strings.Cut(e, "="); ok && strings.HasPrefix(k, "CONTAINERS_") {
			t.Setenv(k, v)
		}
	}
	res, data, reports, err := applianceRun(t, []string{"good"}, nil)
	if err != nil || res.Outcome != stages.Passed {
		t.Fatalf("outcome %s, err %v, failures:\n%s", res.Outcome, err, strings.Join(failures(data), "\n"))
	}
	if len(data.Targets) != 2 {
		t.Fatalf("targets: %+v", data.Targets)
	}
	for _, td := range data.Targets {
		for _, phase := range []string{integration.Fresh, integration.Upgrade} {
			// 15 checks (the TAP script counts its 4 lines), provisioning
			// steps, idempotence and the log scan.
			if c := td.Phases[phase]; c.Failed+c.Errors != 0 || c.Passed < 20 {
				t.Errorf("%s %s: %+v", td.Target, phase, c)
			}
		}
		if c := td.Phases["diff"]; c.Passed != 1 || c.Failed != 0 {
			t.Errorf("%s: state diff %+v", td.Target, c)
		}
	}
	for _, f := range []string{"junit-integration.xml", "integration.json", "integration-comment.md",
		"integration/chroot/fresh.log", "integration/podman/upgrade.snapshot.txt", "integration/chroot/diff.txt"} {
		if _, err := os.Stat(filepath.Join(reports, f)); err != nil {
			t.Errorf("report %s: %v", f, err)
		}
	}
	junit, _ := os.ReadFile(filepath.Join(reports, "junit-integration.xml"))
	for _, want := range []string{`classname="appliance.chroot.fresh"`, `classname="appliance.podman.upgrade"`, `name="smoke/2 agent writes its state file"`, `classname="idempotence.chroot.upgrade"`} {
		if !strings.Contains(string(junit), want) {
			t.Errorf("JUnit lacks %s", want)
		}
	}
	snap, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/upgrade.snapshot.txt"))
	if !strings.Contains(string(snap), "package:appliance-agent\t1.1.0-1\n") || !strings.Contains(string(snap), "service:appliance-agent\tenabled\n") {
		t.Errorf("snapshot:\n%s", snap)
	}
}

func TestApplianceBadChangeFreshOnly(t *testing.T) {
	t.Parallel() // long and mostly waiting: overlap with the others
	res, data, _, err := applianceRun(t, []string{"good", "bad-fresh-only"}, []string{"chroot"})
	f := failures(data)
	if errs.KindOf(err) != errs.Failure || res.Outcome != stages.Failed {
		t.Fatalf("want a failure (exit 1), got %v", err)
	}
	if !has(f, "appliance.chroot.fresh agent-enabled") {
		t.Errorf("FRESH should fail on agent-enabled: %v", f)
	}
	if has(f, "appliance.chroot.upgrade") || has(f, "provision.chroot.upgrade") {
		t.Errorf("UPGRADE should pass: %v", f)
	}
}

func TestApplianceBadChangeUpgradeOnly(t *testing.T) {
	t.Parallel() // long and mostly waiting: overlap with the others
	res, data, reports, err := applianceRun(t, []string{"good", "bad-upgrade-only"}, []string{"chroot"})
	f := failures(data)
	if errs.KindOf(err) != errs.Failure || res.Outcome != stages.Failed {
		t.Fatalf("want a failure (exit 1), got %v", err)
	}
	if !has(f, "provision.chroot.upgrade provision") || !has(f, "logs.chroot.upgrade /var/log/apt/term.log:") {
		t.Errorf("UPGRADE provisioning should fail and the log scan see it: %v", f)
	}
	if has(f, "appliance.chroot.fresh") || has(f, "provision.chroot.fresh") || has(f, "logs.chroot.fresh") {
		t.Errorf("FRESH should pass: %v", f)
	}
	// The failure is summed up by the postinst's own words (real dpkg, real
	// apt), not by apt's last line.
	const why = "provision exited 100: mv: cannot stat '/var/lib/appliance-agent/status': No such file or directory"
	for _, td := range data.Targets {
		for _, c := range td.Failures {
			if c.Classname() == "provision.chroot.upgrade" && c.Name == "provision" && c.Message != why {
				t.Errorf("provision failure message:\n got %q\nwant %q", c.Message, why)
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/upgrade.log"))
	if !strings.Contains(string(log), "mv: cannot stat '/var/lib/appliance-agent/status'") {
		t.Errorf("upgrade log lacks the postinst's error:\n%s", log)
	}
}

func TestApplianceBadChangeStateDrift(t *testing.T) {
	t.Parallel() // long and mostly waiting: overlap with the others
	res, data, reports, err := applianceRun(t, []string{"good", "bad-state-drift"}, []string{"chroot"})
	f := failures(data)
	if errs.KindOf(err) != errs.Failure || res.Outcome != stages.Failed {
		t.Fatalf("want a failure (exit 1), got %v", err)
	}
	if len(f) != 1 || f[0] != "state.chroot.diff file:/etc/appliance/agent.conf" {
		t.Fatalf("want exactly the obsolete conffile in the state diff, got %v", f)
	}
	msg := data.Targets[0].Failures[0].Message
	if !strings.HasPrefix(msg, "file:/etc/appliance/agent.conf: fresh (absent), upgrade file 644 root:root sha256=") {
		t.Errorf("diff message %q", msg)
	}
	diff, _ := os.ReadFile(filepath.Join(reports, "integration/chroot/diff.txt"))
	if !strings.Contains(string(diff), "fresh:   (absent)") {
		t.Errorf("diff.txt:\n%s", diff)
	}
}
