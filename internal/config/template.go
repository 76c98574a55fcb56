package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Template is the `template:` section of pipeline.yaml: the recipe of the
// developers' VM template and where it is published.
//
//	template:
//	  name: acme/appliance-dev
//	  base:
//	    distribution: debian
//	    suite: bookworm
//	    mirror: http://snapshot.debian.org/archive/debian/20250520T000000Z
//	  metapackage:
//	    name: appliance-base   # version and source: the build's hand-off
//	    lock: .pipeline/build/dist.lock
//	  packages: [vim-tiny]
//	  files: [{src: files/motd, dest: /etc/motd}]
//	  provision: ["systemctl enable appliance-agent"]
//	  users: [{name: vagrant, ssh_keys: [vagrant-insecure], sudo: true}]
//	  disk_size: 4G
//	  formats: [qcow2, qcow2-compressed, vmdk, libvirt, virtualbox]
//	  retention: 5
type Template struct {
	// Name is the box name developers add ("acme/appliance-dev"); it also
	// names the files and the folder in the artifact store.
	Name string `yaml:"name" doc:"Box name developers add (acme/appliance-dev); names the files and the store folder."`
	// Description goes into the box catalog.
	Description string       `yaml:"description"`
	Base        TemplateBase `yaml:"base"`
	// Metapackage is the distribution's meta-package, installed from the
	// repository the build stage published, at its exact pinned version.
	Metapackage TemplateMetapackage `yaml:"metapackage"`
	// Packages are extra packages from the base distribution.
	Packages []string `yaml:"packages"`
	// Files are copied into the image before provisioning.
	Files []TemplateFile `yaml:"files"`
	// Provision are commands run inside the image (as root, /bin/sh -e),
	// after the packages and files, in order.
	Provision []TemplateStep `yaml:"provision" doc:"Commands run as root inside the image, in order: a string, or {script: FILE}."`
	// Users are created with their SSH keys; "vagrant-insecure" stands for
	// Vagrant's well-known key, which `vagrant up` replaces on first boot.
	Users []TemplateUser `yaml:"users"`
	// DiskSize is the virtual disk size ("4G", "2048M").
	DiskSize string `yaml:"disk_size" doc:"Virtual disk size, such as 4G or 2048M. Default 4G."`
	// Formats to produce: qcow2, qcow2-compressed, vmdk, libvirt (box),
	// virtualbox (box).
	Formats []string `yaml:"formats" enum:"qcow2,qcow2-compressed,vmdk,libvirt,virtualbox" doc:"Outputs to produce. Default: all."`
	// Boot is the smoke boot run after the build.
	Boot TemplateBoot `yaml:"boot"`
	// Retention is how many versions the catalog keeps (older ones and
	// their files are deleted); 0 keeps all.
	Retention int `yaml:"retention" doc:"Catalog versions kept; older ones are deleted with their files. 0 keeps all."`
	// PublicURL is the address developers download from (an HTTP endpoint
	// in front of the store); empty uses the store's own URLs.
	PublicURL string `yaml:"public_url"`
	// CacheDir keeps base root filesystems between runs on this machine.
	CacheDir string `yaml:"cache_dir"`
}

// TemplateBase is the base distribution the image is bootstrapped from.
type TemplateBase struct {
	// Distribution selects the builder: debian or ubuntu (mmdebstrap).
	Distribution string `yaml:"distribution" enum:"debian,ubuntu" doc:"Builder: debian or ubuntu (mmdebstrap). Default debian."`
	Suite        string `yaml:"suite"`
	// Mirror is the archive URL; pin it to a snapshot
	// (snapshot.debian.org) for reproducible images.
	Mirror     string   `yaml:"mirror" doc:"Archive URL; pin it to a snapshot for reproducible images. Default http://deb.debian.org/debian."`
	Components []string `yaml:"components"`
	// Variant is mmdebstrap's variant; default minbase.
	Variant string `yaml:"variant"`
	// Kernel is the kernel package; default linux-image-amd64.
	Kernel string `yaml:"kernel"`
}

// TemplateMetapackage names the meta-package and the repository to take it from.
type TemplateMetapackage struct {
	Name string `yaml:"name"`
	// Version is the exact version to install; empty takes the build
	// stage's hand-off (stages/handoff: this run, the report dir, the store).
	Version string `yaml:"version"`
	// Source is the sources.list line of the repository the build stage
	// published (its PIPELINE_APT_SOURCE), e.g.
	// "deb [trusted=yes] file:///srv/apt stable main". A file:// repository
	// is made visible inside the image only while provisioning. Empty takes
	// the build stage's hand-off, as Version.
	Source string `yaml:"source" doc:"sources.list line of the build stage's repository (its PIPELINE_APT_SOURCE)."`
	// Lock is the build stage's dist.lock (relative to the repository);
	// its content is part of the template key.
	Lock string `yaml:"lock" doc:"The build stage's dist.lock, relative to the repository; part of the template key."`
}

// TemplateFile is a file copied into the image.
type TemplateFile struct {
	Src  string `yaml:"src" pipeline:"nonempty"`
	Dest string `yaml:"dest" pipeline:"nonempty"`
	Mode string `yaml:"mode"`
}

// TemplateStep is a provisioning step: a shell command, or a script file
// from the repository.
type TemplateStep struct {
	Run    string `yaml:"run"`
	Script string `yaml:"script"`
}

