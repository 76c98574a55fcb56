// Package build is `pipeline build`: it builds the distribution's
// components, locks every package they produce at its exact version and
// sha256 (dist.lock), builds the meta-package that pins them, writes APT and
// YUM repositories, and publishes it all to the artifact store.
//
// The stage is an ordered list of steps, each a section of the job log:
//
//	revision     commit, SOURCE_DATE_EPOCH and the meta-package version;
//	             a dirty working tree refused (or, --allow-dirty, its own version)
//	components   each component's inputs, key and SOURCE_DATE_EPOCH; its
//	             packages from the component cache, or its command run,
//	             in dependency order
//	lock         read every package, refuse two versions, check dependencies
//	metapackage  the pinned meta-package (deb/rpm, reproducible)
//	archive      refuse a package already published with other bytes
//	repositories APT (pool/, dists/, signed Release) and YUM (createrepo_c)
//	publish      staged, verified, then made current: entry points, then
//	             the manifest last
//
// Files: inputs.go (a component's inputs, time and key), cache.go (the
// component cache in the store), archive.go (the archive rule), dirty.go
// (the working tree against HEAD), publish.go (atomic publish).
//
// Other stages and tests call Build for the typed Output; the buildtest
// package builds examples/appliance into a temporary directory with one
// call, for tests that need a real published repository.
package build

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/metapkg"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Stage is the build stage.
type Stage struct{ Options Options }

// Options are the build's command-line choices.
type Options struct {
	// Rebuild names components to build whatever the component cache
	// holds; "all" is every one.
	Rebuild []string
	// AllowDirty publishes a working tree that differs from HEAD, under a
	// version of its own (…+dirty.<hash>).
	AllowDirty bool
	// Store replaces the store artifacts.url names (tests inject faults).
	Store artifacts.Store
}

// New returns the build stage.
func New() stages.Stage { return Stage{} }

// NewWith returns the build stage with options.
func NewWith(o Options) stages.Stage { return Stage{Options: o} }

// Name is "build".
func (Stage) Name() string { return "build" }

// Output is everything a build produced: the --json data of the stage.
type Output struct {
	Revision     Revision           `json:"revision"`
	Components   []ComponentResult  `json:"components"`
	Lock         *dist.Lock         `json:"lock,omitempty"`
	LockFile     string             `json:"lock_file,omitempty"`
	Unsatisfied  []dist.Unsatisfied `json:"unsatisfied,omitempty"`
	Metapackage  string             `json:"metapackage,omitempty"` // name
	Metapackages []metapkg.Built    `json:"metapackages,omitempty"`
	APT          *APTOutput         `json:"apt,omitempty"`
	YUM          *YUMOutput         `json:"yum,omitempty"`
	Dir          string             `json:"dir"`             // local output directory
	Store        string             `json:"store,omitempty"` // artifact store URL of the build's prefix
	Artifacts    []artifacts.Object `json:"artifacts,omitempty"`
	// Uploaded and Reused count the artifacts sent and those already in
	// the store with the same sha256 (a re-run of the same build).
	Uploaded int               `json:"uploaded"`
	Reused   int               `json:"reused"`
	Manifest *artifacts.Object `json:"manifest,omitempty"`
	LockURL  string            `json:"lock_url,omitempty"` // the published dist.lock
	// Handoff is what later stages and jobs get (stages/handoff), saved in
	// the report dir and published to the store.
	Handoff *handoff.Build `json:"handoff,omitempty"`
	DryRun  *Plan          `json:"plan,omitempty"`
	// Dirty is set when the working tree differed from HEAD (--allow-dirty).
	Dirty *Dirty `json:"dirty,omitempty"`
}

// APTOutput is the published APT repository.
type APTOutput struct {
	Dir       string `json:"dir"` // local copy
	URL       string `json:"url"` // published root (file:// or http(s)://)
	Suite     string `json:"suite"`
	Component string `json:"component"`
	Signed    bool   `json:"signed"`
	KeyURL    string `json:"key_url,omitempty"` // armored public key, when signed
	// Source is the sources.list line for the published repository.
	Source string `json:"source"`
}

// YUMOutput is the published YUM repository.
type YUMOutput struct {
	Dir string `json:"dir"`
	URL string `json:"url"`
}

// Plan is what --dry-run reports instead of building.
type Plan struct {
	Order    []string          `json:"order"`
	Commands map[string]string `json:"commands"`
	Store    string            `json:"store"`
	Prefix   string            `json:"prefix"`
	Found    []string          `json:"found,omitempty"` // package files present now
}

// Run runs the stage and turns the Output into a Result.
func (st Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	out, err := BuildWith(ctx, env, st.Options)
	res := &stages.Result{Outcome: stages.Passed, Data: out}
	switch {
	case err != nil:
		return stages.ErrorResult(res, err)
	case out.DryRun != nil:
		res.Outcome = stages.DryRunned
		res.Summary = fmt.Sprintf("would build %d component(s) as %s %s and publish to %s",
			len(out.DryRun.Order), out.Metapackage, out.Revision.Version, out.Store)
		return res, nil
	}
	reused := 0
	for _, c := range out.Components {
		if c.Reused {
			reused++
		}
	}
	res.Summary = fmt.Sprintf("%s %s: %d packages locked (%d of %d components reused), published to %s",
		out.Metapackage, out.Revision.Version, len(out.Lock.Packages), reused, len(out.Components), out.Store)
	res.Dotenv = out.Handoff.Dotenv()
	if env.Out != nil {
		fmt.Fprintf(env.Out, "meta-package %s=%s\n", out.Metapackage, out.Revision.Version)
		if out.APT != nil {
			fmt.Fprintf(env.Out, "apt source   %s\n", out.APT.Source)
		}
		if out.YUM != nil {
			fmt.Fprintf(env.Out, "yum baseurl  %s\n", out.YUM.URL)
		}
	}
	return res, nil
}

