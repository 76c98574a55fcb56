package build

// The archive rule: a package name, version and architecture, once
// published, is one file forever. apt and dnf take "same version, other
// bytes" for a corrupt mirror (a hash sum mismatch for anyone who cached
// it), and Debian's archive refuses it. The store keeps one record per
// published package:
//
//	packages/<format>/<name>/<version>_<arch>.json

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

// Published is the store's record of a published package.
type Published struct {
	Name    string `json:"name"`
	Version string `json:"version"` // as a pin names it (rpm: version-release)
	Arch    string `json:"arch"`
	Format  string `json:"format"`
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Build   string `json:"build"` // the build that first published it
}

// RecordKey is where the store records the published package p.
func RecordKey(p dist.Package) string {
	return path.Join("packages", string(p.Format), p.Name, p.FullVersion()+"_"+p.Arch+".json")
}

// Conflict is a package this build made with other bytes than the one
// already published under its name, version and architecture.
type Conflict struct {
	Package   dist.Package `json:"package"`
	Published Published    `json:"published"`
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s: published by build %s with sha256 %s, this build made sha256 %s (component %s)",
		c.Package, c.Published.Build, c.Published.SHA256, c.Package.SHA256, orDefault(c.Package.Component, "?"))
}

// checkArchive looks up each package's record in the store.
func checkArchive(ctx context.Context, st artifacts.Store, pkgs []dist.Package) ([]Conflict, error) {
	var out []Conflict
	for _, p := range pkgs {
		rec, err := readRecord(ctx, st, p)
		if errors.Is(err, artifacts.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec.SHA256 != p.SHA256 {
			out = append(out, Conflict{Package: p, Published: rec})
		}
	}
	return out, nil
}

func readRecord(ctx context.Context, st artifacts.Store, p dist.Package) (Published, error) {
	var buf bytes.Buffer
	var rec Published
	if err := st.Get(ctx, RecordKey(p), &buf); err != nil {
		return rec, err
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", st.URL(RecordKey(p)), err)
	}
	return rec, nil
}

// recordPackages writes the record of each package not yet recorded.
func recordPackages(ctx context.Context, st artifacts.Store, pkgs []dist.Package, build string) error {
	for _, p := range pkgs {
		if _, err := st.Stat(ctx, RecordKey(p)); err == nil {
			continue
		}
		data, _ := json.MarshalIndent(Published{Name: p.Name, Version: p.FullVersion(), Arch: p.Arch, Format: string(p.Format),
			File: p.File, SHA256: p.SHA256, Build: build}, "", "  ")
		data = append(data, '\n')
		if _, err := st.Put(ctx, RecordKey(p), bytes.NewReader(data), int64(len(data))); err != nil {
			return err
		}
	}
	return nil
}

// conflictError is the failure for conflicts, naming each package, both
// sums and what to do.
func conflictError(cs []Conflict) error {
	lines := make([]string, len(cs))
	for i, c := range cs {
		lines[i] = "  " + c.String()
	}
	return fmt.Errorf("%d package(s) already published with other bytes under the same name, version and architecture:\n%s\n"+
		"apt and dnf would see a corrupt mirror (hash sum mismatch) and a Debian archive refuses it",
		len(cs), strings.Join(lines, "\n"))
}

// conflictHint is what to do about conflicts.
const conflictHint = "bump the component's version or its package revision (deb -N, rpm Release), commit, and build again; " +
	"for the meta-package, leave build.metapackage.version unset (or change it) so each commit gets its own version"

// archiveStep applies the archive rule to every package of the build.
func archiveStep(ctx context.Context, env *stages.Env, st artifacts.Store, pkgs []dist.Package) error {
	conflicts, err := checkArchive(ctx, st, pkgs)
	if err != nil {
		return errs.Infraf("archive records in %s: %w", st.URL("packages/"), err)
	}
	if len(conflicts) > 0 {
		return errs.New(errs.Failure, conflictError(conflicts), conflictHint)
	}
	env.Log.Infof("%d package(s): none published before with other bytes", len(pkgs))
	return nil
}
