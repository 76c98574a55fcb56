// Package build is `pipeline build`: it builds the distribution's
// components, locks every package they produce at its exact version and
// sha256 (dist.lock), builds the meta-package that pins them, writes APT and
// YUM repositories, and publishes it all to the artifact store.
//
// The stage is an ordered list of steps, each a section of the job log:
//
//	revision     commit, SOURCE_DATE_EPOCH and the meta-package version
//	components   run each component's command, in dependency order
//	lock         read every package, refuse two versions, check dependencies
//	metapackage  the pinned meta-package (deb/rpm, reproducible)
//	repositories APT (pool/, dists/, signed Release) and YUM (createrepo_c)
//	publish      upload to the artifact store, verified, with a manifest
//
// Other stages and tests call Build for the typed Output; the buildtest
// package builds examples/appliance into a temporary directory with one
// call, for tests that need a real published repository.
package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/metapkg"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

// Stage is the build stage.
type Stage struct{}

// New returns the build stage.
func New() stages.Stage { return Stage{} }

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
	DryRun   *Plan             `json:"plan,omitempty"`
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
func (Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	out, err := Build(ctx, env)
	res := &stages.Result{Outcome: stages.Passed, Data: out}
	switch {
	case err != nil && errs.KindOf(err) == errs.Failure:
		res.Outcome, res.Summary = stages.Failed, firstLine(err.Error())
		return res, err
	case err != nil:
		res.Outcome, res.Summary = stages.Errored, firstLine(err.Error())
		return res, err
	case out.DryRun != nil:
		res.Outcome = stages.DryRunned
		res.Summary = fmt.Sprintf("would build %d component(s) as %s %s and publish to %s",
			len(out.DryRun.Order), out.Metapackage, out.Revision.Version, out.Store)
		return res, nil
	}
	res.Summary = fmt.Sprintf("%s %s: %d packages locked, published to %s", out.Metapackage, out.Revision.Version, len(out.Lock.Packages), out.Store)
	res.Dotenv = Dotenv(out)
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

// Dotenv is the variables later CI jobs get from a build.
func Dotenv(out *Output) map[string]string {
	d := map[string]string{
		"PIPELINE_METAPACKAGE":         out.Metapackage + "=" + out.Revision.Version,
		"PIPELINE_METAPACKAGE_NAME":    out.Metapackage,
		"PIPELINE_METAPACKAGE_VERSION": out.Revision.Version,
		"PIPELINE_BUILD_ID":            out.Revision.BuildID(),
	}
	if out.APT != nil {
		d["PIPELINE_REPO_URL"] = out.APT.URL
		d["PIPELINE_APT_SUITE"] = out.APT.Suite
		d["PIPELINE_APT_SOURCE"] = out.APT.Source
		if out.APT.KeyURL != "" {
			d["PIPELINE_APT_KEY_URL"] = out.APT.KeyURL
		}
	}
	if out.YUM != nil {
		d["PIPELINE_YUM_URL"] = out.YUM.URL
		if out.APT == nil {
			d["PIPELINE_REPO_URL"] = out.YUM.URL
		}
	}
	if out.Manifest != nil {
		d["PIPELINE_MANIFEST_URL"] = out.Manifest.URL
	}
	return d
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

// Build runs the steps of the stage and returns what they produced. On a
// failure the Output holds what was done so far.
func Build(ctx context.Context, env *stages.Env) (*Output, error) {
	s, err := resolve(env)
	if err != nil {
		return nil, err
	}
	if env.CI.Env == nil { // a caller that built the Env by hand
		env.CI.Env = ci.MapEnv{}
	}
	out := &Output{Metapackage: s.name, Dir: s.outDir}

	// revision: commit, SOURCE_DATE_EPOCH and the meta-package version
	end := env.Log.Step("revision")
	out.Revision, err = resolveRevision(ctx, env.Repo, env.CI.Env, env.CI.Tag, s.cfg.Metapackage.Version, s.prefix)
	if err == nil {
		kind := "snapshot"
		if out.Revision.Release {
			kind = "release"
		}
		env.Log.Infof("%s %s (%s) of commit %.12s, SOURCE_DATE_EPOCH=%d", s.name, out.Revision.Version, kind, out.Revision.Commit, out.Revision.Time.Unix())
	}
	end()
	if err != nil {
		return out, err
	}
	prefix := "builds/" + out.Revision.BuildID()

	if env.DryRun {
		return out, dryRun(ctx, env, s, out, prefix)
	}

	// Everything is built in a fresh directory that replaces the output
	// directory only when complete, so no half-written repository is left.
	work, err := os.MkdirTemp(filepath.Dir(s.outDir), "."+filepath.Base(s.outDir)+".new-")
	if err != nil {
		if mkErr := os.MkdirAll(filepath.Dir(s.outDir), 0o755); mkErr == nil {
			work, err = os.MkdirTemp(filepath.Dir(s.outDir), "."+filepath.Base(s.outDir)+".new-")
		}
		if err != nil {
			return out, errs.Infraf("build output: %w", err)
		}
	}
	defer os.RemoveAll(work)

	// components: run each component's command, in dependency order
	end = env.Log.Step("components")
	order := Order(s.cfg.Components)
	env.Log.Infof("building %d component(s), %d at a time: %s", len(order), s.parallel, strings.Join(order, ", "))
	out.Components, err = buildComponents(ctx, env, s.cfg.Components, s.parallel, out.Revision.Time, out.Revision.Version)
	end()
	if err != nil {
		return out, err
	}

	// lock: read every package, refuse two versions, check dependencies
	end = env.Log.Step("lock")
	inspected, err := lockStep(env, s, out, work)
	end()
	if err != nil {
		return out, err
	}

	// metapackage: the pinned meta-package (deb/rpm, reproducible)
	end = env.Log.Step("metapackage")
	metaFiles, err := metapackageStep(env, s, out, work)
	end()
	if err != nil {
		return out, err
	}
	inspected = append(inspected, metaFiles...)

	// repositories: APT (pool/, dists/, signed Release) and YUM (createrepo_c)
	end = env.Log.Step("repositories")
	signer, err := signerFor(env, s)
	if err == nil {
		err = repositoriesStep(ctx, env, s, out, work, inspected, signer)
	}
	end()
	if err != nil {
		return out, err
	}

	// Swap the finished build in.
	if err := replaceDir(work, s.outDir); err != nil {
		return out, errs.Infraf("build output %s: %w", s.outDir, err)
	}
	relocate(out, work, s.outDir)

	// publish: upload to the artifact store, verified, with a manifest
	end = env.Log.Step("publish")
	err = publishStep(ctx, env, s, out, prefix)
	end()
	return out, err
}

func lockStep(env *stages.Env, s settings, out *Output, work string) ([]*dist.Inspected, error) {
	var inspected []*dist.Inspected
	var pkgs []dist.Package
	for _, c := range out.Components {
		for _, f := range c.Files {
			in, err := dist.Inspect(filepath.Join(env.Repo, f))
			if err != nil {
				return nil, errs.Failuref("component %s: %w", c.Name, err)
			}
			in.Component = c.Name
			inspected = append(inspected, in)
			pkgs = append(pkgs, in.Package)
		}
	}
	lock, err := dist.NewLock(pkgs)
	if err != nil {
		return nil, errs.Failuref("lock: %w", err)
	}
	out.Lock = lock
	data := lock.Marshal()
	out.LockFile = filepath.Join(work, dist.LockFile)
	if err := dist.WriteFileAtomic(out.LockFile, data, 0o644); err != nil {
		return nil, errs.Infraf("%w", err)
	}
	reported, _ := env.Report.WriteFile(dist.LockFile, data)
	if old, err := dist.ReadLock(filepath.Join(s.outDir, dist.LockFile)); err == nil {
		if d := dist.Diff(old, lock); len(d) > 0 {
			env.Log.Infof("changes since the previous local build:\n  %s", strings.Join(d, "\n  "))
		}
	}
	for _, p := range lock.Packages {
		env.Log.Infof("locked %s sha256:%.16s", p.String(), p.SHA256)
	}

	base, err := loadBase(env.Repo, s.cfg.Base)
	if err != nil {
		return nil, err
	}
	out.Unsatisfied = dist.Check(lock, base)
	if len(out.Unsatisfied) > 0 {
		// The work directory goes; the copy in the report dir stays to look at.
		out.LockFile = reported
		var lines []string
		for _, u := range out.Unsatisfied {
			lines = append(lines, "  "+u.String())
		}
		return nil, errs.New(errs.Failure,
			fmt.Errorf("%d dependenc(ies) of our packages are satisfied by no package of the build and not by the base distribution:\n%s", len(out.Unsatisfied), strings.Join(lines, "\n")),
			"add the missing package as a component, or list what the base distribution provides under build.base.packages / build.base.index")
	}
	env.Log.Infof("%d package(s) locked; every dependency is satisfied", len(lock.Packages))
	return inspected, nil
}

func loadBase(repoDir string, b config.BuildBase) (*dist.Base, error) {
	base := dist.NewBase(b.Packages...)
	for _, p := range b.Index {
		path := p
		if !filepath.IsAbs(path) {
			path = filepath.Join(repoDir, p)
		}
		text, err := readMaybeGzip(path)
		if err != nil {
			return nil, errs.New(errs.Usage, fmt.Errorf("build.base.index %s: %w", p, err), "give the path of a Debian Packages (or Packages.gz) file")
		}
		if err := base.AddIndex(text); err != nil {
			return nil, errs.Usagef("build.base.index %s: %w", p, err)
		}
	}
	return base, nil
}

func metapackageStep(env *stages.Env, s settings, out *Output, work string) ([]*dist.Inspected, error) {
	formats, err := metaFormats(s.cfg.Metapackage.Formats, out.Lock)
	if err != nil {
		return nil, err
	}
	m := s.cfg.Metapackage
	spec := metapkg.Spec{
		Name: s.name, Version: out.Revision.Version, Project: s.project, Commit: out.Revision.Commit,
		Maintainer: m.Maintainer, Vendor: m.Vendor, Homepage: m.Homepage, License: m.License,
		Description: m.Description, Time: out.Revision.Time, Formats: formats,
	}
	dir := filepath.Join(work, "metapackages")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errs.Infraf("%w", err)
	}
	built, err := metapkg.Build(spec, out.Lock, dir)
	if err != nil {
		return nil, errs.Infraf("%w", err)
	}
	out.Metapackages = built
	var inspected []*dist.Inspected
	for _, b := range built {
		in, err := dist.Inspect(b.Path)
		if err != nil {
			return nil, errs.Infraf("meta-package: %w", err)
		}
		in.Component = "metapackage"
		inspected = append(inspected, in)
		env.Log.Infof("%s sha256:%.16s pins %d package(s): %s", b.File, in.SHA256, len(b.Pins), strings.Join(b.Pins, ", "))
	}
	return inspected, nil
}

// metaFormats is the configured formats, or the formats in the lock.
func metaFormats(configured []string, lock *dist.Lock) ([]dist.Format, error) {
	var out []dist.Format
	if len(configured) > 0 {
		for _, f := range configured {
			out = append(out, dist.Format(f))
			if len(lock.Format(dist.Format(f))) == 0 {
				return nil, errs.Usagef("build.metapackage.formats lists %s, but no component produced a .%s package", f, f)
			}
		}
		return out, nil
	}
	for _, f := range []dist.Format{dist.Deb, dist.RPM} {
		if len(lock.Format(f)) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

func signerFor(env *stages.Env, s settings) (*repo.Signer, error) {
	sign := s.cfg.APT.Sign
	if sign.KeyEnv == "" {
		return nil, nil
	}
	key, _ := env.CI.Env.Lookup(sign.KeyEnv)
	if strings.TrimSpace(key) == "" {
		return nil, errs.New(errs.Usage, fmt.Errorf("build.apt.sign.key_env names %s, which is empty or not set", sign.KeyEnv),
			"set it (a masked CI variable) to the armored private key: gpg --armor --export-secret-keys KEYID")
	}
	pass := ""
	if sign.PassphraseEnv != "" {
		pass, _ = env.CI.Env.Lookup(sign.PassphraseEnv)
	}
	env.Log.Masker().Add(pass)
	signer, err := repo.NewSigner(key, pass)
	if err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("APT signing key from %s: %w", sign.KeyEnv, err), "")
	}
	return signer, nil
}

func repositoriesStep(ctx context.Context, env *stages.Env, s settings, out *Output, work string, pkgs []*dist.Inspected, signer *repo.Signer) error {
	has := func(f dist.Format) bool {
		for _, p := range pkgs {
			if p.Format == f {
				return true
			}
		}
		return false
	}
	if has(dist.Deb) {
		a := s.cfg.APT
		opts := repo.APTOptions{
			Suite: a.Suite, Component: a.Component, Origin: orDefault(a.Origin, s.project), Label: orDefault(a.Label, s.project),
			Architectures: a.Architectures, Date: out.Revision.Time, Signer: signer,
		}
		dir := filepath.Join(work, "apt")
		r, err := repo.WriteAPT(dir, pkgs, opts)
		if err != nil {
			return errs.Infraf("%w", err)
		}
		out.APT = &APTOutput{Dir: dir, Suite: r.Suite, Component: r.Component, Signed: r.Signed}
		if signer != nil {
			pub, err := signer.PublicKey()
			if err != nil {
				return errs.Infraf("export the public key: %w", err)
			}
			if err := dist.WriteFileAtomic(filepath.Join(dir, KeyFile), pub, 0o644); err != nil {
				return errs.Infraf("%w", err)
			}
			env.Log.Infof("Release signed with key %s", signer.KeyID())
		}
		env.Log.Infof("APT repository: %d file(s), suite %s, component %s", len(r.Files), r.Suite, r.Component)
	}
	enabled := has(dist.RPM)
	if y := s.cfg.YUM.Enabled; y != nil {
		enabled = *y
	}
	if enabled {
		dir := filepath.Join(work, "yum")
		r, err := repo.WriteYUM(ctx, dir, pkgs, out.Revision.Time)
		if err == repo.ErrNoCreaterepo {
			return errs.New(errs.Infra, err, "")
		}
		if err != nil {
			return errs.Infraf("%w", err)
		}
		out.YUM = &YUMOutput{Dir: dir}
		env.Log.Infof("YUM repository: %d file(s)", len(r.Files))
	}
	return nil
}

// KeyFile is the armored public key published at the APT repository's root
// when the Release is signed.
const KeyFile = "signing-key.asc"

func publishStep(ctx context.Context, env *stages.Env, s settings, out *Output, prefix string) error {
	store, err := artifacts.Open(ctx, env.Config.Artifacts.URL, artifacts.Settings{Base: env.Repo, S3: env.Config.Artifacts.S3, Env: env.CI.Env})
	if err != nil {
		return err
	}
	out.Store = store.URL(prefix)
	env.Log.Infof("publishing to %s", out.Store)
	sent, reused := 0, 0
	objs, err := artifacts.PublishDir(ctx, store, prefix, s.outDir, func(o artifacts.Object, was bool) {
		if was {
			reused++
		} else {
			sent++
		}
		env.Log.Debugf("published %s (%d bytes, sha256 %.16s, %s)", o.Key, o.Size, o.SHA256, map[bool]string{true: "already there", false: "uploaded, verified"}[was])
	})
	out.Artifacts, out.Uploaded, out.Reused = objs, sent, reused
	if err != nil {
		return err
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
	m, err := artifacts.WriteManifest(ctx, store, prefix, artifacts.Manifest{
		Build: out.Revision.BuildID(), Version: out.Revision.Version, Commit: out.Revision.Commit, Objects: objs,
	})
	if err != nil {
		return err
	}
	out.Manifest = &m
	env.Log.Infof("published %d file(s) (%d uploaded and verified, %d already there) and the manifest %s", len(objs), sent, reused, m.URL)
	return nil
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

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