// Dotenv is the variables later CI jobs get from a build: those of its
// hand-off.
func Dotenv(out *Output) map[string]string { return Handoff(out, "", "").Dotenv() }

// Handoff is the build's hand-off to later stages (stages/handoff): dir is
// the local output dir as later jobs should see it (relative to the
// repository), prefix the tag prefix of release versions.
func Handoff(out *Output, dir, prefix string) *handoff.Build {
	h := &handoff.Build{
		ID: out.Revision.BuildID(), Commit: out.Revision.Commit, Release: out.Revision.Release,
		Metapackage: out.Metapackage, Version: out.Revision.Version, TagPrefix: prefix,
		Dir: dir, Store: out.Store, LockURL: out.LockURL,
	}
	if out.LockFile != "" {
		h.Lock = dist.LockFile
	}
	if out.Manifest != nil {
		h.Manifest = out.Manifest.URL
	}
	if out.APT != nil {
		h.APTURL, h.APTSuite, h.APTSource, h.APTKeyURL = out.APT.URL, out.APT.Suite, out.APT.Source, out.APT.KeyURL
	}
	if out.YUM != nil {
		h.YUMURL = out.YUM.URL
	}
	return h
}

// settings are the build section with its defaults filled in.
type settings struct {
	cfg      config.Build
	project  string
	name     string // meta-package name
	parallel int
	outDir   string
	prefix   string // tag prefix
}

func resolve(env *stages.Env) (settings, error) {
	c := env.Config.Build
	s := settings{cfg: c, project: env.Config.Project.Name, parallel: c.Parallel, prefix: c.Metapackage.TagPrefix}
	if fe := c.Validate(); len(fe) > 0 {
		var msgs []string
		for _, e := range fe {
			msgs = append(msgs, "build."+e.Path+": "+e.Msg)
		}
		return s, errs.Usagef("%s", strings.Join(msgs, "\n"))
	}
	if len(c.Components) == 0 {
		return s, errs.New(errs.Usage, fmt.Errorf("build.components is empty: there is nothing to build"),
			"list the distribution's components in pipeline.yaml under build.components (docs/build.md)")
	}
	s.name = c.Metapackage.Name
	if s.name == "" {
		s.name = s.project
	}
	if s.name == "" {
		return s, errs.Usagef("the meta-package has no name: set project.name or build.metapackage.name")
	}
	if s.parallel == 0 {
		s.parallel = runtime.NumCPU()
	}
	if s.prefix == "" {
		s.prefix = "v"
	}
	s.outDir = c.Output
	if s.outDir == "" {
		s.outDir = filepath.Join(".pipeline", "build")
	}
	if !filepath.IsAbs(s.outDir) {
		s.outDir = filepath.Join(env.Repo, s.outDir)
	}
	return s, nil
}

// Build runs the steps of the stage with the default options.
func Build(ctx context.Context, env *stages.Env) (*Output, error) {
	return BuildWith(ctx, env, Options{})
}

// BuildWith runs the steps of the stage and returns what they produced. On
// a failure the Output holds what was done so far.
func BuildWith(ctx context.Context, env *stages.Env, o Options) (*Output, error) {
	s, err := resolve(env)
	if err != nil {
		return nil, err
	}
	rebuild, rebuildAll, err := rebuildSet(o.Rebuild, s.cfg.Components)
	if err != nil {
		return nil, err
	}
	if env.CI.Env == nil { // a caller that built the Env by hand
		env.CI.Env = ci.MapEnv{}
	}
	r := &run{env: env, s: s, o: o, rebuild: rebuild, rebuildAll: rebuildAll, out: &Output{Metapackage: s.name, Dir: s.outDir}}
	defer r.cleanup()
	for _, st := range r.steps() {
		end := env.Log.Step(st.name)
		err := st.run(ctx)
		end()
		if err != nil {
			return r.out, err
		}
	}
	return r.out, nil
}

// makeReadable adds read permission for everyone (and search, on
// directories) below dir.
func makeReadable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := info.Mode().Perm() | 0o444
		if d.IsDir() {
			want |= 0o111
		}
		if want != info.Mode().Perm() {
			return os.Chmod(p, want)
		}
		return nil
	})
}

// repoRel is p relative to repo when inside it, else p.
func repoRel(repo, p string) string {
	if rel, err := filepath.Rel(repo, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return p
}

// replaceDir moves the finished build at src to dst, replacing it.
func replaceDir(src, dst string) error {
	old := dst + ".old"
	_ = os.RemoveAll(old)
	if _, err := os.Stat(dst); err == nil {
		if err := os.Rename(dst, old); err != nil {
			return err
		}
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// relocate points the Output's local paths at the final directory.
func relocate(out *Output, from, to string) {
	fix := func(p string) string {
		if rel, err := filepath.Rel(from, p); err == nil && !strings.HasPrefix(rel, "..") {
			return filepath.Join(to, rel)
		}
		return p
	}
	out.LockFile = fix(out.LockFile)
	for i := range out.Metapackages {
		out.Metapackages[i].Path = fix(out.Metapackages[i].Path)
	}
	if out.APT != nil {
		out.APT.Dir = fix(out.APT.Dir)
	}
	if out.YUM != nil {
		out.YUM.Dir = fix(out.YUM.Dir)
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
