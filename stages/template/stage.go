// Package template is the `pipeline template` stage: it builds the
// developers' VM template from the recipe in pipeline.yaml, and only when
// its inputs changed.
//
// The stage is an ordered list of steps, each in its own log section
// (the build steps are one slice, buildSteps in steps.go):
//
//	key      hash every input (recipe, dist.lock, files, scripts, tools, mirror state);
//	         an image for that key already in the store ends the stage here
//	         (also under --dry-run: outcome no-change)
//	base     the base root filesystem: mmdebstrap, cached per machine (internal/rootfs)
//	rootfs   unpack it, install the pinned meta-package, copy files, write the
//	         files every image gets (checked), create users, run the
//	         provisioning commands (bubblewrap, no host mounts)
//	kernel   the kernel and initrd copied out, for direct kernel boots
//	disk     a GPT disk: EFI partition (systemd-boot, kernel, initrd) + ext4 root,
//	         made with mkfs.vfat/mtools, mkfs.ext4 -d and sfdisk, no loop devices
//	formats  qcow2, compressed qcow2, streamOptimized VMDK (qemu-img)
//	boxes    Vagrant boxes for libvirt and VirtualBox
//	smoke    boot it (qemu, snapshot=on) and check the state and the pinned versions
//	publish  upload every file verified by sha256, the manifest, the box catalog
//
// Pure parts (key, catalog, box files, smoke verdict) are apart from the
// I/O so they are tested on their own.
package template

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/rootfs"
	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Options are the stage's flags.
type Options struct {
	Force  bool // rebuild even when the store has an image for the key
	NoBoot bool // skip the smoke boot
	// Store, when set, is used instead of opening artifacts.url (tests).
	Store artifacts.Store
	// Now gives the build time (tests); default time.Now.
	Now func() time.Time
}

// Stage is the template stage.
type Stage struct{ Opts Options }

// New returns the stage with opts.
func New(opts Options) Stage { return Stage{Opts: opts} }

// Name is "template".
func (Stage) Name() string { return "template" }

// Output is the stage's --json data.
type Output struct {
	Name     string           `json:"name"`
	Key      string           `json:"key"`
	CacheHit bool             `json:"cache_hit"`
	Version  string           `json:"version"`
	Catalog  string           `json:"catalog_url,omitempty"`
	Image    string           `json:"image_url,omitempty"`
	Manifest string           `json:"manifest_url,omitempty"`
	Files    []File           `json:"files"`
	Steps    []StepTiming     `json:"steps"`
	Smoke    *SmokeResult     `json:"smoke,omitempty"`
	Pruned   []string         `json:"pruned,omitempty"`
	Inputs   *Inputs          `json:"inputs,omitempty"`
	WorkDir  string           `json:"work_dir,omitempty"`
	Versions []CatalogVersion `json:"-"`
}

// StepTiming is how long a step took.
type StepTiming struct {
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
	Bytes   int64   `json:"bytes,omitempty"`
	Note    string  `json:"note,omitempty"`
}

