package build

// Publishing to the artifact store, and what --dry-run says instead.

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

func publishStep(ctx context.Context, env *stages.Env, store artifacts.Store, s settings, out *Output, prefix string, pkgs []dist.Package) error {
	out.Store = store.URL(prefix)
	env.Log.Infof("publishing to %s (staged under %s first)", out.Store, store.URL(StagingPrefix(prefix)))
	sent, reused := 0, 0
	m := artifacts.Manifest{Build: out.Revision.BuildID(), Version: out.Revision.Version, Commit: out.Revision.Commit}
	if out.Dirty != nil {
		// A dirty build's packages bind no version: the commit that
		// follows builds them at their own time, with other bytes.
		pkgs = nil
	}
	objs, manifest, err := PublishBuild(ctx, store, prefix, s.outDir, m, pkgs, func(o artifacts.Object, was bool) {
		if was {
			reused++
		} else {
			sent++
		}
		env.Log.Debugf("staged %s (%d bytes, sha256 %.16s, %s)", o.Key, o.Size, o.SHA256, map[bool]string{true: "already there", false: "uploaded, verified"}[was])
	})
	out.Artifacts, out.Uploaded, out.Reused = objs, sent, reused
	if err != nil {
		return fmt.Errorf("publish %s: %w (the build is not published: what was there before is unchanged and still what users install)", out.Store, err)
	}
	if out.APT != nil {
		out.APT.URL = store.URL(prefix + "/apt")
		opts := []string{}
		if out.APT.Signed {
			out.APT.KeyURL = store.URL(prefix + "/apt/" + KeyFile)
		} else {
			opts = append(opts, "trusted=yes")
		}
		out.APT.Source = fmt.Sprintf("deb %s%s %s %s", bracket(opts), out.APT.URL, out.APT.Suite, out.APT.Component)
	}
	if out.YUM != nil {
		out.YUM.URL = store.URL(prefix + "/yum")
	}
	out.LockURL = store.URL(prefix + "/" + dist.LockFile)
	out.Manifest = &manifest
	env.Log.Infof("published %d file(s) (%d uploaded and verified, %d already there) and the manifest %s", len(objs), sent, reused, manifest.URL)
	return nil
}

// StagingPrefix is where a build's files are uploaded and verified before
// any of them appears under the build's own prefix.
func StagingPrefix(prefix string) string { return path.Join("staging", prefix) }

// isPointer says whether rel (a path in the build) is one of the
// repositories' indexes: apt/dists/ (Release, InRelease, Packages) and
// yum/repodata/. apt and dnf reach the packages only through them (apt
// reads Packages even without a Release when told to trust a source), so
// they are made current after the manifest, when every package is there.
func isPointer(rel string) bool {
	return strings.HasPrefix(rel, "apt/dists/") || strings.HasPrefix(rel, "yum/repodata/")
}

// isEntry says whether the index rel is read first (Release, InRelease,
// repomd.xml): those go last of all.
func isEntry(rel string) bool {
	switch path.Base(rel) {
	case "InRelease", "Release", "Release.gpg", "repomd.xml", "repomd.xml.asc":
		return true
	}
	return false
}

