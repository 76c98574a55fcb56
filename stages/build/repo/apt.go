// Package repo writes package repositories from a set of inspected
// packages: an APT repository (pool/ and dists/, written in Go, signed with
// an OpenPGP key when one is configured) and a YUM repository (the rpms and
// repodata/ from createrepo_c). Both are written reproducibly: the same
// packages and date give the same bytes.
package repo

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

// APTOptions describe the APT repository.
type APTOptions struct {
	Suite     string // dists/<Suite>; default "stable"
	Codename  string // default: Suite
	Component string // default "main"
	Origin    string
	Label     string
	// Architectures are the binary-<arch> indexes written; arch "all"
	// packages go into each. Default: the packages' own architectures, or
	// amd64 when every package is arch "all".
	Architectures []string
	// Date is the Release date: the commit time, for reproducibility.
	Date time.Time
	// Signer signs Release into InRelease and Release.gpg when not nil.
	Signer *Signer
}

// APTRepo is a written APT repository.
type APTRepo struct {
	Dir       string `json:"dir"`
	Suite     string `json:"suite"`
	Component string `json:"component"`
	Signed    bool   `json:"signed"`
	// Files are the repository's files, relative to Dir, sorted.
	Files []string `json:"files"`
}

// ErrArchitecture is wrapped by WriteAPT when a package's architecture is
// not among the repository's.
var ErrArchitecture = errors.New("architecture not in the repository")

// PoolPath is where a package file goes in the pool:
// pool/<component>/<l or libX>/<name>/<file>, as Debian does.
func PoolPath(component, name, file string) string {
	prefix := name[:1]
	if strings.HasPrefix(name, "lib") && len(name) > 3 {
		prefix = name[:4]
	}
	return path.Join("pool", component, prefix, name, file)
}

