package template

// The build of a template for a new key: an ordered list of named steps,
// each a log section (template_NAME) and a StepTiming in the output.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/rootfs"
)

// buildStep is one step of a build.
type buildStep struct {
	name  string
	title string
	run   func(ctx context.Context) error
	// bytes, when set, is what the step has written so far: its progress
	// lines say it.
	bytes func() int64
	// skip, when set and it returns a reason, skips the step.
	skip func() string
	// quiet: the step logs progress of its own (the base: packages
	// fetched and installed), so no elapsed-time lines are added.
	quiet bool
}

// buildSteps are the steps that make, check and publish the image, in
// order. A step that fails stops the build: publish is last, so a broken
// image is never uploaded.
func (b *builder) buildSteps() []buildStep {
	return []buildStep{
		// the base root filesystem: mmdebstrap, cached per machine
		{name: "base", title: "base root filesystem (mmdebstrap)", run: b.stepBase, quiet: true},
		// unpack it, install the meta-package, files, users, provisioning
		{name: "rootfs", title: "provision the root filesystem", run: b.stepRootfs},
		// kernel and initrd out of the root filesystem, for direct boots
		{name: "kernel", title: "kernel and initrd", run: b.stepKernel},
		// GPT disk: EFI partition + ext4 root, no loop devices
		{name: "disk", title: "GPT disk (EFI + ext4 root)", run: b.stepDisk, bytes: b.written.Load},
		// qcow2, compressed qcow2, streamOptimized VMDK
		{name: "formats", title: "disk image formats (qemu-img)", run: b.stepFormats, bytes: b.converting},
		// Vagrant boxes for libvirt and VirtualBox
		{name: "boxes", title: "Vagrant boxes", run: b.stepBoxes},
		// boot it once and check the state and the pinned versions
		{name: "smoke", title: "smoke boot", run: b.stepSmoke, skip: b.skipSmoke},
		// upload every file by sha256, the manifest last, then the catalog
		{name: "publish", title: "upload and catalog", run: b.stepPublish, bytes: b.uploaded.Load},
	}
}