// Run runs the stage.
func (s Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	t := env.Config.Template
	if !t.Configured() {
		return nil, errs.New(errs.Usage, errors.New("template: pipeline.yaml has no template section (template.name is empty)"),
			"add a `template:` section (see docs/template.md) or remove template from `stages:`")
	}
	if fe := t.Validate(); len(fe) > 0 {
		var msgs []string
		for _, e := range fe {
			msgs = append(msgs, "template."+e.Path+": "+e.Msg)
		}
		return nil, errs.Usagef("%s", strings.Join(msgs, "\n"))
	}
	b := &builder{env: env, opts: s.Opts, cfg: t}
	out, err := b.run(ctx)
	res := &stages.Result{Outcome: stages.Passed, Data: out}
	var hand *handoff.Template
	if out != nil && out.Key != "" {
		hand = &handoff.Template{Box: t.Name, Key: out.Key, Version: out.Version, Commit: env.Commit(ctx),
			Image: out.Image, Manifest: out.Manifest, Catalog: out.Catalog}
		res.Dotenv = hand.Dotenv()
	}
	// A dry run hands on only an image that exists (a cache hit), and
	// HandOn writes nothing then: later stages of the dry run see it.
	if err == nil && hand != nil && (!env.DryRun || out.CacheHit) {
		if herr := env.HandOn(ctx, b.store, hand); herr != nil {
			err = errs.Infraf("template: hand-off: %w", herr)
		}
	}
	switch {
	case err != nil:
		return stages.ErrorResult(res, err)
	case out.CacheHit:
		// Before the dry run: a cache hit is what a real run would find
		// too, and it does nothing either way.
		res.Outcome = stages.NoChange
		res.Summary = fmt.Sprintf("%s: key %s is already built (version %s): nothing to do", t.Name, out.Key, out.Version)
		if env.DryRun {
			res.Summary += " (dry run)"
			res.Dotenv = nil
		}
	case env.DryRun:
		res.Outcome = stages.DryRunned
		res.Summary = fmt.Sprintf("%s: key %s: would build and publish %s", t.Name, out.Key, strings.Join(b.recipe.Formats, ", "))
		res.Dotenv = nil
	default:
		res.Summary = fmt.Sprintf("%s %s: key %s built and published (%d files)", t.Name, out.Version, out.Key, len(out.Files))
	}
	// What a developer needs is printed whenever the image exists: after a
	// build, and on a cache hit (dry run or not).
	if env.Out != nil && (!env.DryRun || out.CacheHit) {
		fmt.Fprintf(env.Out, "template key %s\n", out.Key)
		for _, l := range out.ForDevelopers() {
			fmt.Fprintln(env.Out, l)
		}
	}
	return res, nil
}

// ForDevelopers is what a developer needs to use the image: the
// `vagrant box add` command of each box provider (with several providers
// in the catalog, vagrant would otherwise ask which), and the qcow2 image.
func (o *Output) ForDevelopers() []string {
	var lines []string
	if o.Catalog != "" {
		for _, f := range o.Files {
			if f.Format == "libvirt" || f.Format == "virtualbox" {
				lines = append(lines, fmt.Sprintf("vagrant box add --provider %s %s", f.Format, o.Catalog))
			}
		}
	}
	if o.Image != "" {
		lines = append(lines, "qcow2 image  "+o.Image)
	}
	return lines
}

func firstLine(s string) string { return text.FirstLine(s) }

// builder is one run of the stage: what the steps share.
type builder struct {
	env    *stages.Env
	opts   Options
	cfg    config.Template
	recipe Recipe
	store  artifacts.Store
	layout StoreLayout
	out    *Output

	// Set by prepare and the build steps, in their order.
	in         Inputs
	built      time.Time
	layoutDisk Layout
	work       string
	baseTar    string            // base: the cached base tarball
	root       string            // rootfs: the provisioned tree (gone after disk)
	hostKey    string            // rootfs: the image's SSH host key
	boot       BootFiles         // kernel: kernel and initrd in the tree
	raw        string            // disk: the raw disk image (gone after formats)
	files      map[string]string // format → local file to publish

	written      atomic.Int64           // disk: bytes of the raw disk written
	convertingTo atomic.Pointer[string] // formats: the file being written
	uploaded     atomic.Int64           // publish: bytes uploaded
}