// PublishBuild publishes the build in dir under prefix in one step as
// far as anyone reading the store can tell:
//
//  1. every file not already under prefix with the same sha256 is
//     uploaded under StagingPrefix(prefix) and verified;
//  2. the packages' archive records are written (packages/…);
//  3. the staged files are copied (server-side on S3) to prefix, but
//     for the repositories' indexes (apt/dists/, yum/repodata/);
//  4. the manifest is written, the last file of the build;
//  5. the indexes are copied, Release, InRelease and repomd.xml last:
//     they are the pointers through which apt and dnf reach the
//     packages, so the install URL leads to the build only now, when
//     every package is there. The staging copy is deleted.
//
// A publish that stops anywhere leaves either no manifest and no index
// (apt and dnf find nothing at the build's URL), or a manifest with
// every package stored and only some indexes (its Pointers), which
// handoff.ReadManifest, through artifacts.Complete, does not give later
// stages; a previous build is never touched.
// progress is told of each file: reused when it was already stored.
func PublishBuild(ctx context.Context, st artifacts.Store, prefix, dir string, m artifacts.Manifest, pkgs []dist.Package, progress artifacts.Progress) ([]artifacts.Object, artifacts.Object, error) {
	staging := StagingPrefix(prefix)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		return nil, artifacts.Object{}, fmt.Errorf("publish %s: %w", dir, err)
	}
	sort.Strings(files)
	var done, data, pointers []artifacts.Object // done: already current
	for _, rel := range files {
		local := filepath.Join(dir, filepath.FromSlash(rel))
		sum, size, err := artifacts.HashFile(local)
		if err != nil {
			return nil, artifacts.Object{}, err
		}
		key := prefix + "/" + rel
		if have, err := st.Stat(ctx, key); err == nil && have.SHA256 == sum && have.Size == size {
			done = append(done, have)
			report(progress, have, true)
			continue
		}
		obj, err := st.Stat(ctx, staging+"/"+rel)
		reused := err == nil && obj.SHA256 == sum && obj.Size == size
		if !reused {
			if obj, err = st.PutFile(ctx, staging+"/"+rel, local); err != nil {
				return nil, artifacts.Object{}, err
			}
		}
		report(progress, obj, reused)
		if isPointer(rel) {
			pointers = append(pointers, obj)
		} else {
			data = append(data, obj)
		}
	}
	sort.SliceStable(pointers, func(i, j int) bool { return !isEntry(pointers[i].Key) && isEntry(pointers[j].Key) })
	if err := recordPackages(ctx, st, pkgs, m.Build); err != nil {
		return nil, artifacts.Object{}, fmt.Errorf("archive records: %w", err)
	}
	final := func(o artifacts.Object) string { return prefix + "/" + strings.TrimPrefix(o.Key, staging+"/") }
	objs := done
	for _, o := range data {
		obj, err := artifacts.Copy(ctx, st, o.Key, final(o))
		if err != nil {
			return nil, artifacts.Object{}, err
		}
		objs = append(objs, obj)
	}
	for _, o := range pointers { // listed in the manifest as they will be
		objs = append(objs, artifacts.Object{Key: final(o), URL: st.URL(final(o)), Size: o.Size, SHA256: o.SHA256})
		m.Pointers = append(m.Pointers, final(o))
	}
	for _, o := range done {
		if isPointer(strings.TrimPrefix(o.Key, prefix+"/")) {
			m.Pointers = append(m.Pointers, o.Key)
		}
	}
	sort.Strings(m.Pointers)
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	m.Objects = objs
	manifest, err := artifacts.WriteManifest(ctx, st, prefix, m)
	if err != nil {
		return nil, artifacts.Object{}, err
	}
	for _, o := range pointers {
		if _, err := artifacts.Copy(ctx, st, o.Key, final(o)); err != nil {
			return nil, artifacts.Object{}, err
		}
	}
	for _, o := range append(data, pointers...) { // best effort: a leftover is only space
		_ = st.Delete(ctx, o.Key)
	}
	return objs, manifest, nil
}

func report(p artifacts.Progress, o artifacts.Object, reused bool) {
	if p != nil {
		p(o, reused)
	}
}

func bracket(opts []string) string {
	if len(opts) == 0 {
		return ""
	}
	return "[" + strings.Join(opts, " ") + "] "
}

func dryRun(ctx context.Context, env *stages.Env, s settings, out *Output, prefix string) error {
	plan := &Plan{Order: Order(s.cfg.Components), Commands: map[string]string{}, Prefix: prefix}
	for _, c := range s.cfg.Components {
		if c.Command != "" {
			plan.Commands[c.Name] = c.Command
		} else {
			plan.Commands[c.Name] = "(prebuilt: " + c.Prebuilt + ")"
		}
		if files, err := findPackages(env.Repo, c); err == nil {
			plan.Found = append(plan.Found, files...)
		}
	}
	sort.Strings(plan.Found)
	plan.Store = env.Config.Artifacts.URL
	if plan.Store == "" {
		plan.Store = "file://.pipeline/artifacts"
	}
	out.Store = strings.TrimRight(plan.Store, "/") + "/" + prefix
	out.DryRun = plan
	for _, n := range plan.Order {
		env.Log.Infof("dry run: would build component %s: %s", n, plan.Commands[n])
	}
	env.Log.Infof("dry run: would lock the packages, build %s %s, write the repositories into %s and publish them to %s (nothing is run, written or uploaded)",
		s.name, out.Revision.Version, s.outDir, out.Store)
	return nil
}
