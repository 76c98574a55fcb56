package build

// The steps after the components: lock, meta-package, repositories.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/stages/build/metapkg"
	"github.com/pipeline-ci/pipeline/stages/build/repo"
)

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
			env.Log.Warnf("the APT repository is not signed (set build.apt.sign.key_env): targets must be told to trust it with [trusted=yes]")
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

// KeyFile is the armored public key published at the APT repository's root
// when the Release is signed.
const KeyFile = "signing-key.asc"
