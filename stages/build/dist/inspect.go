package dist

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	rpmutils "github.com/sassoftware/go-rpmutils"
	"github.com/ulikunitz/xz"
)

// Inspected is a package file read from disk: the lock entry plus what the
// repository indexes need (the deb control paragraph, the MD5 sum).
type Inspected struct {
	Package
	// Path is where the file is on disk.
	Path string
	// Control is the deb's control paragraph, as written in the package
	// (no trailing blank line); empty for rpm.
	Control string
	MD5     string
}

// Inspect reads a .deb or .rpm file: its name, version, arch and
// dependencies from the package's own metadata, and its size and sums.
func Inspect(path string) (*Inspected, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read package: %w", err)
	}
	defer f.Close()
	// Sums stream over the whole file; the metadata is read from the part
	// of the file that holds it, so a large package is never in memory.
	sha, md := sha256.New(), md5.New()
	size, err := io.Copy(io.MultiWriter(sha, md), f)
	if err != nil {
		return nil, fmt.Errorf("read package %s: %w", path, err)
	}
	in := &Inspected{Path: path, MD5: hex.EncodeToString(md.Sum(nil))}
	magic := make([]byte, 8)
	_, _ = f.ReadAt(magic, 0)
	switch {
	case bytes.HasPrefix(magic, []byte("!<arch>\n")):
		if err := readDeb(io.NewSectionReader(f, 0, size), in); err != nil {
			return nil, fmt.Errorf("%s: not a readable .deb: %w", path, err)
		}
	case bytes.HasPrefix(magic, []byte{0xed, 0xab, 0xee, 0xdb}):
		if err := readRPM(io.NewSectionReader(f, 0, size), in); err != nil {
			return nil, fmt.Errorf("%s: not a readable .rpm: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("%s: neither a .deb (ar archive) nor an .rpm (lead magic edabeedb)", path)
	}
	in.File = filepath.Base(path)
	in.Size = size
	in.SHA256 = hex.EncodeToString(sha.Sum(nil))
	return in, nil
}

// readDeb finds control.tar.* in the ar archive and reads its control file.
func readDeb(r *io.SectionReader, in *Inspected) error {
	control, err := debControl(r)
	if err != nil {
		return err
	}
	fields, err := ParseControl(control)
	if err != nil {
		return err
	}
	in.Format = Deb
	in.Control = strings.TrimRight(control, "\n")
	in.Name = fields["Package"]
	in.Version = fields["Version"]
	in.Arch = fields["Architecture"]
	if in.Name == "" || in.Version == "" || in.Arch == "" {
		return errors.New("control file lacks Package, Version or Architecture")
	}
	in.Depends = append(splitClauses(fields["Pre-Depends"]), splitClauses(fields["Depends"])...)
	in.Provides = splitClauses(fields["Provides"])
	return nil
}

// debControl returns the text of ./control from the deb's control.tar member.
func debControl(r *io.SectionReader) (string, error) {
	off := int64(8) // after "!<arch>\n"
	hdr := make([]byte, 60)
	for off+60 <= r.Size() {
		if _, err := r.ReadAt(hdr, off); err != nil {
			return "", err
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 || off+60+size > r.Size() {
			return "", fmt.Errorf("bad ar member header %q", name)
		}
		body := io.NewSectionReader(r, off+60, size)
		off += 60 + size + size%2 // ar pads members to even offsets
		if !strings.HasPrefix(name, "control.tar") {
			continue
		}
		tr, err := decompress(name, body)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		t := tar.NewReader(tr)
		for {
			h, err := t.Next()
			if err == io.EOF {
				return "", fmt.Errorf("%s has no control file", name)
			}
			if err != nil {
				return "", fmt.Errorf("%s: %w", name, err)
			}
			if strings.TrimPrefix(h.Name, "./") == "control" {
				b, err := io.ReadAll(io.LimitReader(t, 1<<20))
				return string(b), err
			}
		}
	}
	return "", errors.New("no control.tar member")
}

func decompress(name string, body io.Reader) (io.Reader, error) {
	switch filepath.Ext(name) {
	case ".tar":
		return body, nil
	case ".gz":
		return gzip.NewReader(body)
	case ".xz":
		return xz.NewReader(body)
	case ".zst":
		d, err := zstd.NewReader(body)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("unknown compression %q", filepath.Ext(name))
}

// ParseControl parses one deb822 paragraph into its fields. Continuation
// lines are joined with "\n" as written.
func ParseControl(s string) (map[string]string, error) {
	fields := map[string]string{}
	last := ""
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			break // first paragraph only
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("control line %d: continuation line before any field", n)
			}
			fields[last] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("control line %d: %q is not \"Field: value\"", n, line)
		}
		last = k
		fields[k] = strings.TrimSpace(v)
	}
	return fields, sc.Err()
}

// splitClauses splits a deb relationship field on commas.
func splitClauses(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		c = strings.Join(strings.Fields(c), " ")
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// RPM dependency flag bits (rpmds.h).
const (
	senseLess    = 1 << 1
	senseGreater = 1 << 2
	senseEqual   = 1 << 3
	senseRPMLib  = 1 << 24
)

func readRPM(r io.Reader, in *Inspected) error {
	hdr, err := rpmutils.ReadHeader(r)
	if err != nil {
		return err
	}
	nevra, err := hdr.GetNEVRA()
	if err != nil {
		return err
	}
	if src, _ := hdr.GetString(rpmutils.SOURCERPM); src == "" {
		// A source rpm has no SOURCERPM tag; it is not something to install.
		return errors.New("this is a source rpm (.src.rpm); list only binary rpms in the component's packages")
	}
	in.Format = RPM
	in.Name, in.Version, in.Release, in.Arch = nevra.Name, nevra.Version, nevra.Release, nevra.Arch
	if nevra.Epoch != "" && nevra.Epoch != "0" {
		in.Epoch = nevra.Epoch
	}
	in.Depends, err = rpmRelations(hdr, rpmutils.REQUIRENAME, rpmutils.REQUIREFLAGS, rpmutils.REQUIREVERSION)
	if err != nil {
		return err
	}
	in.Provides, err = rpmRelations(hdr, rpmutils.PROVIDENAME, rpmutils.PROVIDEFLAGS, rpmutils.PROVIDEVERSION)
	return err
}

// rpmRelations renders an rpm relation list ("name >= version"), leaving
// out rpmlib() requirements, which rpm itself satisfies. Duplicates (rpm
// lists a requirement once per scriptlet that needs it) are dropped.
func rpmRelations(hdr *rpmutils.RpmHeader, nameTag, flagTag, verTag int) ([]string, error) {
	if !hdr.HasTag(nameTag) {
		return nil, nil
	}
	names, err := hdr.GetStrings(nameTag)
	if err != nil {
		return nil, err
	}
	flags, _ := hdr.GetInts(flagTag)
	vers, _ := hdr.GetStrings(verTag)
	seen := map[string]bool{}
	var out []string
	for i, n := range names {
		f := 0
		if i < len(flags) {
			f = flags[i]
		}
		if f&senseRPMLib != 0 || strings.HasPrefix(n, "rpmlib(") {
			continue
		}
		s := n
		if op := rpmOp(f); op != "" && i < len(vers) && vers[i] != "" {
			s += " " + op + " " + vers[i]
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

func rpmOp(f int) string {
	switch f & (senseLess | senseGreater | senseEqual) {
	case senseLess:
		return "<"
	case senseGreater:
		return ">"
	case senseEqual:
		return "="
	case senseLess | senseEqual:
		return "<="
	case senseGreater | senseEqual:
		return ">="
	}
	return ""
}