// UnmarshalYAML accepts a plain string as a command.
func (s *TemplateStep) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		return n.Decode(&s.Run)
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k != "run" && k != "script" {
				return fmt.Errorf("unknown key %q in a provisioning step: want `run:` or `script:`", k)
			}
		}
	}
	type plain TemplateStep
	return n.Decode((*plain)(s))
}

// JSONSchema describes a step for templates/pipeline.schema.json.
func (TemplateStep) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string", "description": "a shell command (/bin/sh -e)"},
		map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"run":    map[string]any{"type": "string"},
			"script": map[string]any{"type": "string", "description": "a script file in the repository"},
		}},
	}}
}

// TemplateUser is a developer account in the image.
type TemplateUser struct {
	Name    string   `yaml:"name" pipeline:"nonempty"`
	SSHKeys []string `yaml:"ssh_keys" pipeline:"nonempty"`
	Sudo    bool     `yaml:"sudo"`
	Shell   string   `yaml:"shell"`
}

// TemplateBoot configures the smoke boot.
type TemplateBoot struct {
	// Enabled: nil means on.
	Enabled  *bool    `yaml:"enabled"`
	Timeout  Duration `yaml:"timeout"`
	MemoryMB int      `yaml:"memory_mb"`
}

// Off reports whether the smoke boot is switched off.
func (b TemplateBoot) Off() bool { return b.Enabled != nil && !*b.Enabled }

// TemplateFormats lists the known output formats.
var TemplateFormats = []string{"qcow2", "qcow2-compressed", "vmdk", "libvirt", "virtualbox"}

var (
	boxName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$`) })
	pkgName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`) })
	userName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`) })
	diskSize = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)([MG])$`) })
)

// Configured reports whether the section is filled in at all.
func (t Template) Configured() bool { return t.Name != "" }

// Validate checks the section beyond types.
func (t Template) Validate() []FieldError {
	if !t.Configured() {
		return nil
	}
	var errs []FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !boxName().MatchString(t.Name) {
		add("name", "%q is not a box name: want lowercase letters, digits, . _ - and at most one / (acme/appliance-dev)", t.Name)
	}
	switch t.Base.Distribution {
	case "", "debian", "ubuntu":
	default:
		add("base.distribution", "%q has no builder: want debian or ubuntu", t.Base.Distribution)
	}
	if t.Base.Mirror != "" && !strings.HasPrefix(t.Base.Mirror, "http://") && !strings.HasPrefix(t.Base.Mirror, "https://") && !strings.HasPrefix(t.Base.Mirror, "file://") {
		add("base.mirror", "%q is not a URL: want http://, https:// or file://", t.Base.Mirror)
	}
	if t.Metapackage.Name != "" && !pkgName().MatchString(t.Metapackage.Name) {
		add("metapackage.name", "%q is not a Debian package name", t.Metapackage.Name)
	}
	// An empty version or source is taken from the build stage's dotenv
	// at run time (pipeline run build template); a given source must parse.
	if t.Metapackage.Name != "" && t.Metapackage.Source != "" {
		if f := strings.Fields(t.Metapackage.Source); len(f) < 3 || f[0] != "deb" {
			add("metapackage.source", "%q is not a sources.list line: want \"deb [trusted=yes] URL SUITE COMPONENT\" (the build stage's PIPELINE_APT_SOURCE)", t.Metapackage.Source)
		}
	}
	for i, p := range t.Packages {
		if !pkgName().MatchString(strings.SplitN(p, "=", 2)[0]) {
			add(fmt.Sprintf("packages[%d]", i), "%q is not a Debian package name (name or name=version)", p)
		}
	}
	for i, f := range t.Files {
		if f.Src == "" {
			add(fmt.Sprintf("files[%d].src", i), "missing: the file in the repository to copy")
		}
		if !strings.HasPrefix(f.Dest, "/") {
			add(fmt.Sprintf("files[%d].dest", i), "%q: want an absolute path in the image", f.Dest)
		}
		if f.Mode != "" {
			if _, err := strconv.ParseUint(f.Mode, 8, 32); err != nil {
				add(fmt.Sprintf("files[%d].mode", i), "%q: want an octal mode such as \"0644\"", f.Mode)
			}
		}
	}
	for i, s := range t.Provision {
		if (s.Run == "") == (s.Script == "") {
			add(fmt.Sprintf("provision[%d]", i), "want either a command (run:) or a script file (script:)")
		}
	}
	for i, u := range t.Users {
		if !userName().MatchString(u.Name) {
			add(fmt.Sprintf("users[%d].name", i), "%q is not a user name", u.Name)
		}
	}
	if t.DiskSize != "" {
		if _, err := ParseDiskSize(t.DiskSize); err != nil {
			add("disk_size", "%v", err)
		}
	}
	for i, f := range t.Formats {
		known := false
		for _, k := range TemplateFormats {
			known = known || f == k
		}
		if !known {
			add(fmt.Sprintf("formats[%d]", i), "%q is not a format: want one of %s", f, strings.Join(TemplateFormats, ", "))
		}
	}
	if t.Retention < 0 {
		add("retention", "want 0 (keep every version) or a positive count")
	}
	return errs
}

// ParseDiskSize parses "4G" or "2048M" into bytes.
func ParseDiskSize(s string) (int64, error) {
	m := diskSize().FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: want a number and M or G, such as 4G", s)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	if m[2] == "G" {
		n <<= 30
	} else {
		n <<= 20
	}
	if n < 256<<20 {
		return 0, fmt.Errorf("%q is too small for a bootable image: want at least 256M", s)
	}
	return n, nil
}
