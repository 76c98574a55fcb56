package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/config"
)

// Recipe is the template section resolved: defaults applied and every
// value that changes the image, and nothing else (boot timeout, retention
// and URLs do not change it, so they are not part of the key).
type Recipe struct {
	Name         string   `json:"name"`
	Distribution string   `json:"distribution"`
	Suite        string   `json:"suite"`
	Mirror       string   `json:"mirror"`
	Components   []string `json:"components"`
	Variant      string   `json:"variant"`
	// BasePackages go into the cached base root filesystem: the kernel and
	// what a bootable, reachable VM needs.
	BasePackages []string `json:"base_packages"`
	// Packages are the recipe's extra packages.
	Packages           []string              `json:"packages,omitempty"`
	Metapackage        string                `json:"metapackage,omitempty"`
	MetapackageVersion string                `json:"metapackage_version,omitempty"`
	MetapackageSource  string                `json:"metapackage_source,omitempty"`
	Files              []config.TemplateFile `json:"files,omitempty"`
	Provision          []config.TemplateStep `json:"provision,omitempty"`
	Users              []config.TemplateUser `json:"users,omitempty"`
	DiskSize           int64                 `json:"disk_size"`
	Formats            []string              `json:"formats"`
}

// Defaults of the recipe.
const (
	DefaultSuite    = "bookworm"
	DefaultMirror   = "http://deb.debian.org/debian"
	DefaultVariant  = "minbase"
	DefaultKernel   = "linux-image-amd64"
	DefaultDiskSize = "4G"
)

// bootPackages make a minbase system a VM developers can use: an init,
// device management, SSH, sudo, name resolution, and the EFI boot loader
// copied to the EFI partition.
var bootPackages = []string{"systemd-sysv", "udev", "openssh-server", "sudo", "systemd-resolved", "systemd-boot-efi", "ca-certificates"}

// VagrantInsecureKey stands, in users[].ssh_keys, for Vagrant's well-known
// insecure public key, which `vagrant up` replaces on first boot.
const VagrantInsecureKey = "vagrant-insecure"

// NewRecipe resolves the configuration into a Recipe.
func NewRecipe(t config.Template) (Recipe, error) {
	r := Recipe{
		Name:               t.Name,
		Distribution:       or(t.Base.Distribution, "debian"),
		Suite:              or(t.Base.Suite, DefaultSuite),
		Mirror:             strings.TrimRight(or(t.Base.Mirror, DefaultMirror), "/"),
		Components:         t.Base.Components,
		Variant:            or(t.Base.Variant, DefaultVariant),
		Packages:           sortedCopy(t.Packages),
		Metapackage:        t.Metapackage.Name,
		MetapackageVersion: t.Metapackage.Version,
		MetapackageSource:  strings.Join(strings.Fields(t.Metapackage.Source), " "),
		Files:              t.Files,
		Provision:          t.Provision,
		Users:              t.Users,
		Formats:            t.Formats,
	}
	if len(r.Components) == 0 {
		r.Components = []string{"main"}
	}
	r.BasePackages = sortedCopy(append([]string{or(t.Base.Kernel, DefaultKernel)}, bootPackages...))
	size, err := config.ParseDiskSize(or(t.DiskSize, DefaultDiskSize))
	if err != nil {
		return r, fmt.Errorf("template.disk_size: %w", err)
	}
	r.DiskSize = size
	if len(r.Formats) == 0 {
		r.Formats = append([]string(nil), config.TemplateFormats...)
	}
	if len(r.Users) == 0 {
		r.Users = []config.TemplateUser{{Name: "vagrant", SSHKeys: []string{VagrantInsecureKey}, Sudo: true}}
	}
	return r, nil
}

// Wants reports whether format is among the recipe's formats.
func (r Recipe) Wants(format string) bool {
	for _, f := range r.Formats {
		if f == format {
			return true
		}
	}
	return false
}

// FileBase is the base name of the image files: the box name's last part,
// "dev" for appliance/dev (dev.qcow2, dev-libvirt.box, ...).
func (r Recipe) FileBase() string { return r.Name[strings.LastIndex(r.Name, "/")+1:] }

func or(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
