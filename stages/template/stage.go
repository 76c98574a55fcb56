// Package template is the `pipeline template` stage: it builds the
// developers' VM template from the recipe in pipeline.yaml, and only when
// its inputs changed.
//
// The stage is an ordered list of steps, each in its own log section:
//
//	key      hash every input (recipe, dist.lock, files, scripts, tools, mirror state);
//	         an image for that key already in the store ends the stage here
//	base     the base root filesystem: mmdebstrap, cached per machine
//	rootfs   unpack it, install the pinned meta-package, copy files, create
//	         users, run the provisioning commands (bubblewrap, no host mounts)
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
	"sort"
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
	if err == nil && hand != nil && !env.DryRun {
		if herr := env.HandOn(ctx, b.store, hand); herr != nil {
			err = errs.Infraf("template: hand-off: %w", herr)
		}
	}
	switch {
	case err != nil:
		return stages.ErrorResult(res, err)
	case env.DryRun:
		res.Outcome = stages.DryRunned
		res.Summary = fmt.Sprintf("%s: key %s: would build and publish %s", t.Name, out.Key, strings.Join(b.recipe.Formats, ", "))
		res.Dotenv = nil
	case out.CacheHit:
		res.Outcome = stages.NoChange
		res.Summary = fmt.Sprintf("%s: key %s is already built (version %s): nothing to do", t.Name, out.Key, out.Version)
	default:
		res.Summary = fmt.Sprintf("%s %s: key %s built and published (%d files)", t.Name, out.Version, out.Key, len(out.Files))
	}
	if env.Out != nil && !env.DryRun {
		fmt.Fprintf(env.Out, "template key %s\n", out.Key)
		if out.Catalog != "" {
			fmt.Fprintf(env.Out, "vagrant box add %s\n", out.Catalog)
		}
		if out.Image != "" {
			fmt.Fprintf(env.Out, "qcow2 image  %s\n", out.Image)
		}
	}
	return res, nil
}

func firstLine(s string) string { return text.FirstLine(s) }

type builder struct {
	env    *stages.Env
	opts   Options
	cfg    config.Template
	recipe Recipe
	store  artifacts.Store
	layout StoreLayout
	out    *Output
	work   string
}

