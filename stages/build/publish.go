package build

// Publishing to the artifact store, and what --dry-run says instead.

import (
	"context"
	"fmt"
	"path"
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

// isPointer says whether rel (a path in the build) is an entry point of a
// repository: the file apt or dnf reads first and that names every other
// one by its checksum. They are made current after every other file, so
// the install URL leads nowhere until the whole repository is there.
func isPointer(rel string) bool {
	switch path.Base(rel) {
	case "InRelease", "Release", "Release.gpg":
		return strings.HasPrefix(rel, "apt/dists/")
	case "repomd.xml", "repomd.xml.asc":
		return strings.HasPrefix(rel, "yum/repodata/")
	}
	return false
}

// PublishBuild publishes the build in dir under prefix in one step as
// far as anyone reading the store can tell:
//
//  1. every file is uploaded under StagingPrefix(prefix) and verified;
//  2. the packages' archive records are written (packages/…);
//  3. the files are copied (server-side on S3) to prefix, the
//     repositories' entry points (Release, InRelease, repomd.xml) last;
//  4. the manifest is written last of all, and the staging copy deleted.
//
// A publish that stops anywhere before 4 leaves no manifest (so later
// stages do not see the build) and, before 3 ends, no entry point (so
// apt and dnf cannot use its URL); a previous build is never touched.
// Files already stored with the same sha256 are not sent again.
func PublishBuild(ctx context.Context, st artifacts.Store, prefix, dir string, m artifacts.Manifest, pkgs []dist.Package, progress artifacts.Progress) ([]artifacts.Object, artifacts.Object, error) {
	staging := StagingPrefix(prefix)
	staged, err := artifacts.PublishDir(ctx, st, staging, dir, progress)
	if err != nil {
		return nil, artifacts.Object{}, err
	}
	if err := recordPackages(ctx, st, pkgs, m.Build); err != nil {
		return nil, artifacts.Object{}, fmt.Errorf("archive records: %w", err)
	}
	var data, pointers []artifacts.Object
	for _, o := range staged {
		if isPointer(strings.TrimPrefix(o.Key, staging+"/")) {
			pointers = append(pointers, o)
		} else {
			data = append(data, o)
		}
	}
	var objs []artifacts.Object
	for _, o := range append(data, pointers...) {
		key := prefix + "/" + strings.TrimPrefix(o.Key, staging+"/")
		if have, err := st.Stat(ctx, key); err == nil && have.SHA256 == o.SHA256 && have.Size == o.Size {
			objs = append(objs, have)
			continue
		}
		obj, err := artifacts.Copy(ctx, st, o.Key, key)
		if err != nil {
			return objs, artifacts.Object{}, err
		}
		objs = append(objs, obj)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	m.Objects = objs
	manifest, err := artifacts.WriteManifest(ctx, st, prefix, m)
	if err != nil {
		return objs, artifacts.Object{}, err
	}
	for _, o := range staged { // best effort: a leftover is only space
		_ = st.Delete(ctx, o.Key)
	}
	return objs, manifest, nil
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