func round(f float64) float64 { return float64(int64(f*1000)) / 1000 }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func (b *builder) run(ctx context.Context) (*Output, error) {
	b.out = &Output{Name: b.cfg.Name, Files: []File{}}
	if err := b.fromBuild(ctx); err != nil {
		return b.out, err
	}
	r, err := NewRecipe(b.cfg)
	if err != nil {
		return b.out, errs.New(errs.Usage, err, "")
	}
	b.recipe = r
	b.layout = StoreLayout{Prefix: StorePrefix(r.Name)}
	if b.opts.Store != nil {
		b.store = b.opts.Store
	} else {
		st, err := artifacts.Open(ctx, b.env.Config.Artifacts.URL, artifacts.Settings{Base: b.env.Repo, S3: b.env.Config.Artifacts.S3, Env: b.env.CI.Env})
		if err != nil {
			return b.out, err
		}
		b.store = st
	}

	// key: hash every input; an image for that key in the store ends the
	// stage here (--force rebuilds it).
	var in Inputs
	if err := b.step(ctx, buildStep{name: "key", title: "key of every input", run: func(ctx context.Context) error {
		var err error
		in, err = b.inputs(ctx)
		return err
	}}); err != nil {
		return b.out, err
	}
	b.out.Key = in.Key()
	b.out.Inputs = &in
	b.env.Log.Infof("template key %s (%d inputs: %s)", b.out.Key, len(in.Names()), strings.Join(in.Names(), ", "))

	m, err := FindManifest(ctx, b.store, b.layout, b.out.Key)
	if err != nil {
		return b.out, errs.New(errs.Infra, err, "check that the artifact store is reachable")
	}
	if m != nil && !b.opts.Force {
		b.env.Log.Infof("an image for key %s is already in the store (version %s, built %s): no rebuild, no upload; --force rebuilds", m.Key, m.Version, m.Created)
		b.fromManifest(m)
		b.out.CacheHit = true
		return b.out, nil
	}
	if m != nil {
		b.env.Log.Infof("--force: rebuilding key %s although the store has it", b.out.Key)
	}
	if b.env.DryRun {
		var names []string
		for _, s := range b.buildSteps() {
			names = append(names, s.name)
		}
		b.env.Log.Infof("dry run: would build %s for key %s (steps %s; formats %s) and publish to %s", r.Name, b.out.Key,
			strings.Join(names, ", "), strings.Join(r.Formats, ", "), b.store.URL(b.layout.Prefix))
		return b.out, nil
	}
	return b.out, b.build(ctx, in)
}

// fromBuild fills an empty meta-package version or source from the build
// stage's hand-off: this run's (`pipeline run build template`), else the
// report dir's (the build job's artifacts), else the store's for this
// commit.
// When the lock (template.metapackage.lock) is missing on this runner, the
// build's output is fetched from the store (Env.EnsureBuild).
func (b *builder) fromBuild(ctx context.Context) error {
	m := &b.cfg.Metapackage
	needMeta := m.Name != "" && (m.Version == "" || m.Source == "")
	needLock := false
	if m.Lock != "" {
		lock := m.Lock
		if !filepath.IsAbs(lock) {
			lock = filepath.Join(b.env.Repo, lock)
		}
		_, err := os.Stat(lock)
		needLock = errors.Is(err, os.ErrNotExist)
	}
	if !needMeta && !needLock {
		return nil
	}
	hand, from, err := b.env.Handoffs(ctx).Build(ctx)
	if err != nil {
		return errs.New(errs.Infra, fmt.Errorf("template.metapackage: looking for the build's hand-off: %w", err), "check that the artifact store is reachable, or set template.metapackage.version and .source")
	}
	if hand != nil && needLock {
		if _, _, err := b.env.EnsureBuild(ctx, hand); err != nil {
			return fmt.Errorf("template.metapackage.lock: %w", err)
		}
	}
	if !needMeta {
		return nil
	}
	if hand != nil {
		if m.Version == "" {
			m.Version = hand.Version
		}
		if m.Source == "" {
			m.Source = hand.APTSource
		}
		b.env.Log.Infof("meta-package %s %s from the build's hand-off (%s)", m.Name, m.Version, from)
	}
	if m.Version == "" || m.Source == "" {
		return errs.New(errs.Usage, fmt.Errorf("template.metapackage: %s needs a version and a source, and no build of this commit handed one on (not in this run, the report dir or the artifact store)", m.Name),
			"run the build stage first (its hand-off is found in the report dir or the store), or set template.metapackage.version and .source")
	}
	return nil
}