// step runs fn in a log section, times it, and logs progress every 15 s
// (elapsed, and bytes written when bytes is not nil).
func (b *builder) step(name, title string, bytes func() int64, fn func() error) error {
	end := b.env.Log.Section("template_"+name, title)
	defer end()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg := fmt.Sprintf("%s: %s elapsed", name, time.Since(start).Round(time.Second))
				if bytes != nil {
					msg += fmt.Sprintf(", %s written", humanBytes(bytes()))
				}
				b.env.Log.Info(msg)
			}
		}
	}()
	err := fn()
	close(done)
	st := StepTiming{Step: name, Seconds: round(time.Since(start).Seconds())}
	if bytes != nil {
		st.Bytes = bytes()
	}
	b.out.Steps = append(b.out.Steps, st)
	if err == nil {
		b.env.Log.Infof("%s: done in %s", name, time.Since(start).Round(time.Millisecond))
	}
	return err
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

	var in Inputs
	if err := b.step("key", "template: key of every input", nil, func() error {
		var err error
		in, err = b.inputs(ctx)
		return err
	}); err != nil {
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
		b.env.Log.Infof("dry run: would build %s for key %s (formats %s) and publish to %s", r.Name, b.out.Key, strings.Join(r.Formats, ", "), b.store.URL(b.layout.Prefix))
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

// build makes, checks and publishes the image.
func (b *builder) build(ctx context.Context, in Inputs) error {
	r := b.recipe
	key := b.out.Key
	now := time.Now
	if b.opts.Now != nil {
		now = b.opts.Now
	}
	built := now().UTC()
	version := built.Format("2006.0102.150405")
	b.out.Version = version
	// One work directory per key; those of earlier keys are old images
	// nobody needs here any more (they are in the store).
	parent := filepath.Join(b.env.Repo, ".pipeline", "template")
	if old, err := os.ReadDir(parent); err == nil {
		for _, d := range old {
			os.RemoveAll(filepath.Join(parent, d.Name()))
		}
	}
	b.work = filepath.Join(parent, key)
	b.out.WorkDir = b.work
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return errs.Infraf("template work dir: %w", err)
	}
	logw := b.env.Log.Writer()
	cacheDir := b.cfg.CacheDir
	if cacheDir == "" {
		cacheDir = "/var/tmp/pipeline-cache/template"
	}

	var base string
	err := b.step("base", "template: base root filesystem (mmdebstrap)", nil, func() error {
		spec := BaseSpecOf(r, in.Mirrors[r.Mirror+" "+r.Suite], rootfs.MmdebstrapVersion(ctx))
		got, err := (rootfs.Cache{Dir: cacheDir, Output: logw}).Get(ctx, spec, false)
		if err != nil {
			return errs.New(errs.Infra, fmt.Errorf("bootstrap %s %s from %s: %w", spec.Distribution, spec.Suite, spec.Mirror, err), "")
		}
		if got.Reused {
			b.env.Log.Infof("base root filesystem from the cache: %s", got.Tarball)
		}
		base = got.Tarball
		return nil
	})
	if err != nil {
		return err
	}

	root := filepath.Join(b.work, "rootfs")
	layout := NewLayout(key, r.DiskSize)
	var hostKey string
	if err := b.step("rootfs", "template: provision the root filesystem", nil, func() error {
		if err := rootfs.Extract(ctx, base, root); err != nil {
			return errs.Infraf("unpack the base: %w", err)
		}
		var perr error
		hostKey, perr = b.provision(ctx, root, layout)
		return perr
	}); err != nil {
		return err
	}

	bf, err := FindBootFiles(root)
	if err != nil {
		return errs.Failuref("%v", err)
	}
	files := map[string]string{} // format → local path
	files["kernel"] = filepath.Join(b.work, "vmlinuz")
	files["initrd"] = filepath.Join(b.work, "initrd.img")
	if err := copyFile(bf.Kernel, files["kernel"]); err != nil {
		return errs.Infraf("%v", err)
	}
	if err := copyFile(bf.Initrd, files["initrd"]); err != nil {
		return errs.Infraf("%v", err)
	}

	raw := filepath.Join(b.work, "disk.raw")
	var written atomic.Int64 // read by the progress ticker
	if err := b.step("disk", "template: GPT disk (EFI + ext4 root)", written.Load, func() error {
		esp, rootImg := filepath.Join(b.work, "esp.img"), filepath.Join(b.work, "root.img")
		if err := MakeESP(ctx, esp, layout, bf, r.Name); err != nil {
			return errs.Infraf("%v", err)
		}
		if err := MakeRootFS(ctx, rootImg, root, layout); err != nil {
			return errs.Failuref("%v", err)
		}
		os.RemoveAll(root) // the largest thing on disk; the image has it now
		if err := AssembleDisk(ctx, raw, layout, esp, rootImg, written.Store); err != nil {
			return errs.Infraf("%v", err)
		}
		os.Remove(esp)
		os.Remove(rootImg)
		return nil
	}); err != nil {
		return err
	}

	base0 := r.FileBase()
	names := map[string]string{"qcow2": base0 + ".qcow2", "qcow2-compressed": base0 + "-compressed.qcow2", "vmdk": base0 + ".vmdk"}
	need := []string{"qcow2"} // the smoke boot and runners use it
	for _, f := range []string{"qcow2-compressed", "vmdk"} {
		if r.Wants(f) || (f == "vmdk" && r.Wants("virtualbox")) || (f == "qcow2-compressed" && r.Wants("libvirt")) {
			need = append(need, f)
		}
	}
	for _, f := range need {
		f := f
		out := filepath.Join(b.work, names[f])
		if err := b.step("format_"+f, "template: "+f+" image", func() int64 { return fileSize(out + ".tmp") }, func() error {
			if err := Convert(ctx, raw, out, f); err != nil {
				return errs.Infraf("%v", err)
			}
			files[f] = out
			return nil
		}); err != nil {
			return err
		}
	}
	os.Remove(raw)

	info := BoxInfo{Name: r.Name, Version: version, Key: key, MemoryMB: 1024, CPUs: 2, Capacity: r.DiskSize, MAC: MACFromKey(key)}
	if err := b.step("boxes", "template: Vagrant boxes", nil, func() error {
		if r.Wants("libvirt") {
			vf, err := RenderVagrantfile("libvirt", info)
			if err != nil {
				return err
			}
			p := filepath.Join(b.work, base0+"-libvirt.box")
			if err := PackBox(p, []BoxFile{
				{Name: "metadata.json", Content: BoxMetadata("libvirt", r.DiskSize)},
				{Name: "Vagrantfile", Content: []byte(vf)},
				{Name: "box.img", Path: files["qcow2-compressed"]},
			}, built); err != nil {
				return errs.Infraf("libvirt box: %v", err)
			}
			files["libvirt"] = p
		}
		if r.Wants("virtualbox") {
			vinfo := info
			vinfo.DiskFile = "box-disk001.vmdk"
			vinfo.DiskFileSize = fileSize(files["vmdk"])
			vf, err := RenderVagrantfile("virtualbox", vinfo)
			if err != nil {
				return err
			}
			ovf, err := RenderOVF(vinfo)
			if err != nil {
				return err
			}
			p := filepath.Join(b.work, base0+"-virtualbox.box")
			if err := PackBox(p, []BoxFile{
				{Name: "metadata.json", Content: BoxMetadata("virtualbox", r.DiskSize)},
				{Name: "Vagrantfile", Content: []byte(vf)},
				{Name: "box.ovf", Content: []byte(ovf)},
				{Name: vinfo.DiskFile, Path: files["vmdk"]},
			}, built); err != nil {
				return errs.Infraf("virtualbox box: %v", err)
			}
			files["virtualbox"] = p
		}
		return nil
	}); err != nil {
		return err
	}

	if !b.opts.NoBoot && !b.cfg.Boot.Off() {
		if err := b.step("smoke", "template: smoke boot", nil, func() error {
			timeout := b.cfg.Boot.Timeout.D()
			if timeout == 0 {
				timeout = 5 * time.Minute
			}
			sb := SmokeBoot{Image: files["qcow2"], Kernel: files["kernel"], Initrd: files["initrd"], Cmdline: layout.Cmdline(),
				HostKey: hostKey, WorkDir: b.work, Timeout: timeout, MemoryMB: b.cfg.Boot.MemoryMB}
			res, err := sb.Run(ctx, r.Metapackage, r.MetapackageVersion)
			b.out.Smoke = res
			if err != nil {
				return errs.Failuref("smoke boot of %s failed: %w", r.Name, err)
			}
			b.env.Log.Infof("smoke boot (%s): state %s after %.0fs; %d pinned packages checked", res.Accel, res.State, res.BootSecs, len(res.Pins))
			if len(res.Problems) > 0 {
				return errs.Failuref("smoke boot of %s: %s (console log: %s)", r.Name, strings.Join(res.Problems, "; "), res.ConsoleLog)
			}
			return nil
		}); err != nil {
			return err
		}
	} else {
		b.env.Log.Info("smoke boot skipped (--no-boot or template.boot.enabled: false)")
	}

	var uploaded atomic.Int64
	return b.step("publish", "template: upload and catalog", uploaded.Load, func() error {
		var order []string
		for f := range files {
			order = append(order, f)
		}
		sort.Strings(order)
		m := Manifest{Name: r.Name, Key: key, Version: version, Created: built.Format(time.RFC3339), Cmdline: layout.Cmdline(),
			HostKey: hostKey, Inputs: in, Smoke: b.out.Smoke}
		for _, f := range order {
			name := filepath.Base(files[f])
			obj, err := b.store.PutFile(ctx, b.layout.Image(key, name), files[f])
			if err != nil {
				return errs.New(errs.Infra, fmt.Errorf("upload %s: %w", name, err), "check the artifact store; a re-run uploads again")
			}
			uploaded.Add(obj.Size)
			b.env.Log.Infof("uploaded %s (%s, sha256 %s)", obj.URL, humanBytes(obj.Size), obj.SHA256[:12])
			m.Files = append(m.Files, File{Format: f, Name: name, Key: obj.Key, URL: b.publicURL(obj.Key), Size: obj.Size, SHA256: obj.SHA256})
		}
		// The manifest last: the key counts as built only once all is there.
		if _, err := putJSON(ctx, b.store, b.layout.Manifest(key), m); err != nil {
			return errs.New(errs.Infra, fmt.Errorf("upload manifest: %w", err), "")
		}
		b.fromManifest(&m)
		var providers []CatalogProvider
		for _, f := range m.Files {
			if f.Format == "libvirt" || f.Format == "virtualbox" {
				providers = append(providers, CatalogProvider{Name: f.Format, URL: f.URL, Checksum: f.SHA256, ChecksumType: "sha256"})
			}
		}
		if len(providers) == 0 {
			return nil
		}
		cv := CatalogVersion{Version: version, Status: "active", Key: key, Created: m.Created, Providers: providers,
			Description: fmt.Sprintf("template key `%s`", key)}
		desc := b.cfg.Description
		cat, pruned, err := PublishCatalog(ctx, b.store, b.layout, r.Name, desc, cv, b.cfg.Retention)
		if err != nil {
			return errs.New(errs.Infra, err, "")
		}
		for _, p := range pruned {
			b.out.Pruned = append(b.out.Pruned, p.Version)
			b.env.Log.Infof("retention %d: removed version %s (key %s)", b.cfg.Retention, p.Version, p.Key)
		}
		b.out.Versions = cat.Versions
		b.env.Log.Infof("catalog %s: %d version(s), newest %s", b.out.Catalog, len(cat.Versions), version)
		return nil
	})
}