// WriteAPT writes an APT repository of the deb packages in pkgs into dir,
// which should be new (the build writes into a fresh directory and swaps
// it in whole).
func WriteAPT(dir string, pkgs []*dist.Inspected, opts APTOptions) (*APTRepo, error) {
	if opts.Suite == "" {
		opts.Suite = "stable"
	}
	if opts.Codename == "" {
		opts.Codename = opts.Suite
	}
	if opts.Component == "" {
		opts.Component = "main"
	}
	var debs []*dist.Inspected
	for _, p := range pkgs {
		if p.Format == dist.Deb {
			debs = append(debs, p)
		}
	}
	sort.Slice(debs, func(i, j int) bool { return debs[i].ID() < debs[j].ID() })
	archs := opts.Architectures
	if len(archs) == 0 {
		archs = packageArchs(debs)
	}
	// A package of an architecture no index lists would be in the pool and
	// pinned by the meta-package, yet invisible to apt.
	for _, p := range debs {
		if p.Arch != "all" && !contains(archs, p.Arch) {
			return nil, fmt.Errorf("%w: %s is built for %s, which build.apt.architectures (%s) does not list: add it, or stop building it", ErrArchitecture, p.File, p.Arch, strings.Join(archs, ", "))
		}
	}
	repo := &APTRepo{Dir: dir, Suite: opts.Suite, Component: opts.Component}

	// pool/
	for _, p := range debs {
		rel := PoolPath(opts.Component, p.Name, p.File)
		// A copy, not a hard link: a component that later rewrites its
		// output in place must not change a file this index vouches for.
		if err := copyFile(p.Path, filepath.Join(dir, filepath.FromSlash(rel)), p.SHA256); err != nil {
			return nil, fmt.Errorf("apt pool: %w", err)
		}
		repo.Files = append(repo.Files, rel)
	}

	// dists/<suite>/<component>/binary-<arch>/Packages(.gz)
	type indexFile struct {
		rel  string
		data []byte
	}
	var indexes []indexFile
	for _, arch := range archs {
		var b bytes.Buffer
		for _, p := range debs {
			if p.Arch == arch || p.Arch == "all" {
				writeStanza(&b, p, PoolPath(opts.Component, p.Name, p.File))
			}
		}
		base := path.Join(opts.Component, "binary-"+arch, "Packages")
		indexes = append(indexes, indexFile{base, b.Bytes()}, indexFile{base + ".gz", gzipBytes(b.Bytes())})
	}
	distDir := filepath.Join(dir, "dists", opts.Suite)
	for _, f := range indexes {
		if err := dist.WriteFileAtomic(filepath.Join(distDir, filepath.FromSlash(f.rel)), f.data, 0o644); err != nil {
			return nil, err
		}
		repo.Files = append(repo.Files, path.Join("dists", opts.Suite, f.rel))
	}

	// Release with the sums of every index.
	var rel bytes.Buffer
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&rel, "%s: %s\n", k, v)
		}
	}
	field("Origin", opts.Origin)
	field("Label", opts.Label)
	field("Suite", opts.Suite)
	field("Codename", opts.Codename)
	field("Date", opts.Date.UTC().Format(time.RFC1123))
	field("Architectures", strings.Join(archs, " "))
	field("Components", opts.Component)
	for _, sum := range []struct {
		name string
		fn   func([]byte) string
	}{
		{"MD5Sum", func(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }},
		{"SHA256", func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }},
	} {
		fmt.Fprintf(&rel, "%s:\n", sum.name)
		for _, f := range indexes {
			fmt.Fprintf(&rel, " %s %d %s\n", sum.fn(f.data), len(f.data), f.rel)
		}
	}
	release := rel.Bytes()
	if err := dist.WriteFileAtomic(filepath.Join(distDir, "Release"), release, 0o644); err != nil {
		return nil, err
	}
	repo.Files = append(repo.Files, path.Join("dists", opts.Suite, "Release"))
	if opts.Signer != nil {
		inRelease, detached, err := opts.Signer.Sign(release, opts.Date)
		if err != nil {
			return nil, fmt.Errorf("sign Release: %w", err)
		}
		if err := dist.WriteFileAtomic(filepath.Join(distDir, "InRelease"), inRelease, 0o644); err != nil {
			return nil, err
		}
		if err := dist.WriteFileAtomic(filepath.Join(distDir, "Release.gpg"), detached, 0o644); err != nil {
			return nil, err
		}
		repo.Files = append(repo.Files, path.Join("dists", opts.Suite, "InRelease"), path.Join("dists", opts.Suite, "Release.gpg"))
		repo.Signed = true
	}
	sort.Strings(repo.Files)
	return repo, nil
}

// writeStanza writes the package's control paragraph plus where it is and
// its sums: the Packages index entry.
func writeStanza(b *bytes.Buffer, p *dist.Inspected, filename string) {
	lines := strings.Split(p.Control, "\n")
	for i, line := range lines {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512":
			continue // ours below replace any the control file carried
		}
		continued := i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ")
		if strings.TrimSpace(v) == "" && !continued && !strings.HasPrefix(line, " ") {
			continue // an empty field ("Section: ") says nothing
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "Filename: %s\nSize: %d\nMD5sum: %s\nSHA256: %s\n\n", filename, p.Size, p.MD5, p.SHA256)
}

func packageArchs(debs []*dist.Inspected) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range debs {
		if p.Arch != "all" && !seen[p.Arch] {
			seen[p.Arch] = true
			out = append(out, p.Arch)
		}
	}
	if len(out) == 0 {
		out = []string{"amd64"}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// gzipBytes compresses b with no name and no time in the header, so the
// output depends only on b.
func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// copyFile copies src to dst, checking that the bytes copied are the ones
// inspected (sha256 want, when given): a file changed since the lock was
// made is an error, not a wrong index. It writes dst directly: the
// repositories are written into a fresh directory that the build swaps in
// whole, so a temporary name per file would only cost a rename each.
func copyFile(src, dst, want string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if got := hex.EncodeToString(h.Sum(nil)); err == nil && want != "" && got != want {
		err = fmt.Errorf("%s changed after it was locked (sha256 %s, locked %s): is a component still writing it?", src, got, want)
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}