// build makes, checks and publishes the image for the key in b.out.
func (b *builder) build(ctx context.Context, in Inputs) error {
	if err := b.prepare(in); err != nil {
		return err
	}
	for _, s := range b.buildSteps() {
		if s.skip != nil {
			if why := s.skip(); why != "" {
				b.env.Log.Infof("%s: skipped (%s)", s.name, why)
				continue
			}
		}
		if err := b.step(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// prepare sets what every step shares: the version, the build time and a
// fresh work directory for the key.
func (b *builder) prepare(in Inputs) error {
	now := time.Now
	if b.opts.Now != nil {
		now = b.opts.Now
	}
	b.in = in
	b.built = now().UTC()
	b.out.Version = b.built.Format("2006.0102.150405")
	b.layoutDisk = NewLayout(b.out.Key, b.recipe.DiskSize)
	b.files = map[string]string{}
	// One work directory per key; those of earlier keys are old images
	// nobody needs here any more (they are in the store).
	parent := filepath.Join(b.env.Repo, ".pipeline", "template")
	if old, err := os.ReadDir(parent); err == nil {
		for _, d := range old {
			os.RemoveAll(filepath.Join(parent, d.Name()))
		}
	}
	b.work = filepath.Join(parent, b.out.Key)
	b.out.WorkDir = b.work
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return errs.Infraf("template work dir: %w", err)
	}
	return nil
}

// step runs s in a log section and times it. Unless the step is quiet it
// logs progress every 15 s: elapsed, and bytes written when it counts them.
func (b *builder) step(ctx context.Context, s buildStep) error {
	end := b.env.Log.Section("template_"+s.name, "template: "+s.title)
	defer end()
	start := time.Now()
	done := make(chan struct{})
	if !s.quiet {
		go func() {
			t := time.NewTicker(15 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					msg := fmt.Sprintf("%s: %s elapsed", s.name, time.Since(start).Round(time.Second))
					if s.bytes != nil {
						msg += fmt.Sprintf(", %s written", humanBytes(s.bytes()))
					}
					b.env.Log.Info(msg)
				}
			}
		}()
	}
	err := s.run(ctx)
	close(done)
	st := StepTiming{Step: s.name, Seconds: round(time.Since(start).Seconds())}
	if s.bytes != nil {
		st.Bytes = s.bytes()
	}
	b.out.Steps = append(b.out.Steps, st)
	if err == nil {
		b.env.Log.Infof("%s: done in %s", s.name, time.Since(start).Round(time.Millisecond))
	}
	return err
}

// baseCacheDir is where bases are kept on this machine.
func (b *builder) baseCacheDir() string {
	if b.cfg.CacheDir != "" {
		return b.cfg.CacheDir
	}
	return DefaultCacheDir
}

// DefaultCacheDir is the template's base cache when template.cache_dir is
// not set.
const DefaultCacheDir = "/var/tmp/pipeline-cache/template"

func (b *builder) stepBase(ctx context.Context) error {
	r := b.recipe
	spec := BaseSpecOf(r, b.in.Mirrors[r.Mirror+" "+r.Suite], rootfs.MmdebstrapVersion(ctx))
	cache := rootfs.Cache{Dir: b.baseCacheDir(), Log: func(m string) { b.env.Log.Info(m) }, Every: time.Minute,
		APTCache: rootfs.SharedAPTCache(b.env.Lookup)}
	got, err := cache.Get(ctx, spec, false)
	if err != nil {
		return errs.New(errs.Infra, fmt.Errorf("bootstrap %s %s from %s: %w", spec.Distribution, spec.Suite, spec.Mirror, err),
			"check that this machine reaches the mirror; the full mmdebstrap output is in the log above")
	}
	if got.Reused {
		b.env.Log.Infof("base root filesystem from the cache: %s", got.Tarball)
	}
	b.baseTar = got.Tarball
	return nil
}

func (b *builder) stepRootfs(ctx context.Context) error {
	b.root = filepath.Join(b.work, "rootfs")
	if err := rootfs.Extract(ctx, b.baseTar, b.root); err != nil {
		return errs.Infraf("unpack the base: %w", err)
	}
	var err error
	b.hostKey, err = b.provision(ctx, b.root)
	return err
}

func (b *builder) stepKernel(ctx context.Context) error {
	bf, err := FindBootFiles(b.root)
	if err != nil {
		return errs.Failuref("%v", err)
	}
	b.boot = bf
	b.files["kernel"] = filepath.Join(b.work, "vmlinuz")
	b.files["initrd"] = filepath.Join(b.work, "initrd.img")
	if err := copyFile(bf.Kernel, b.files["kernel"]); err != nil {
		return errs.Infraf("copy the kernel out of the image: %w", err)
	}
	if err := copyFile(bf.Initrd, b.files["initrd"]); err != nil {
		return errs.Infraf("copy the initrd out of the image: %w", err)
	}
	return nil
}

func (b *builder) stepDisk(ctx context.Context) error {
	b.raw = filepath.Join(b.work, "disk.raw")
	esp, rootImg := filepath.Join(b.work, "esp.img"), filepath.Join(b.work, "root.img")
	if err := MakeESP(ctx, esp, b.layoutDisk, b.boot, b.recipe.Name); err != nil {
		return errs.Infraf("%v", err)
	}
	if err := MakeRootFS(ctx, rootImg, b.root, b.layoutDisk); err != nil {
		return errs.Failuref("%v", err)
	}
	os.RemoveAll(b.root) // the largest thing on disk; the image has it now
	if err := AssembleDisk(ctx, b.raw, b.layoutDisk, esp, rootImg, b.written.Store); err != nil {
		return errs.Infraf("%v", err)
	}
	os.Remove(esp)
	os.Remove(rootImg)
	return nil
}

// imageFormats are the disk formats the recipe needs: qcow2 always (the
// smoke boot and the runners use it), the others for themselves or for
// a box made of them.
func imageFormats(r Recipe) []string {
	need := []string{"qcow2"}
	if r.Wants("qcow2-compressed") || r.Wants("libvirt") {
		need = append(need, "qcow2-compressed")
	}
	if r.Wants("vmdk") || r.Wants("virtualbox") {
		need = append(need, "vmdk")
	}
	return need
}

// formatFile is the file name of a disk format: dev.qcow2,
// dev-compressed.qcow2, dev.vmdk for the box appliance/dev.
func formatFile(r Recipe, format string) string {
	base := r.FileBase()
	switch format {
	case "qcow2-compressed":
		return base + "-compressed.qcow2"
	case "vmdk":
		return base + ".vmdk"
	}
	return base + ".qcow2"
}

func (b *builder) stepFormats(ctx context.Context) error {
	for _, f := range imageFormats(b.recipe) {
		out := filepath.Join(b.work, formatFile(b.recipe, f))
		b.convertingTo.Store(&out)
		start := time.Now()
		if err := Convert(ctx, b.raw, out, f); err != nil {
			return errs.Infraf("%s image: %v", f, err)
		}
		b.files[f] = out
		b.env.Log.Infof("%s: %s (%s) in %s", f, filepath.Base(out), humanBytes(fileSize(out)), time.Since(start).Round(time.Millisecond))
	}
	os.Remove(b.raw)
	return nil
}

// converting is the size of the format being written.
func (b *builder) converting() int64 {
	if p := b.convertingTo.Load(); p != nil {
		return fileSize(*p + ".tmp")
	}
	return 0
}

func (b *builder) stepBoxes(ctx context.Context) error {
	r := b.recipe
	info := BoxInfo{Name: r.Name, Version: b.out.Version, Key: b.out.Key, MemoryMB: 1024, CPUs: 2, Capacity: r.DiskSize, MAC: MACFromKey(b.out.Key)}
	if r.Wants("libvirt") {
		vf, err := RenderVagrantfile("libvirt", info)
		if err != nil {
			return err
		}
		p := filepath.Join(b.work, r.FileBase()+"-libvirt.box")
		if err := PackBox(p, []BoxFile{
			{Name: "metadata.json", Content: BoxMetadata("libvirt", r.DiskSize)},
			{Name: "Vagrantfile", Content: []byte(vf)},
			{Name: "box.img", Path: b.files["qcow2-compressed"]},
		}, b.built); err != nil {
			return errs.Infraf("libvirt box: %v", err)
		}
		b.files["libvirt"] = p
	}
	if r.Wants("virtualbox") {
		vinfo := info
		vinfo.DiskFile = "box-disk001.vmdk"
		vinfo.DiskFileSize = fileSize(b.files["vmdk"])
		vf, err := RenderVagrantfile("virtualbox", vinfo)
		if err != nil {
			return err
		}
		ovf, err := RenderOVF(vinfo)
		if err != nil {
			return err
		}
		p := filepath.Join(b.work, r.FileBase()+"-virtualbox.box")
		if err := PackBox(p, []BoxFile{
			{Name: "metadata.json", Content: BoxMetadata("virtualbox", r.DiskSize)},
			{Name: "Vagrantfile", Content: []byte(vf)},
			{Name: "box.ovf", Content: []byte(ovf)},
			{Name: vinfo.DiskFile, Path: b.files["vmdk"]},
		}, b.built); err != nil {
			return errs.Infraf("virtualbox box: %v", err)
		}
		b.files["virtualbox"] = p
	}
	return nil
}

func (b *builder) skipSmoke() string {
	switch {
	case b.opts.NoBoot:
		return "--no-boot"
	case b.cfg.Boot.Off():
		return "template.boot.enabled: false"
	}
	return ""
}

func (b *builder) stepSmoke(ctx context.Context) error {
	r := b.recipe
	timeout := b.cfg.Boot.Timeout.D()
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	sb := SmokeBoot{Image: b.files["qcow2"], Kernel: b.files["kernel"], Initrd: b.files["initrd"], Cmdline: b.layoutDisk.Cmdline(),
		HostKey: b.hostKey, WorkDir: b.work, Timeout: timeout, MemoryMB: b.cfg.Boot.MemoryMB}
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
}

func (b *builder) stepPublish(ctx context.Context) error {
	r, key := b.recipe, b.out.Key
	var order []string
	for f := range b.files {
		order = append(order, f)
	}
	sort.Strings(order)
	m := Manifest{Name: r.Name, Key: key, Version: b.out.Version, Created: b.built.Format(time.RFC3339), Cmdline: b.layoutDisk.Cmdline(),
		HostKey: b.hostKey, Inputs: b.in, Smoke: b.out.Smoke}
	for _, f := range order {
		name := filepath.Base(b.files[f])
		obj, err := b.store.PutFile(ctx, b.layout.Image(key, name), b.files[f])
		if err != nil {
			return errs.New(errs.Infra, fmt.Errorf("upload %s: %w", name, err), "check the artifact store; a re-run uploads again")
		}
		b.uploaded.Add(obj.Size)
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
	cv := CatalogVersion{Version: b.out.Version, Status: "active", Key: key, Created: m.Created, Providers: providers,
		Description: fmt.Sprintf("template key `%s`", key)}
	cat, pruned, err := PublishCatalog(ctx, b.store, b.layout, r.Name, b.cfg.Description, cv, b.cfg.Retention)
	if err != nil {
		return errs.New(errs.Infra, err, "")
	}
	for _, p := range pruned {
		b.out.Pruned = append(b.out.Pruned, p.Version)
		b.env.Log.Infof("retention %d: removed version %s (key %s)", b.cfg.Retention, p.Version, p.Key)
	}
	b.out.Versions = cat.Versions
	b.env.Log.Infof("catalog %s: %d version(s), newest %s", b.out.Catalog, len(cat.Versions), b.out.Version)
	return nil
}

// provision turns the unpacked base into the template and returns its SSH
// host key. Its parts run in order: the pinned meta-package, the recipe's
// files, the files every image gets (imageFiles, over the recipe's), the
// users, networking,
// the recipe's provisioning commands, then the clean-up.
func (b *builder) provision(ctx context.Context, root string) (string, error) {
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
	if err := writeImageFiles(p, imageFiles(r, b.layoutDisk, b.out.Version, b.out.Key)); err != nil {
		return "", err
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

// imageFile is a file the template writes into every image; a directory
// when Dir is set.
type imageFile struct {
	Path    string
	Content string
	Dir     bool
}

// imageFiles are what makes the image boot and reach the network: fstab
// for the disk layout, the host name, the EFI mount point, DHCP on every
// Ethernet link with systemd-networkd, and /etc/pipeline-template, which
// says which template the image is (the key is also in the manifest, the
// catalog and the dotenv).
func imageFiles(r Recipe, l Layout, version, key string) []imageFile {
	return []imageFile{
		{Path: "/etc/fstab", Content: l.Fstab()},
		{Path: "/etc/hostname", Content: r.FileBase() + "\n"},
		{Path: "/etc/pipeline-template", Content: fmt.Sprintf("NAME=%s\nVERSION=%s\nKEY=%s\n", r.Name, version, key)},
		{Path: "/etc/systemd/network/80-pipeline-dhcp.network", Content: "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n"},
		{Path: "/boot/efi", Dir: true},
	}
}

// writeImageFiles writes files into the image. Any error fails the build:
// an image without its fstab or network configuration would boot broken.
func writeImageFiles(p *Provisioner, files []imageFile) error {
	for _, f := range files {
		var err error
		if f.Dir {
			err = p.MkdirAll(f.Path)
		} else {
			err = p.WriteFile(f.Path, []byte(f.Content), 0o644)
		}
		if err != nil {
			return errs.New(errs.Failure, fmt.Errorf("write %s into the image: %w", f.Path, err),
				"check that template.files and the base do not put a file where this path's directories go, and the free space of the work directory")
		}
	}
	return nil
}