// provision turns the unpacked base into the template and returns its SSH
// host key.
func (b *builder) provision(ctx context.Context, root string, layout Layout) (string, error) {
	r := b.recipe
	p := &Provisioner{Root: root, Repo: b.env.Repo, Log: b.env.Log.Writer()}
	if err := p.Prepare(); err != nil {
		return "", errs.Infraf("prepare the root filesystem: %w", err)
	}
	run := func(what, script string) error {
		b.env.Log.Infof("provision: %s", what)
		if _, err := p.Run(ctx, script); err != nil {
			return errs.Failuref("provisioning step %q failed: %w", what, err)
		}
		return nil
	}
	if r.Metapackage != "" {
		src, err := rootfs.ParseSource(r.MetapackageSource)
		if err != nil {
			return "", errs.Usagef("template.metapackage.source: %v", err)
		}
		url := src.URL
		if dir, ok := strings.CutPrefix(url, "file://"); ok {
			url = "file:" + p.Bind(dir)
		}
		script := fmt.Sprintf("echo %s > /etc/apt/sources.list.d/pipeline-template.list\napt-get update -q\napt-get install -y -q --no-install-recommends %s\nrm /etc/apt/sources.list.d/pipeline-template.list\n",
			shellQuote(src.Line(url)), shellQuote(r.Metapackage+"="+r.MetapackageVersion))
		if err := run("install "+r.Metapackage+"="+r.MetapackageVersion, script); err != nil {
			return "", err
		}
	}
	for _, f := range r.Files {
		if err := p.CopyFile(f); err != nil {
			return "", errs.Usagef("%v", err)
		}
	}
	for _, u := range r.Users {
		var keys []string
		for _, k := range u.SSHKeys {
			if k == VagrantInsecureKey {
				k = vagrantInsecurePub
			}
			keys = append(keys, k)
		}
		if err := run("user "+u.Name, UserScript(u, keys)); err != nil {
			return "", err
		}
	}
	// Boot and network setup: fstab for the layout, the EFI mount point,
	// DHCP on every Ethernet link with systemd-networkd.
	p.WriteFile("/etc/fstab", []byte(layout.Fstab()), 0o644)
	p.WriteFile("/etc/hostname", []byte(r.FileBase()+"\n"), 0o644)
	// The image says which template it is (the key is also in the
	// manifest, the catalog and the dotenv).
	p.WriteFile("/etc/pipeline-template", []byte(fmt.Sprintf("NAME=%s\nVERSION=%s\nKEY=%s\n", r.Name, b.out.Version, b.out.Key)), 0o644)
	p.WriteFile("/etc/systemd/network/80-pipeline-dhcp.network", []byte("[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "boot/efi"), 0o755)
	if err := run("enable networking", "systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1 || systemctl enable systemd-networkd.service\n"); err != nil {
		return "", err
	}
	for i, s := range r.Provision {
		script, what := s.Run, s.Run
		if s.Script != "" {
			data, err := os.ReadFile(filepath.Join(b.env.Repo, s.Script))
			if err != nil {
				return "", errs.Usagef("template.provision[%d].script: %v", i, err)
			}
			script, what = string(data), s.Script
		}
		if err := run(fmt.Sprintf("provision[%d]: %s", i, firstLine(what)), script); err != nil {
			return "", err
		}
	}
	if err := p.Finish(); err != nil {
		return "", errs.Infraf("clean the root filesystem: %w", err)
	}
	hk, err := os.ReadFile(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key.pub"))
	if err != nil {
		return "", errs.Failuref("the image has no SSH host key (is openssh-server installed?): %v", err)
	}
	return strings.TrimSpace(string(hk)), nil
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
