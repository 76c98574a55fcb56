package build_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// lockSums maps "name version arch (format)" to the sha256 in the lock.
func lockSums(out *build.Output) map[string]string {
	m := map[string]string{}
	for _, p := range out.Lock.Packages {
		m[p.String()] = p.SHA256
	}
	return m
}

func component(t *testing.T, out *build.Output, name string) build.ComponentResult {
	t.Helper()
	for _, c := range out.Components {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no component %s in the build", name)
	return build.ComponentResult{}
}

// Bump one of two components and commit, an hour later: the other one's
// packages are taken from the component cache ("reused", verified) with
// the same bytes, and built again (--rebuild) they still come out with
// the same bytes, because their SOURCE_DATE_EPOCH is the last commit that
// changed their inputs, not HEAD's.
func TestUnchangedComponentKeepsItsBytes(t *testing.T) {
	ex := buildtest.BuildExample(t)
	first := lockSums(ex.Out)
	cfg1 := component(t, ex.Out, "appliance-config")
	if cfg1.Reused || cfg1.Key == "" {
		t.Fatalf("first build: appliance-config reused=%v key=%q", cfg1.Reused, cfg1.Key)
	}

	buildtest.BumpComponent(t, ex.Repo, "appliance-agent", "1.1.0")
	var log bytes.Buffer
	next := ex.Rebuild(t, "v1.1.0", buildtest.Options{Log: &log})
	cfg, agent := component(t, next.Out, "appliance-config"), component(t, next.Out, "appliance-agent")
	if !cfg.Reused || cfg.Key != cfg1.Key {
		t.Errorf("appliance-config: reused=%v key %s (was %s), want reused under the same key", cfg.Reused, cfg.Key, cfg1.Key)
	}
	if agent.Reused || agent.Key == component(t, ex.Out, "appliance-agent").Key {
		t.Errorf("appliance-agent changed but reused=%v, key %s", agent.Reused, agent.Key)
	}
	if !strings.Contains(log.String(), "component appliance-config: reused") || !strings.Contains(log.String(), "sha256 verified") {
		t.Errorf("the log does not say appliance-config was reused:\n%s", log.String())
	}
	if !agent.SourceDate.After(cfg.SourceDate) || !cfg.SourceDate.Equal(cfg1.SourceDate) {
		t.Errorf("SOURCE_DATE_EPOCH: agent %s, config %s (first build %s): want the agent's later and the config's unchanged",
			agent.SourceDate, cfg.SourceDate, cfg1.SourceDate)
	}
	second := lockSums(next.Out)
	for _, f := range []string{"deb", "rpm"} {
		var name string
		for _, p := range next.Out.Lock.Packages {
			if p.Name == "appliance-config" && string(p.Format) == f {
				name = p.String()
			}
		}
		if name == "" || first[name] == "" || first[name] != second[name] {
			t.Errorf("appliance-config (%s) %q: sha256 %s, then %s: want the same bytes", f, name, first[name], second[name])
		}
	}

	// Built again for real on the later commit: still the same bytes.
	again, err := ex.Build(t, buildtest.Options{Build: build.Options{Rebuild: []string{"appliance-config"}}})
	if err != nil {
		t.Fatal(err)
	}
	if c := component(t, again, "appliance-config"); c.Reused {
		t.Error("--rebuild appliance-config: reused")
	}
	if c := component(t, again, "appliance-agent"); !c.Reused {
		t.Error("--rebuild appliance-config rebuilt appliance-agent too")
	}
	for name, sum := range lockSums(again) {
		if second[name] != sum {
			t.Errorf("%s rebuilt on the same commit: sha256 %s, was %s", name, sum, second[name])
		}
	}
}

// A component whose bytes changed without a version bump is refused:
// exit 1, naming the package, both sums and what to do; nothing of the
// build is published.
func TestChangedWithoutVersionBumpFails(t *testing.T) {
	ex := buildtest.BuildExample(t)
	old := lockSums(ex.Out)
	conf := filepath.Join(ex.Repo, "components", "appliance-agent", "agent.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(data, []byte("# a new setting\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	next, err := ex.TryRebuild(t, "")
	if errs.KindOf(err) != errs.Failure {
		t.Fatalf("exit %d (%v), want 1", errs.Code(err), err)
	}
	msg := errs.Format(err)
	for _, p := range next.Out.Lock.Packages {
		if p.Name != "appliance-agent" {
			continue
		}
		if !strings.Contains(msg, p.String()) || !strings.Contains(msg, p.SHA256) || !strings.Contains(msg, old[p.String()]) {
			t.Errorf("the error does not name %s with both sums (%s, was %s):\n%s", p, p.SHA256, old[p.String()], msg)
		}
	}
	if strings.Contains(msg, "appliance-config") {
		t.Errorf("the error names appliance-config, which did not change:\n%s", msg)
	}
	if !strings.Contains(msg, "bump the component's version") {
		t.Errorf("the error does not say what to do:\n%s", msg)
	}
	if next.Out.Manifest != nil || next.Out.Store != "" {
		t.Errorf("published after the failure: %v %s", next.Out.Manifest, next.Out.Store)
	}
}

// A dirty working tree is refused (exit 2, naming the files); with
// --allow-dirty it is published under a build id of its own, and the
// commit's clean build is left as it was.
func TestDirtyTree(t *testing.T) {
	ex := buildtest.BuildExample(t)
	motd := filepath.Join(ex.Repo, "components", "appliance-config", "motd")
	if err := os.WriteFile(motd, []byte("changed, not committed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ex.Repo, "NOTES"), []byte("untracked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ex.Build(t)
	if errs.KindOf(err) != errs.Usage {
		t.Fatalf("exit %d (%v), want 2", errs.Code(err), err)
	}
	for _, f := range []string{"components/appliance-config/motd", "NOTES", "--allow-dirty"} {
		if !strings.Contains(errs.Format(err), f) {
			t.Errorf("the error does not name %s:\n%v", f, err)
		}
	}

	manifest := filepath.Join(ex.Store, "builds", ex.Out.Revision.BuildID(), "manifest.json")
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// appliance-config changed without a version bump: --allow-dirty does
	// not lift the archive rule. Bump it (uncommitted) as a developer would.
	buildtest.BumpComponent(t, ex.Repo, "appliance-config", "1.0.1")
	out, err := ex.Build(t, buildtest.Options{Build: build.Options{AllowDirty: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Revision.Version, ex.Out.Revision.Version+"+dirty.") || out.Dirty == nil {
		t.Fatalf("version %s, want %s+dirty.<hash>", out.Revision.Version, ex.Out.Revision.Version)
	}
	if out.Revision.BuildID() == ex.Out.Revision.BuildID() || !strings.Contains(out.Store, out.Revision.BuildID()) {
		t.Errorf("dirty build published to %s", out.Store)
	}
	if c := component(t, out, "appliance-config"); c.Reused {
		t.Error("appliance-config's inputs are dirty, yet it was taken from the cache")
	}
	if c := component(t, out, "appliance-agent"); !c.Reused {
		t.Error("appliance-agent's inputs are clean, yet it was not taken from the cache")
	}
	after, err := os.ReadFile(manifest)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the clean build's manifest changed (%v)", err)
	}
	// The key is HEAD's (the dirty changes are not in it): the entry must
	// still hold the clean packages, not the dirty ones.
	data, err := os.ReadFile(filepath.Join(ex.Store, build.CachePrefix("appliance-config", component(t, out, "appliance-config").Key), "component.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entry build.CachedComponent
	if err := json.Unmarshal(data, &entry); err != nil {
		t.Fatal(err)
	}
	clean := map[string]bool{}
	for _, p := range ex.Out.Lock.Packages {
		clean[p.SHA256] = true
	}
	for _, f := range entry.Files {
		if !clean[f.SHA256] {
			t.Errorf("the cache entry of appliance-config now holds %s (sha256 %s), built from dirty inputs", f.Path, f.SHA256)
		}
	}
}

// The example's packages build under umask 077, and everything in the
// store and the output directory is readable by others (apt's _apt user,
// a web server).
func TestReadableWhateverTheUmask(t *testing.T) {
	old := umask(0o077)
	defer umask(old)
	ex := buildtest.BuildExample(t)
	for _, dir := range []string{ex.Store, ex.Out.Dir} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				t.Error(err)
				return nil
			}
			want := os.FileMode(0o004)
			if info.IsDir() {
				want = 0o005
			}
			if info.Mode().Perm()&want != want {
				t.Errorf("%s: mode %s, not readable by others", p, info.Mode().Perm())
			}
			return nil
		})
	}
	if len(ex.Out.Lock.Format(dist.Deb)) == 0 {
		t.Error("no deb built")
	}
}

// A fixed build.metapackage.version on a later commit that changes what
// the meta-package pins is the archive rule's case too: exit 1 naming the
// meta-package, and the first build stays as it was.
func TestFixedMetapackageVersionOnANewCommitFails(t *testing.T) {
	f := newFixture(t)
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-agent", Version: "1.0-1"})
	f.cfg.Build.Components = []config.Component{{Name: "vendor", Prebuilt: "debs"}}
	f.cfg.Build.Metapackage.Version = "2.0.0"
	first, err := build.Build(context.Background(), f.env(false))
	if err != nil {
		t.Fatal(err)
	}
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-tools", Version: "1.0-1"})
	_, err = build.Build(context.Background(), f.env(false)) // commits the new package
	if errs.Code(err) != 1 {
		t.Fatalf("exit %d, want 1: %v", errs.Code(err), err)
	}
	for _, want := range []string{"appliance 2.0.0 all (deb): published by build 2.0.0", "build.metapackage.version"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(errs.Format(err), "appliance-agent") {
		t.Errorf("the error names appliance-agent, which did not change:\n%v", err)
	}
	if m, found, err := handoff.ReadManifest(context.Background(), mustFileStore(t, filepath.Join(f.repo, "store")), "builds/2.0.0"); !found || err != nil || m.Commit != first.Revision.Commit {
		t.Errorf("the first build is no longer what builds/2.0.0 holds: found %v, commit %s (want %s), %v", found, m.Commit, first.Revision.Commit, err)
	}
}

func mustFileStore(t *testing.T, dir string) *artifacts.FileStore {
	t.Helper()
	st, err := artifacts.NewFileStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
