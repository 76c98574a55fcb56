package build_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// failingStore fails its failAt-th write (Put, PutFile or Copy), as a
// publish killed or cut off there would stop.
type failingStore struct {
	artifacts.Store
	failAt, writes int
}

var errInjected = errors.New("injected failure")

func (f *failingStore) write(key string) error {
	f.writes++
	if f.writes == f.failAt {
		return fmt.Errorf("write %d (%s): %w", f.writes, key, errInjected)
	}
	return nil
}

func (f *failingStore) PutFile(ctx context.Context, key, path string) (artifacts.Object, error) {
	if err := f.write(key); err != nil {
		return artifacts.Object{}, err
	}
	return f.Store.PutFile(ctx, key, path)
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader, size int64) (artifacts.Object, error) {
	if err := f.write(key); err != nil {
		return artifacts.Object{}, err
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f *failingStore) Copy(ctx context.Context, src, dst string) (artifacts.Object, error) {
	if err := f.write(dst); err != nil {
		return artifacts.Object{}, err
	}
	return artifacts.Copy(ctx, f.Store, src, dst)
}

// complete checks that the build under prefix has a manifest whose every
// object is stored with its sha256.
func complete(t *testing.T, st artifacts.Store, prefix string) artifacts.Manifest {
	t.Helper()
	var buf strings.Builder
	if err := st.Get(context.Background(), prefix+"/manifest.json", &buf); err != nil {
		t.Fatalf("%s: %v", prefix, err)
	}
	var m artifacts.Manifest
	if err := json.Unmarshal([]byte(buf.String()), &m); err != nil {
		t.Fatal(err)
	}
	for _, o := range m.Objects {
		if got, err := st.Stat(context.Background(), o.Key); err != nil || got.SHA256 != o.SHA256 {
			t.Errorf("%s: %v, sha256 %s, manifest says %s", o.Key, err, got.SHA256, o.SHA256)
		}
	}
	return m
}

// unreachable checks that the failed build under prefix is not read by
// later stages (handoff.ReadManifest does not find it), and that its install URLs lead
// nowhere (no index under apt/dists/ or yum/repodata/) unless its manifest
// is written, every package it lists being then stored: the failure came
// while the indexes were being written, and what apt or dnf reaches
// through one is in the store.
func unreachable(t *testing.T, st artifacts.Store, prefix string, when string) {
	t.Helper()
	ctx := context.Background()
	if m, found, err := handoff.ReadManifest(ctx, st, prefix); err != nil || found {
		t.Errorf("%s: later stages would read the failed build %s (%d objects, %v)", when, prefix, len(m.Objects), err)
	}
	var reachable []string
	for _, dir := range []string{"apt/dists/", "yum/repodata/"} {
		objs, err := st.List(ctx, prefix+"/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			reachable = append(reachable, o.Key)
		}
	}
	if len(reachable) == 0 {
		return
	}
	var buf strings.Builder
	if err := st.Get(ctx, prefix+"/manifest.json", &buf); err != nil {
		t.Errorf("%s: %v reachable, but the build has no manifest (%v)", when, reachable, err)
		return
	}
	var m artifacts.Manifest
	if err := json.Unmarshal([]byte(buf.String()), &m); err != nil {
		t.Fatal(err)
	}
	for _, o := range m.Objects {
		if strings.Contains(o.Key, "/apt/dists/") || strings.Contains(o.Key, "/yum/repodata/") {
			continue // the indexes, being written
		}
		if got, err := st.Stat(ctx, o.Key); err != nil || got.SHA256 != o.SHA256 {
			t.Errorf("%s: %v reachable, but %s is missing or differs (%v)", when, reachable, o.Key, err)
		}
	}
}

// A publish that fails at any one of its writes (as a killed one stops
// there) leaves the previous build complete and what users install, and
// nothing of the failed build reachable from its install URL; the run that
// finally succeeds makes it complete.
func TestPublishFailingAtEachWrite(t *testing.T) {
	ex := buildtest.BuildExample(t)
	template := ex.Store
	// The next version, built into a scratch store: its output directory
	// is what is published below, again and again.
	oldDir := filepath.Join(t.TempDir(), "old")
	if err := copyDir(ex.Out.Dir, oldDir); err != nil {
		t.Fatal(err)
	}
	buildtest.BumpComponent(t, ex.Repo, "appliance-agent", "1.1.0")
	scratch, err := artifacts.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	next, err := ex.TryRebuild(t, "v1.1.0", buildtest.Options{Build: build.Options{Store: scratch}})
	if err != nil {
		t.Fatal(err)
	}
	pkgs := next.Out.Lock.Packages
	for _, m := range next.Out.Metapackages {
		in, err := dist.Inspect(m.Path)
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, in.Package)
	}
	oldPrefix, newPrefix := "builds/"+ex.Out.Revision.BuildID(), "builds/"+next.Out.Revision.BuildID()
	manifest := artifacts.Manifest{Build: next.Out.Revision.BuildID(), Version: next.Out.Revision.Version}

	var last *artifacts.FileStore
	failures := 0
	for n := 1; ; n++ {
		dir := filepath.Join(t.TempDir(), "store")
		if err := copyDir(template, dir); err != nil {
			t.Fatal(err)
		}
		inner, err := artifacts.NewFileStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		st := &failingStore{Store: inner, failAt: n}
		_, _, err = build.PublishBuild(context.Background(), st, newPrefix, next.Out.Dir, manifest, pkgs, nil)
		if err == nil {
			if st.writes >= n {
				t.Fatalf("write %d was to fail, but the publish succeeded", n)
			}
			complete(t, inner, newPrefix)
			complete(t, inner, oldPrefix)
			if _, found, err := handoff.ReadManifest(context.Background(), inner, newPrefix); !found || err != nil {
				t.Errorf("the published build is not found complete: %v", err)
			}
			break
		}
		if !errors.Is(err, errInjected) {
			t.Fatalf("write %d: %v", n, err)
		}
		failures++
		when := fmt.Sprintf("after a failure at write %d", n)
		complete(t, inner, oldPrefix)
		if _, found, err := handoff.ReadManifest(context.Background(), inner, oldPrefix); !found || err != nil {
			t.Errorf("%s: the previous build is not found complete: %v", when, err)
		}
		unreachable(t, inner, newPrefix, when)
		if _, err := inner.Stat(context.Background(), newPrefix+"/manifest.json"); err != nil {
			last = inner // the last failure before the manifest
		}
	}
	if failures < 20 {
		t.Errorf("only %d write(s) were failed: the publish writes too little to be checked", failures)
	}

	t.Run("s3", func(t *testing.T) {
		// The same against a real MinIO, at every third write: each run in
		// a fresh prefix holding the previous build, published whole.
		srv := miniotest.Start(t)
		bucket := srv.Bucket(t)
		ctx := context.Background()
		oldManifest := artifacts.Manifest{Build: ex.Out.Revision.BuildID(), Version: ex.Out.Revision.Version}
		for n := 1; ; n += 3 {
			inner, err := artifacts.NewS3Store(ctx, bucket, fmt.Sprintf("run%d", n), artifacts.S3Options{
				Endpoint: srv.Endpoint, Insecure: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := build.PublishBuild(ctx, inner, oldPrefix, oldDir, oldManifest, ex.Out.Lock.Packages, nil); err != nil {
				t.Fatal(err)
			}
			st := &failingStore{Store: inner, failAt: n}
			_, _, err = build.PublishBuild(ctx, st, newPrefix, next.Out.Dir, manifest, pkgs, nil)
			if err == nil {
				complete(t, inner, newPrefix)
				if _, found, err := handoff.ReadManifest(ctx, inner, newPrefix); !found || err != nil {
					t.Errorf("the published build is not found complete: %v", err)
				}
				if n < 20 {
					t.Errorf("succeeded when failing write %d: too few writes to check", n)
				}
				break
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("write %d: %v", n, err)
			}
			when := fmt.Sprintf("S3, after a failure at write %d", n)
			complete(t, inner, oldPrefix)
			unreachable(t, inner, newPrefix, when)
		}
	})

	// apt, after the last failure before the manifest (every file of the
	// new build stored but the manifest and entry points): the previous
	// build installs; the failed one's install URL has no repository.
	url := func(prefix string) string { return "file://" + filepath.Join(last.Root, prefix, "apt") }
	apt := newAptRoot(t, []string{"deb [trusted=yes] " + url(oldPrefix) + " stable main"}, "")
	if o, err := apt.run("update"); err != nil {
		t.Fatalf("apt-get update of the previous build: %v\n%s", err, o)
	}
	o, err := apt.run("install", "-s", "-y", ex.Metapackage())
	if got, want := installs(o), lockedDebs(ex.Out); err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the previous build would install:\n%s\nwant:\n%s\n%v %s", strings.Join(got, "\n"), strings.Join(want, "\n"), err, o)
	}
	failed := newAptRoot(t, []string{"deb [trusted=yes] " + url(newPrefix) + " stable main"}, "")
	if o, err := failed.run("update"); err == nil {
		t.Logf("apt-get update of the failed build's URL passed:\n%s", o)
	}
	if o, err := failed.run("install", "-s", "-y", next.Metapackage()); err == nil {
		t.Errorf("apt-get would install %s from the failed build's URL:\n%s", next.Metapackage(), o)
	}
	if _, err := last.Stat(context.Background(), newPrefix+"/"+dist.LockFile); err != nil {
		t.Errorf("the last failure before the manifest should have every other file stored: %v", err)
	}
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
