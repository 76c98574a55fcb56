package dist

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// LockFile is the lock's file name.
const LockFile = "dist.lock"

// LockVersion is the format version written in the lock.
const LockVersion = 1

// Lock is the set of exact package versions and sums a build pins. It is
// written as dist.lock: JSON, packages sorted by format, name and arch, one
// field per line, so that two locks diff line by line.
type Lock struct {
	Version  int       `json:"lock_version"`
	Packages []Package `json:"packages"`
}

// DuplicateError says that two different files claim one package: two
// versions of one name, or two different files for one name, version and
// arch.
type DuplicateError struct {
	A, B Package
}

func (e *DuplicateError) Error() string {
	if e.A.FullVersion() != e.B.FullVersion() {
		return fmt.Sprintf("two versions of %s (%s): %s from %s and %s from %s; a distribution locks one version of each package: remove the stale file or fix the component that produced it",
			e.A.Name, e.A.Format, e.A.FullVersion(), describeOrigin(e.A), e.B.FullVersion(), describeOrigin(e.B))
	}
	return fmt.Sprintf("two different files for %s: %s (sha256 %.12s) and %s (sha256 %.12s); the same name, version and arch must be the same bytes: bump the version of one of them",
		e.A.String(), describeOrigin(e.A), e.A.SHA256, describeOrigin(e.B), e.B.SHA256)
}

func describeOrigin(p Package) string {
	if p.Component != "" {
		return fmt.Sprintf("%s (component %s)", p.File, p.Component)
	}
	return p.File
}

// NewLock sorts pkgs into a Lock. Byte-identical duplicates (one file
// listed twice) collapse; two versions of one package name in one format,
// or two different files for the same name, version and arch, are a
// *DuplicateError.
func NewLock(pkgs []Package) (*Lock, error) {
	sorted := append([]Package(nil), pkgs...)
	sort.SliceStable(sorted, func(i, j int) bool { return lessPackage(sorted[i], sorted[j]) })
	l := &Lock{Version: LockVersion}
	byName := map[string]Package{} // format/name → first seen
	for _, p := range sorted {
		p.Depends = sortedCopy(p.Depends)
		p.Provides = sortedCopy(p.Provides)
		key := string(p.Format) + "/" + p.Name
		if first, ok := byName[key]; ok {
			if first.FullVersion() != p.FullVersion() {
				return nil, &DuplicateError{A: first, B: p}
			}
		} else {
			byName[key] = p
		}
		if n := len(l.Packages); n > 0 && l.Packages[n-1].ID() == p.ID() {
			if l.Packages[n-1].SHA256 == p.SHA256 {
				continue
			}
			return nil, &DuplicateError{A: l.Packages[n-1], B: p}
		}
		l.Packages = append(l.Packages, p)
	}
	return l, nil
}

func lessPackage(a, b Package) bool {
	if a.ID() != b.ID() {
		return a.ID() < b.ID()
	}
	// Versions in order, so that a duplicate is reported the same way on
	// every run (older version first), whatever the files' hashes.
	if c := Compare(a.Format, a.FullVersion(), b.FullVersion()); c != 0 {
		return c < 0
	}
	if a.SHA256 != b.SHA256 {
		return a.SHA256 < b.SHA256
	}
	return a.Component < b.Component
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// Format returns the packages of format f, in lock order.
func (l *Lock) Format(f Format) []Package {
	var out []Package
	for _, p := range l.Packages {
		if p.Format == f {
			out = append(out, p)
		}
	}
	return out
}

// Pins returns the dependency list of a meta-package of format f: each
// locked package name once, at its exact version.
func (l *Lock) Pins(f Format) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range l.Format(f) {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p.Pin())
		}
	}
	return out
}

// Marshal renders the lock as dist.lock.
func (l *Lock) Marshal() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(l) // a Lock always encodes
	return b.Bytes()
}

// ParseLock reads a dist.lock written by Marshal.
func ParseLock(data []byte) (*Lock, error) {
	var l Lock
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("dist.lock: %w", err)
	}
	if l.Version != LockVersion {
		return nil, fmt.Errorf("dist.lock: lock_version %d, this pipeline reads version %d", l.Version, LockVersion)
	}
	return &l, nil
}

// ReadLock reads the lock file at path.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := ParseLock(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so path is never half-written.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, mode)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

// Diff lists the package changes from old to new, one line each
// ("+ name 1.1 amd64 (deb)", "- name 1.0 amd64 (deb)"), for the log.
func Diff(old, new *Lock) []string {
	index := func(l *Lock) map[string]Package {
		m := map[string]Package{}
		if l != nil {
			for _, p := range l.Packages {
				m[p.ID()] = p
			}
		}
		return m
	}
	o, n := index(old), index(new)
	var out []string
	for id, p := range n {
		if q, ok := o[id]; !ok || q.SHA256 != p.SHA256 {
			if ok {
				out = append(out, "- "+q.String())
			}
			out = append(out, "+ "+p.String())
		}
	}
	for id, q := range o {
		if _, ok := n[id]; !ok {
			out = append(out, "- "+q.String())
		}
	}
	// By package, the removal before the addition.
	sort.Slice(out, func(i, j int) bool {
		if out[i][2:] != out[j][2:] {
			return out[i][2:] < out[j][2:]
		}
		return out[i][0] == '-'
	})
	return out
}
