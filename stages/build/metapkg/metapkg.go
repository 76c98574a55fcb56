// Package metapkg builds the distribution meta-package: a .deb and/or .rpm
// with no payload but the lock, depending on every locked package at
// exactly its locked version. It is built with nfpm as a library, with every
// time set to the commit time and a fixed file order and modes, so the same
// lock and commit give byte-identical files.
package metapkg

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
	"github.com/pipeline-ci/pipeline/templates"
)

// Spec describes the meta-package.
type Spec struct {
	Name        string
	Version     string // deb and rpm version, e.g. 1.4.0 or 1.3.0+7.gabc1234
	Project     string // distribution name, for the description
	Commit      string // commit the build is of
	Maintainer  string
	Vendor      string
	Homepage    string
	License     string
	Description string // rendered from templates/build when empty
	// Time is SOURCE_DATE_EPOCH: every timestamp in the package.
	Time    time.Time
	Formats []dist.Format
}

// Built is one meta-package file.
type Built struct {
	Format dist.Format `json:"format"`
	Path   string      `json:"path"`
	File   string      `json:"file"`
	Pins   []string    `json:"pins"`
}

// LockPath is where the meta-package installs the lock it pins, so an
// installed system says which build it came from.
func LockPath(name string) string { return "/usr/share/" + name + "/" + dist.LockFile }

// Build writes one meta-package per format of spec into dir.
func Build(spec Spec, lock *dist.Lock, dir string) ([]Built, error) {
	if spec.Name == "" || spec.Version == "" {
		return nil, fmt.Errorf("meta-package needs a name and a version")
	}
	if spec.Maintainer == "" {
		spec.Maintainer = spec.Name + " maintainers <root@localhost>"
	}
	if spec.Description == "" {
		d, err := Describe(spec, lock)
		if err != nil {
			return nil, err
		}
		spec.Description = d
	}
	// nfpm reads contents from files: the lock goes into a private temp
	// file whose name and mode never reach the package.
	lockFile := filepath.Join(dir, ".metapkg-"+spec.Name+".lock")
	if err := dist.WriteFileAtomic(lockFile, lock.Marshal(), 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(lockFile)

	var out []Built
	for _, f := range spec.Formats {
		b, err := buildOne(spec, lock, f, lockFile, dir)
		if err != nil {
			return nil, fmt.Errorf("meta-package %s (%s): %w", spec.Name, f, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func buildOne(spec Spec, lock *dist.Lock, f dist.Format, lockFile, dir string) (Built, error) {
	arch := "all"
	if f == dist.RPM {
		arch = "noarch"
	}
	mtime := spec.Time.UTC()
	info := &nfpm.Info{
		Name:          spec.Name,
		Arch:          arch,
		Platform:      "linux",
		Version:       spec.Version,
		VersionSchema: "none", // keep "1.3.0+7.gabc1234" exactly as given
		Section:       "metapackages",
		Priority:      "optional",
		Maintainer:    spec.Maintainer,
		Vendor:        spec.Vendor,
		Homepage:      spec.Homepage,
		License:       spec.License,
		Description:   spec.Description,
		MTime:         mtime,
		Overridables: nfpm.Overridables{
			Depends: lock.Pins(f),
			Umask:   0o022,
			Contents: files.Contents{{
				Source:      lockFile,
				Destination: LockPath(spec.Name),
				FileInfo:    &files.ContentFileInfo{Mode: 0o644, MTime: mtime, Owner: "root", Group: "root"},
			}},
			RPM: nfpm.RPM{BuildHost: "pipeline", Summary: firstLine(spec.Description)},
		},
	}
	if f == dist.RPM {
		info.Release = "1"
	}
	if err := nfpm.PrepareForPackager(info, string(f)); err != nil {
		return Built{}, err
	}
	p, err := nfpm.Get(string(f))
	if err != nil {
		return Built{}, err
	}
	var buf bytes.Buffer
	if err := p.Package(nfpm.WithDefaults(info), &buf); err != nil {
		return Built{}, err
	}
	name := FileName(spec.Name, spec.Version, f)
	path := filepath.Join(dir, name)
	if err := dist.WriteFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return Built{}, err
	}
	return Built{Format: f, Path: path, File: name, Pins: lock.Pins(f)}, nil
}

// FileName is the conventional file name of the meta-package.
func FileName(name, version string, f dist.Format) string {
	if f == dist.RPM {
		return fmt.Sprintf("%s-%s-1.noarch.rpm", name, version)
	}
	return fmt.Sprintf("%s_%s_all.deb", name, version)
}

// Describe renders the package description from templates/build.
func Describe(spec Spec, lock *dist.Lock) (string, error) {
	t, err := templates.Parse("build/metapackage.txt.tmpl", nil)
	if err != nil {
		return "", err
	}
	project := spec.Project
	if project == "" {
		project = spec.Name
	}
	commit := spec.Commit
	if commit == "" {
		commit = "(unknown)"
	}
	s, err := templates.Render(t, map[string]any{
		"Name": spec.Name, "Version": spec.Version, "Project": project,
		"Commit": commit, "Packages": lock.Packages,
	})
	return strings.TrimSpace(s), err
}

func firstLine(s string) string { return text.FirstLine(s) }
