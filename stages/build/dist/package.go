// Package dist is the model of a distribution's packages: what a .deb or
// .rpm file says about itself (Inspect), the lock of exact versions and
// sha256 sums that a build pins (Lock, dist.lock), and the dependency check
// against our own packages and the base distribution (Check).
//
// Everything here except Inspect and the file helpers is pure: it takes
// values and returns values, so it is tested exhaustively without a build.
package dist

import (
	"fmt"
	"strings"
)

// Format is a package format.
type Format string

const (
	Deb Format = "deb"
	RPM Format = "rpm"
)

// Package is one package file as the lock records it.
type Package struct {
	Name string `json:"name"`
	// Version is the package's version as its format spells it in a pin:
	// for deb the whole control Version ([epoch:]upstream[-revision]);
	// for rpm the Version tag alone (see Release and Epoch).
	Version string `json:"version"`
	// Release and Epoch are rpm's; empty for deb.
	Release string `json:"release,omitempty"`
	Epoch   string `json:"epoch,omitempty"`
	Arch    string `json:"arch"`
	Format  Format `json:"format"`
	// File is the file's base name (appliance-agent_1.0.0-1_amd64.deb).
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Component is the pipeline.yaml component that produced the file.
	Component string `json:"component,omitempty"`
	// Depends are the package's own dependencies as written in it: deb
	// Pre-Depends and Depends clauses ("libc6 (>= 2.34) | libc6-udeb"),
	// rpm Requires ("bash >= 5.0"), rpmlib() requirements left out.
	Depends []string `json:"depends,omitempty"`
	// Provides are the virtual names the package provides.
	Provides []string `json:"provides,omitempty"`
}

// FullVersion is the version a pin names: deb's Version, rpm's
// [epoch:]version-release.
func (p Package) FullVersion() string {
	if p.Format != RPM {
		return p.Version
	}
	v := p.Version
	if p.Release != "" {
		v += "-" + p.Release
	}
	if p.Epoch != "" && p.Epoch != "0" {
		v = p.Epoch + ":" + v
	}
	return v
}

// Pin is the dependency on exactly this package version, as the
// meta-package writes it: "name (= 1.0-1)" for deb, "name = 1.0-1" for rpm.
func (p Package) Pin() string {
	if p.Format == RPM {
		return fmt.Sprintf("%s = %s", p.Name, p.FullVersion())
	}
	return fmt.Sprintf("%s (= %s)", p.Name, p.FullVersion())
}

// String names the package for messages: "appliance-agent 1.0.0-1 amd64 (deb)".
func (p Package) String() string {
	return fmt.Sprintf("%s %s %s (%s)", p.Name, p.FullVersion(), p.Arch, p.Format)
}

// ID is the key that orders the lock: format, name, arch.
func (p Package) ID() string {
	return strings.Join([]string{string(p.Format), p.Name, p.Arch}, "/")
}