// StorePrefix is the store folder of a box name.
func StorePrefix(name string) string { return "template/" + strings.ReplaceAll(name, "/", "-") }

func (b *builder) fromManifest(m *Manifest) {
	b.out.Version = m.Version
	b.out.Files = m.Files
	b.out.Smoke = m.Smoke
	b.out.Manifest = b.publicURL(b.layout.Manifest(m.Key))
	for _, f := range m.Files {
		switch f.Format {
		case "qcow2":
			b.out.Image = f.URL
		case "libvirt", "virtualbox": // a catalog exists only for boxes
			b.out.Catalog = b.publicURL(b.layout.Catalog())
		}
	}
}

func (b *builder) publicURL(key string) string {
	if b.cfg.PublicURL != "" {
		return strings.TrimRight(b.cfg.PublicURL, "/") + "/" + strings.TrimPrefix(key, "/")
	}
	return b.store.URL(key)
}

// inputs gathers everything the image is made of.
func (b *builder) inputs(ctx context.Context) (Inputs, error) {
	r := b.recipe
	in := Inputs{Recipe: r, Files: map[string]string{}, Tools: map[string]string{}, Mirrors: map[string]string{}, Builder: BuilderVersion}
	hash := func(what, p string) error {
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(b.env.Repo, p)
		}
		data, err := os.ReadFile(full)
		if err != nil {
			return errs.New(errs.Usage, fmt.Errorf("template.%s: %w", what, err), "the path is relative to the repository")
		}
		s := sha256.Sum256(data)
		in.Files[p] = hex.EncodeToString(s[:])
		return nil
	}
	if lock := b.cfg.Metapackage.Lock; lock != "" {
		if err := hash("metapackage.lock", lock); err != nil {
			return in, err
		}
	}
	for _, f := range r.Files {
		if err := hash("files", f.Src); err != nil {
			return in, err
		}
	}
	for _, s := range r.Provision {
		if s.Script != "" {
			if err := hash("provision", s.Script); err != nil {
				return in, err
			}
		}
	}
	// The tool versions and the mirrors' Release files are independent:
	// gather them at once, so a cache hit costs the slowest, not the sum.
	tools := [][]string{{"mmdebstrap", "--version"}, {"mkfs.ext4", "-V"}, {"qemu-img", "--version"}, {"sfdisk", "--version"}}
	if v, ok := toolPackages(ctx); ok {
		// The host's packages say it best (mkfs.vfat and mtools print no
		// version); the version lines stay for hosts without dpkg.
		for k, ver := range v {
			in.Tools[k] = ver
		}
		tools = nil
	}
	sources := []string{fmt.Sprintf("deb %s %s %s", r.Mirror, r.Suite, strings.Join(r.Components, " "))}
	if r.MetapackageSource != "" {
		sources = append(sources, r.MetapackageSource)
	}
	parsed := make([]rootfs.Source, len(sources))
	for i, line := range sources {
		src, err := rootfs.ParseSource(line)
		if err != nil {
			return in, errs.New(errs.Usage, fmt.Errorf("template.metapackage.source: %w", err), "")
		}
		parsed[i] = src
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for _, t := range tools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := rootfs.ToolVersion(ctx, t[0], t[1:]...)
			mu.Lock()
			in.Tools[t[0]] = v
			mu.Unlock()
		}()
	}
	for _, src := range parsed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			state, err := rootfs.MirrorState(ctx, src)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = errs.New(errs.Infra, err, "check the mirror URL and suite, and that this machine reaches it")
			}
			in.Mirrors[src.URL+" "+src.Suite] = state
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return in, firstErr
	}
	return in, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}
