package buildtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// Package describes a small generated package.
type Package struct {
	Format  string // deb or rpm
	Name    string
	Version string // deb: upstream-revision ("1.0-1"); rpm: version, Release separately
	Release string // rpm only; default 1
	Arch    string // default all / noarch
	Depends []string
	// Files maps destination paths to contents (default: one file under
	// /usr/share/<name>/).
	Files map[string]string
}

// MakePackage writes a real .deb or .rpm (built with nfpm, reproducible:
// fixed times) into dir and returns its path. For tests and benchmarks
// that need packages without running a component build.
func MakePackage(dir string, p Package) (string, error) {
	arch := p.Arch
	if arch == "" {
		arch = map[string]string{"deb": "all", "rpm": "noarch"}[p.Format]
	}
	mtime := time.Unix(1767323045, 0).UTC()
	if len(p.Files) == 0 {
		p.Files = map[string]string{"/usr/share/" + p.Name + "/VERSION": p.Version + "\n"}
	}
	src, err := os.MkdirTemp("", "buildtest-pkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	var contents files.Contents
	i := 0
	for dst, body := range p.Files {
		f := filepath.Join(src, fmt.Sprint(i))
		i++
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			return "", err
		}
		contents = append(contents, &files.Content{Source: f, Destination: dst,
			FileInfo: &files.ContentFileInfo{Mode: 0o644, MTime: mtime, Owner: "root", Group: "root"}})
	}
	info := &nfpm.Info{
		Name: p.Name, Arch: arch, Platform: "linux", Version: p.Version, VersionSchema: "none",
		Release: p.Release, Maintainer: "Test <test@example.com>", Description: "generated test package " + p.Name,
		MTime: mtime,
		Overridables: nfpm.Overridables{Depends: p.Depends, Contents: contents, Umask: 0o022,
			RPM: nfpm.RPM{BuildHost: "buildtest"}},
	}
	if p.Format == "rpm" && info.Release == "" {
		info.Release = "1"
	}
	if err := nfpm.PrepareForPackager(info, p.Format); err != nil {
		return "", err
	}
	pk, err := nfpm.Get(p.Format)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := pk.Package(nfpm.WithDefaults(info), &buf); err != nil {
		return "", err
	}
	var name string
	if p.Format == "rpm" {
		name = fmt.Sprintf("%s-%s-%s.%s.rpm", p.Name, p.Version, info.Release, arch)
	} else {
		name = fmt.Sprintf("%s_%s_%s.deb", p.Name, p.Version, arch)
	}
	out := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return out, os.WriteFile(out, buf.Bytes(), 0o644)
}
