// Package rootfs makes Debian base root filesystems with mmdebstrap and
// keeps them in a cache directory on this machine, named by the content key
// of what they are made of. The template stage bootstraps its VM base with
// it; the integration stage bootstraps the base of chroot and container
// targets that name no rootfs of their own.
//
//	spec.go    Spec: what a base is made of, its key, mmdebstrap's arguments (pure)
//	mirror.go  sources.list lines and the mirror state (the Release file's sha256)
//	cache.go   Cache: find or build a base, atomically, one build per key at a time
package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// Spec is what a base root filesystem is made of; equal Specs give the
// same base, so its key names the base in the cache.
type Spec struct {
	Distribution string   `json:"distribution"`
	Suite        string   `json:"suite"`
	Mirror       string   `json:"mirror"`
	Components   []string `json:"components"`
	Variant      string   `json:"variant"`
	Packages     []string `json:"packages"`
	// MirrorState is the sha256 of the mirror's Release file (see
	// MirrorState): a new mirror state gives a new base.
	MirrorState string `json:"mirror_state"`
	// Mmdebstrap is mmdebstrap's version line.
	Mmdebstrap string `json:"mmdebstrap"`
	// KeepDocs keeps /usr/share/doc, man pages and locales, in the base and
	// in every package installed on it later (mmdebstrap's dpkg options
	// stay in the tree). A VM template drops them; an integration target
	// keeps them, as a real server does. (omitempty: the template's keys
	// from before this field stay the same.)
	KeepDocs bool `json:"keep_docs,omitempty"`
}

// Defaults of a base.
const (
	DefaultDistribution = "debian"
	DefaultSuite        = "bookworm"
	DefaultMirror       = "http://deb.debian.org/debian"
	DefaultVariant      = "minbase"
)

// Normal fills the defaults in and sorts the packages, so that two ways
// of writing the same base have one key.
func (s Spec) Normal() Spec {
	if s.Distribution == "" {
		s.Distribution = DefaultDistribution
	}
	if s.Suite == "" {
		s.Suite = DefaultSuite
	}
	if s.Mirror == "" {
		s.Mirror = DefaultMirror
	}
	s.Mirror = strings.TrimRight(s.Mirror, "/")
	if len(s.Components) == 0 {
		s.Components = []string{"main"}
	}
	if s.Variant == "" {
		s.Variant = DefaultVariant
	}
	pkgs := append([]string(nil), s.Packages...)
	sort.Strings(pkgs)
	s.Packages = pkgs
	return s
}

// Key is the hex sha256 of the canonical JSON of s, shortened to 32 hex
// digits: the name of the base in the cache.
func (s Spec) Key() string {
	j, err := json.Marshal(s)
	if err != nil {
		panic(err) // only plain data in Spec
	}
	sum := sha256.Sum256(j)
	return hex.EncodeToString(sum[:])[:32]
}

// Source is the sources.list line of the base's mirror, whose Release file
// gives the mirror state.
func (s Spec) Source() Source {
	return Source{URL: s.Mirror, Suite: s.Suite, Components: s.Components}
}

// Args are mmdebstrap's arguments to write the base as a tarball at out.
func (s Spec) Args(out string) []string {
	args := []string{"--variant=" + s.Variant, "--components=" + strings.Join(s.Components, ",")}
	if len(s.Packages) > 0 {
		args = append(args, "--include="+strings.Join(s.Packages, ","))
	}
	if !s.KeepDocs {
		args = append(args,
			// No documentation; keep the copyright notices.
			"--dpkgopt=path-exclude=/usr/share/doc/*",
			"--dpkgopt=path-include=/usr/share/doc/*/copyright",
			"--dpkgopt=path-exclude=/usr/share/man/*",
			"--dpkgopt=path-exclude=/usr/share/locale/*")
	}
	if s.HasKernel() {
		// The initramfs is made once, at the end. Left to the packages,
		// the kernel's postinst makes it, then the initramfs-tools
		// trigger that udev and others activate makes it again: on a
		// busy 2-core machine each took 6.5 minutes (MODULES=most).
		args = append(args,
			"--essential-hook=chroot \"$1\" dpkg-divert --quiet --local --rename --add "+updateInitramfs+
				" && printf '#!/bin/sh\\nexit 0\\n' > \"$1\""+updateInitramfs+" && chmod 755 \"$1\""+updateInitramfs,
			"--customize-hook=rm -f \"$1\""+updateInitramfs+
				" && chroot \"$1\" dpkg-divert --quiet --local --rename --remove "+updateInitramfs+
				" && chroot \"$1\" update-initramfs -c -k all")
	}
	return append(args, "--format=tar", s.Suite, out, s.Mirror)
}

const updateInitramfs = "/usr/sbin/update-initramfs"

// HasKernel reports whether the base installs a kernel (a linux-image-
// package), whose initramfs the bootstrap makes.
func (s Spec) HasKernel() bool {
	for _, p := range s.Packages {
		if strings.HasPrefix(p, "linux-image-") {
			return true
		}
	}
	return false
}

// Describe is the base in a few words, for the log.
func (s Spec) Describe() string {
	d := s.Distribution + " " + s.Suite + " " + s.Variant + " from " + s.Mirror
	if len(s.Packages) > 0 {
		d += " with " + strings.Join(s.Packages, ", ")
	}
	return d
}

// MmdebstrapVersion is the first line of `mmdebstrap --version`, or
// "missing" when it cannot run.
func MmdebstrapVersion(ctx context.Context) string {
	return ToolVersion(ctx, "mmdebstrap", "--version")
}

// ToolVersion is the first line of `name args...`, or "missing" when it
// cannot run: part of a key, so a new tool version gives a new key.
func ToolVersion(ctx context.Context, name string, args ...string) string {
	out, err := proc.Command(ctx, name, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "missing"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(line)
}

// Estimate is how long a bootstrap of s takes, as measured on a shared
// 2-core CI machine (docs/template.md): a base with a kernel installs
// several hundred MB of modules and makes an initramfs, which most of the
// time goes to.
func (s Spec) Estimate() string {
	if s.HasKernel() {
		return "20 minutes measured on a busy 2-core machine, a few on an idle one: mostly the kernel's modules and its initramfs"
	}
	return "about 2 minutes on a busy 2-core machine"
}
