package build

// The stage as an ordered list of named steps, and the steps after the
// components: lock, meta-package, repositories.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/metapkg"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// run is one run of the stage: what its steps share.
type run struct {
	env        *stages.Env
	s          settings
	o          Options
	rebuild    map[string]bool
	rebuildAll bool
	out        *Output

	// Set by the steps, in their order.
	prefix    string            // revision: the build's store prefix
	signer    *repo.Signer      // prepare
	store     artifacts.Store   // prepare
	work      string            // prepare: the new output, swapped in by output
	inspected []*dist.Inspected // lock, metapackage: every package file
	pkgs      []dist.Package    // metapackage: the same, as packages
}

// step is one step of the stage; its name is its log section.
type step struct {
	name string
	run  func(ctx context.Context) error
}

// steps are the stage's steps in order; a dry run stops after the
// revision and says what it would do.
func (r *run) steps() []step {
	if r.env.DryRun {
		return []step{
			// commit, SOURCE_DATE_EPOCH and the meta-package version
			{"revision", r.stepRevision},
			// the components' order and commands, the store it would publish to
			{"plan", r.stepPlan},
		}
	}
	return []step{
		// commit, SOURCE_DATE_EPOCH and the meta-package version; a dirty
		// working tree refused (or, --allow-dirty, its own version)
		{"revision", r.stepRevision},
		// the signing key and the store, checked before anything is built;
		// a fresh work directory
		{"prepare", r.stepPrepare},
		// each component from the component cache, or built, in dependency order
		{"components", r.stepComponents},
		// read every package, refuse two versions, check dependencies
		{"lock", r.stepLock},
		// the pinned meta-package (deb/rpm, reproducible)
		{"metapackage", r.stepMetapackage},
		// refuse a package already published with other bytes
		{"archive", r.stepArchive},
		// APT (pool/, dists/, signed Release) and YUM (createrepo_c)
		{"repositories", r.stepRepositories},
		// the finished build replaces the output directory, readable by all
		{"output", r.stepOutput},
		// upload, verified, with a manifest; the hand-off last
		{"publish", r.stepPublish},
	}
}

// cleanup removes the work directory when the build stopped before it
// was swapped in.
func (r *run) cleanup() {
	if r.work != "" {
		os.RemoveAll(r.work)
	}
}

func (r *run) stepRevision(ctx context.Context) error {
	env, s, out := r.env, r.s, r.out
	var err error
	out.Revision, err = resolveRevision(ctx, env.Repo, env.CI.Env, env.CI.Tag, s.cfg.Metapackage.Version, s.prefix, !env.DryRun, env.Log.Warnf)
	if err != nil {
		return err
	}
	kind := "snapshot"
	if out.Revision.Release {
		kind = "release"
	}
	env.Log.Infof("%s %s (%s) of commit %.12s, SOURCE_DATE_EPOCH=%d", s.name, out.Revision.Version, kind, out.Revision.Commit, out.Revision.Time.Unix())
	if out.Revision.Commit != "" {
		if err := checkDirty(ctx, env, s, r.o, out); err != nil {
			return err
		}
	}
	r.prefix = handoff.BuildPrefix(out.Revision.BuildID())
	return nil
}

func (r *run) stepPlan(ctx context.Context) error {
	if err := dryRun(ctx, r.env, r.s, r.out, r.prefix); err != nil {
		return err
	}
	// Later stages of this dry run see what would be built (no local
	// dir: nothing is there to fetch or use); nothing is written.
	r.out.Handoff = Handoff(r.out, "", r.s.prefix)
	return r.env.HandOn(ctx, nil, r.out.Handoff)
}

func (r *run) stepPrepare(ctx context.Context) error {
	var err error
	if r.signer, err = signerFor(r.env, r.s); err != nil {
		return err
	}
	r.store = r.o.Store
	if r.store == nil {
		r.store, err = artifacts.Open(ctx, r.env.Config.Artifacts.URL, artifacts.Settings{Base: r.env.Repo, S3: r.env.Config.Artifacts.S3, Env: r.env.CI.Env})
		if err != nil {
			return err
		}
	}
	// Everything is built in a fresh directory that replaces the output
	// directory only when complete, so no half-written repository is left.
	outDir := r.s.outDir
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return errs.Infraf("build output: %w", err)
	}
	r.work, err = os.MkdirTemp(filepath.Dir(outDir), "."+filepath.Base(outDir)+".new-")
	if err != nil {
		return errs.Infraf("build output: %w", err)
	}
	return nil
}

func (r *run) stepComponents(ctx context.Context) error {
	env := r.env
	plan := &componentPlan{cache: r.store, rebuild: r.rebuild, rebuildAll: r.rebuildAll, dirty: r.out.Dirty.files(), config: "pipeline.yaml"}
	if rel, ok := insideRepo(env.Repo, env.Config.Path); ok {
		plan.config = rel
	}
	var err error
	if plan.inputs, err = componentInputs(ctx, env, r.out.Revision); err != nil {
		return err
	}
	order := Order(r.s.cfg.Components)
	env.Log.Infof("building %d component(s), %d at a time: %s", len(order), r.s.parallel, strings.Join(order, ", "))
	r.out.Components, err = buildComponents(ctx, env, r.s.cfg.Components, r.s.parallel, plan)
	return err
}

func (r *run) stepLock(ctx context.Context) error {
	var err error
	r.inspected, err = lockStep(r.env, r.s, r.out, r.work)
	return err
}

func (r *run) stepMetapackage(ctx context.Context) error {
	meta, err := metapackageStep(r.env, r.s, r.out, r.work)
	if err != nil {
		return err
	}
	r.inspected = append(r.inspected, meta...)
	for _, in := range r.inspected {
		r.pkgs = append(r.pkgs, in.Package)
	}
	return nil
}

func (r *run) stepArchive(ctx context.Context) error { return archiveStep(ctx, r.env, r.store, r.pkgs) }

func (r *run) stepRepositories(ctx context.Context) error {
	return repositoriesStep(ctx, r.env, r.s, r.out, r.work, r.inspected, r.signer)
}

func (r *run) stepOutput(ctx context.Context) error {
	// Readable by apt's _apt user and a web server whatever the umask.
	if err := makeReadable(r.work); err != nil {
		return errs.Infraf("build output: %w", err)
	}
	if err := replaceDir(r.work, r.s.outDir); err != nil {
		return errs.Infraf("build output %s: %w", r.s.outDir, err)
	}
	relocate(r.out, r.work, r.s.outDir)
	r.work = "" // it is the output directory now
	return nil
}

func (r *run) stepPublish(ctx context.Context) error {
	env, out := r.env, r.out
	if err := publishStep(ctx, env, r.store, r.s, out, r.prefix, r.pkgs); err != nil {
		return err
	}
	// The hand-off last: once it is in the store, the build is complete.
	out.Handoff = Handoff(out, repoRel(env.Repo, r.s.outDir), r.s.prefix)
	if err := env.HandOn(ctx, r.store, out.Handoff); err != nil {
		return err
	}
	env.Log.Infof("hand-off for later jobs published: %s", r.store.URL(handoff.CommitKey(out.Revision.Commit, "build")))
	return nil
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
		if errors.Is(err, repo.ErrArchitecture) {
			return errs.New(errs.Usage, err, "")
		}
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
		if signer == nil {
			unsignedNotice(env, out.Revision.Release)
		}
	}
	enabled := has(dist.RPM)
	if y := s.cfg.YUM.Enabled; y != nil {
		enabled = *y
	}
	if enabled {
		dir := filepath.Join(work, "yum")
		r, err := repo.WriteYUM(ctx, dir, pkgs, out.Revision.Time)
		if errors.Is(err, repo.ErrNoCreaterepo) {
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

// unsignedNotice says that the APT repository is not signed, at the level
// it deserves and so once a run: a warning for a release build (what
// servers will trust), an info line for a snapshot, and only at debug level
// in promote's probes (PIPELINE_PROMOTE_COMMIT set: each probe is a build,
// and the run that started promote has said it already).
func unsignedNotice(env *stages.Env, release bool) {
	const msg = "the APT repository is not signed (set build.apt.sign.key_env): targets must be told to trust it with [trusted=yes]"
	_, probe := env.CI.Env.Lookup("PIPELINE_PROMOTE_COMMIT")
	switch {
	case probe:
		env.Log.Debug(msg)
	case release:
		env.Log.Warn(msg)
	default:
		env.Log.Info(msg)
	}
}

// KeyFile is the armored public key published at the APT repository's root
// when the Release is signed.
const KeyFile = "signing-key.asc"
