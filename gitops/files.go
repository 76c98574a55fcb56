package gitops

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files reads what is cheap to read straight from a repository's files —
// HEAD, the current branch, whether the clone is shallow, its remotes, its
// tags (loose and packed) and single objects such as tag objects — without
// starting git. On a CI machine every git process costs 15–40 ms of start
// and repository open, more than these reads take all together.
//
// Why not go-git: measured on the 100,000-commit `git clone --no-local` of
// bench/release, go-git opened the repository and listed the tags in a few
// ms, but reading one tag object took 1.1–2.1 s (it indexes the whole pack
// before it finds an object) and its tag list ignores packed-refs' peeled
// lines, so peeling means reading every tag object. This reader does all
// of it in a few ms: a binary search of the pack index, a handful of reads
// (docs/release.md, Speed). History walks stay with `git log`.
//
// It is deliberately narrow: whatever it cannot be sure to read exactly as
// git would (GIT_DIR and friends in the environment, the reftable format,
// repository extensions, objects in alternates) makes it answer
// ErrAskGit, and the caller asks git instead.
type Files struct {
	Top    string // the top of the work tree
	GitDir string // this work tree's git directory (HEAD)
	Common string // the directory shared by all work trees (refs, objects, config)
}

// ErrAskGit: the repository is set up in a way Files does not read; run
// git instead.
var ErrAskGit = errors.New("repository layout not read in process: ask git")

// OpenFiles finds the repository whose work tree holds dir, as git would
// from there. It returns ErrAskGit when it cannot be sure to answer as git
// does (including when dir is in no work tree: git's own message is better).
func OpenFiles(dir string) (*Files, error) {
	for _, v := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT"} {
		if os.Getenv(v) != "" {
			return nil, ErrAskGit
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, ErrAskGit
	}
	// git reports the real path (it changes into the directory and asks
	// the kernel where it is).
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, ErrAskGit
	}
	for d := abs; ; {
		dotgit := filepath.Join(d, ".git")
		if st, err := os.Stat(dotgit); err == nil {
			f := &Files{Top: d, GitDir: dotgit, Common: dotgit}
			if !st.IsDir() {
				if f.GitDir, err = readGitFile(dotgit); err != nil {
					return nil, ErrAskGit
				}
				f.Common = f.GitDir
			}
			if b, err := os.ReadFile(filepath.Join(f.GitDir, "commondir")); err == nil {
				c := strings.TrimSpace(string(b))
				if !filepath.IsAbs(c) {
					c = filepath.Join(f.GitDir, c)
				}
				f.Common = filepath.Clean(c)
			}
			if err := f.check(); err != nil {
				return nil, err
			}
			return f, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return nil, ErrAskGit
		}
		d = parent
	}
}

// readGitFile reads a .git file ("gitdir: PATH") of a linked work tree or
// submodule.
func readGitFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
	if !ok {
		return "", fmt.Errorf("%s: not a gitdir file", path)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(path), p)
	}
	return filepath.Clean(p), nil
}

// check refuses layouts this reader does not follow: a repository with
// extensions (reftable refs, sha256 objects, ...), a bare or relocated work
// tree, and a HEAD that is not a plain file.
func (f *Files) check() error {
	if _, err := os.Stat(filepath.Join(f.Common, "reftable")); err == nil {
		return ErrAskGit
	}
	cfg, err := readConfig(filepath.Join(f.Common, "config"))
	if err != nil {
		return ErrAskGit
	}
	for _, e := range cfg {
		if e.section == "extensions" || (e.section == "core" && (e.key == "worktree" || e.key == "bare" && isTrue(e.value))) {
			return ErrAskGit
		}
	}
	if st, err := os.Lstat(filepath.Join(f.GitDir, "HEAD")); err != nil || !st.Mode().IsRegular() {
		return ErrAskGit
	}
	return nil
}

// IsShallow reports whether the clone is shallow: git's "shallow" file
// exists.
func (f *Files) IsShallow() bool {
	_, err := os.Stat(filepath.Join(f.Common, "shallow"))
	return err == nil
}

// Head returns the commit HEAD points at and the checked-out branch ("" on
// a detached HEAD). A HEAD on a branch with no commit yet is an error.
func (f *Files) Head() (sha, branch string, err error) {
	b, err := os.ReadFile(filepath.Join(f.GitDir, "HEAD"))
	if err != nil {
		return "", "", ErrAskGit
	}
	s := strings.TrimSpace(string(b))
	target, symbolic := strings.CutPrefix(s, "ref: ")
	if !symbolic {
		if !isHex(s) {
			return "", "", ErrAskGit
		}
		return s, "", nil
	}
	branch, ok := strings.CutPrefix(target, "refs/heads/")
	if !ok {
		return "", "", ErrAskGit // git would shorten it its own way
	}
	sha, err = f.Resolve(target)
	if err != nil {
		return "", "", err
	}
	return sha, branch, nil
}

// ErrNoRef: the ref does not exist.
var ErrNoRef = errors.New("no such ref")

// Resolve returns the object a full ref name points at (loose refs first,
// then packed-refs), following symbolic refs.
func (f *Files) Resolve(ref string) (string, error) {
	for depth := 0; depth < 5; depth++ {
		if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") {
			return "", ErrAskGit
		}
		b, err := os.ReadFile(filepath.Join(f.Common, filepath.FromSlash(ref)))
		if err == nil {
			s := strings.TrimSpace(string(b))
			if next, ok := strings.CutPrefix(s, "ref: "); ok {
				ref = next
				continue
			}
			if !isHex(s) {
				return "", ErrAskGit
			}
			return s, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", ErrAskGit
		}
		packed, _, err := f.packedRefs()
		if err != nil {
			return "", err
		}
		for _, p := range packed {
			if p.name == ref {
				return p.sha, nil
			}
		}
		return "", fmt.Errorf("%s: %w", ref, ErrNoRef)
	}
	return "", ErrAskGit
}

type packedRef struct{ name, sha, peeled string }

// packedRefs reads packed-refs; peeledAll says whether every tag's peeled
// line is there (a ref without one is not a tag object).
func (f *Files) packedRefs() (refs []packedRef, peeledAll bool, err error) {
	b, err := os.ReadFile(filepath.Join(f.Common, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, ErrAskGit
	}
	for i, line := range strings.Split(string(b), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if i == 0 {
				traits := strings.Fields(strings.TrimPrefix(line, "# pack-refs with:"))
				for _, t := range traits {
					peeledAll = peeledAll || t == "peeled" || t == "fully-peeled"
				}
			}
			continue
		}
		if p, ok := strings.CutPrefix(line, "^"); ok {
			if len(refs) == 0 || !isHex(p) {
				return nil, false, ErrAskGit
			}
			refs[len(refs)-1].peeled = p
			continue
		}
		sha, name, ok := strings.Cut(line, " ")
		if !ok || !isHex(sha) {
			return nil, false, ErrAskGit
		}
		refs = append(refs, packedRef{name: name, sha: sha})
	}
	return refs, peeledAll, nil
}

// TagRef is one tag: the object its ref names and, for an annotated tag,
// the commit (or other object) it peels to; Peeled equals Object for a
// lightweight tag.
type TagRef struct {
	Name   string // without refs/tags/
	Object string
	Peeled string
}

// Tags lists every tag, loose and packed, sorted by name as
// `git for-each-ref refs/tags` lists them.
func (f *Files) Tags() ([]TagRef, error) {
	packed, peeledAll, err := f.packedRefs()
	if err != nil {
		return nil, err
	}
	byName := map[string]TagRef{}
	for _, p := range packed {
		name, ok := strings.CutPrefix(p.name, "refs/tags/")
		if !ok {
			continue
		}
		t := TagRef{Name: name, Object: p.sha, Peeled: p.peeled}
		if t.Peeled == "" && peeledAll {
			t.Peeled = p.sha
		}
		byName[name] = t
	}
	root := filepath.Join(f.Common, "refs", "tags")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		name := filepath.ToSlash(rel)
		if strings.HasSuffix(name, ".lock") {
			return nil // a ref being written: git skips it too
		}
		sha, err := f.Resolve("refs/tags/" + name)
		if err != nil {
			return err
		}
		byName[name] = TagRef{Name: name, Object: sha}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrAskGit) {
			return nil, err
		}
		return nil, ErrAskGit
	}
	out := make([]TagRef, 0, len(byName))
	for _, t := range byName {
		if t.Peeled == "" {
			if t.Peeled, err = f.peel(t.Object); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// peel follows tag objects to what they finally name.
func (f *Files) peel(sha string) (string, error) {
	for depth := 0; depth < 10; depth++ {
		typ, data, err := f.ReadObject(sha)
		if err != nil {
			return "", err
		}
		if typ != "tag" {
			return sha, nil
		}
		obj, _, _ := strings.Cut(strings.TrimPrefix(string(data), "object "), "\n")
		if !isHex(obj) {
			return "", ErrAskGit
		}
		sha = obj
	}
	return "", ErrAskGit
}

// TagMessage returns the message of what tag name names, as `git
// for-each-ref --format=%(contents)` reads it: an annotated tag's message
// without its signature, or the message of the commit a lightweight tag
// points at; ok is false for a tag of anything else.
func (f *Files) TagMessage(name string) (msg string, ok bool, err error) {
	sha, err := f.Resolve("refs/tags/" + name)
	if err != nil {
		return "", false, err
	}
	typ, data, err := f.ReadObject(sha)
	if err != nil || (typ != "tag" && typ != "commit") {
		return "", false, err
	}
	_, body, _ := bytes.Cut(data, []byte("\n\n"))
	if typ == "commit" {
		return string(body), true, nil // a commit's signature is a header
	}
	return stripSignature(string(body)), true, nil
}

// stripSignature cuts a signature block (PGP, X.509 or SSH) off the end of
// a tag message, as git does before reading its contents.
func stripSignature(msg string) string {
	cut := len(msg)
	for _, m := range []string{"-----BEGIN PGP SIGNATURE-----", "-----BEGIN PGP MESSAGE-----", "-----BEGIN SIGNED MESSAGE-----", "-----BEGIN SSH SIGNATURE-----"} {
		for i := 0; i < len(msg); {
			j := strings.Index(msg[i:], m)
			if j < 0 {
				break
			}
			at := i + j
			if (at == 0 || msg[at-1] == '\n') && at < cut {
				cut = at
				break
			}
			i = at + 1
		}
	}
	return msg[:cut]
}

// RemoteConfigured reports whether the repository's own config file names
// remote with a url. false means "not there": git may still find it in the
// global config, so ask git before concluding there is no such remote.
func (f *Files) RemoteConfigured(remote string) bool {
	cfg, err := readConfig(filepath.Join(f.Common, "config"))
	if err != nil {
		return false
	}
	for _, e := range cfg {
		if e.section == "remote" && e.sub == remote && e.key == "url" && e.value != "" {
			return true
		}
	}
	return false
}

// configEntry is one key of a config file: section and key lower-cased,
// the subsection as written.
type configEntry struct{ section, sub, key, value string }

// readConfig reads the parts of git's config syntax that repositories
// written by git use: [section], [section "sub"], key = value, comments.
// Included files are not followed: what it finds is there, what it does not
// find may still be (RemoteConfigured's callers then ask git).
func readConfig(path string) ([]configEntry, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	var out []configEntry
	var section, sub string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return nil, ErrAskGit
			}
			head := line[1:end]
			name, rest, hasSub := strings.Cut(head, " ")
			section, sub = strings.ToLower(name), ""
			if hasSub {
				rest = strings.TrimSpace(rest)
				if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' || strings.ContainsAny(rest[1:len(rest)-1], `\"`) {
					return nil, ErrAskGit
				}
				sub = rest[1 : len(rest)-1]
			} else if n, s, ok := strings.Cut(name, "."); ok {
				section, sub = strings.ToLower(n), strings.ToLower(s) // [section.sub], the old form
			}
			line = strings.TrimSpace(line[end+1:])
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
		}
		key, value, _ := strings.Cut(line, "=")
		// Quoting, escapes and trailing comments are kept as written: the
		// values read here are only compared with plain words.
		value = strings.TrimSpace(value)
		out = append(out, configEntry{section: section, sub: sub, key: strings.ToLower(strings.TrimSpace(key)), value: value})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func isTrue(v string) bool {
	switch strings.ToLower(strings.Trim(v, `"`)) {
	case "", "true", "yes", "on", "1":
		return true
	}
	return false
}

func isHex(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// --- objects ------------------------------------------------------------------

// Object types as numbered in pack files.
var packTypes = map[byte]string{1: "commit", 2: "tree", 3: "blob", 4: "tag"}

const (
	packOfsDelta = 6
	packRefDelta = 7
)

// ReadObject returns the type and content of object sha, loose or in a
// pack. An object it cannot find (in alternates, say) is ErrAskGit.
func (f *Files) ReadObject(sha string) (string, []byte, error) {
	if !isHex(sha) || len(sha) != 40 {
		return "", nil, ErrAskGit
	}
	objects := filepath.Join(f.Common, "objects")
	if typ, data, err := readLoose(filepath.Join(objects, sha[:2], sha[2:])); err == nil {
		return typ, data, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("read object %s: %w", sha, err)
	}
	raw, _ := hex.DecodeString(sha)
	idxs, _ := filepath.Glob(filepath.Join(objects, "pack", "pack-*.idx"))
	for _, idx := range idxs {
		off, found, err := findInIndex(idx, raw)
		if err != nil {
			return "", nil, ErrAskGit
		}
		if !found {
			continue
		}
		typ, data, err := readPacked(f, strings.TrimSuffix(idx, ".idx")+".pack", off, 0)
		if err != nil {
			return "", nil, fmt.Errorf("read object %s: %w", sha, err)
		}
		return typ, data, nil
	}
	return "", nil, ErrAskGit
}

func readLoose(path string) (string, []byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer file.Close()
	z, err := zlib.NewReader(bufio.NewReader(file))
	if err != nil {
		return "", nil, err
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return "", nil, err
	}
	head, data, ok := bytes.Cut(b, []byte{0})
	typ, _, _ := strings.Cut(string(head), " ")
	if !ok {
		return "", nil, errors.New("bad loose object header")
	}
	return typ, data, nil
}

// findInIndex looks sha up in a version 2 pack index with a binary search
// over the sorted names, reading only the few entries it visits.
func findInIndex(path string, sha []byte) (int64, bool, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer file.Close()
	var head [8 + 256*4]byte
	if _, err := io.ReadFull(file, head[:]); err != nil {
		return 0, false, err
	}
	if !bytes.Equal(head[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return 0, false, errors.New("not a version 2 pack index")
	}
	fan := func(i int) uint32 { return binary.BigEndian.Uint32(head[8+i*4:]) }
	total := fan(255)
	lo, hi := uint32(0), fan(int(sha[0]))
	if sha[0] > 0 {
		lo = fan(int(sha[0]) - 1)
	}
	const names = 8 + 256*4
	var name [20]byte
	for lo < hi {
		mid := lo + (hi-lo)/2
		if _, err := file.ReadAt(name[:], names+int64(mid)*20); err != nil {
			return 0, false, err
		}
		switch c := bytes.Compare(name[:], sha); {
		case c == 0:
			offsets := names + int64(total)*24
			var b [8]byte
			if _, err := file.ReadAt(b[:4], offsets+int64(mid)*4); err != nil {
				return 0, false, err
			}
			off := binary.BigEndian.Uint32(b[:4])
			if off&0x80000000 == 0 {
				return int64(off), true, nil
			}
			large := offsets + int64(total)*4 + int64(off&0x7fffffff)*8
			if _, err := file.ReadAt(b[:], large); err != nil {
				return 0, false, err
			}
			return int64(binary.BigEndian.Uint64(b[:])), true, nil
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0, false, nil
}

// readPacked reads the object at off in pack, applying deltas.
func readPacked(f *Files, pack string, off int64, depth int) (string, []byte, error) {
	if depth > 50 {
		return "", nil, errors.New("delta chain too long")
	}
	file, err := os.Open(pack)
	if err != nil {
		return "", nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return "", nil, err
	}
	r := bufio.NewReader(io.NewSectionReader(file, off, st.Size()-off))
	c, err := r.ReadByte()
	if err != nil {
		return "", nil, err
	}
	typ := (c >> 4) & 7
	for c&0x80 != 0 { // the size: zlib tells the end anyway
		if c, err = r.ReadByte(); err != nil {
			return "", nil, err
		}
	}
	var baseType string
	var base []byte
	switch typ {
	case packOfsDelta:
		c, err := r.ReadByte()
		if err != nil {
			return "", nil, err
		}
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if c, err = r.ReadByte(); err != nil {
				return "", nil, err
			}
			rel = ((rel + 1) << 7) | int64(c&0x7f)
		}
		if baseType, base, err = readPacked(f, pack, off-rel, depth+1); err != nil {
			return "", nil, err
		}
	case packRefDelta:
		var sha [20]byte
		if _, err := io.ReadFull(r, sha[:]); err != nil {
			return "", nil, err
		}
		if baseType, base, err = f.ReadObject(hex.EncodeToString(sha[:])); err != nil {
			return "", nil, err
		}
	}
	z, err := zlib.NewReader(r)
	if err != nil {
		return "", nil, err
	}
	data, err := io.ReadAll(z)
	if err != nil {
		return "", nil, err
	}
	if base == nil {
		name, ok := packTypes[typ]
		if !ok {
			return "", nil, fmt.Errorf("unknown pack object type %d", typ)
		}
		return name, data, nil
	}
	out, err := applyDelta(base, data)
	return baseType, out, err
}

// applyDelta builds an object from its base and a git delta: the two
// sizes, then copy (from the base) and insert (literal) instructions.
func applyDelta(base, delta []byte) ([]byte, error) {
	bad := errors.New("corrupt delta")
	varint := func() (int, bool) {
		n, shift := 0, 0
		for len(delta) > 0 {
			c := delta[0]
			delta = delta[1:]
			n |= int(c&0x7f) << shift
			shift += 7
			if c&0x80 == 0 {
				return n, true
			}
		}
		return 0, false
	}
	srcSize, ok1 := varint()
	dstSize, ok2 := varint()
	if !ok1 || !ok2 || srcSize != len(base) {
		return nil, bad
	}
	out := make([]byte, 0, dstSize)
	for len(delta) > 0 {
		op := delta[0]
		delta = delta[1:]
		switch {
		case op&0x80 != 0:
			var off, size int
			for i := 0; i < 7; i++ {
				if op&(1<<i) == 0 {
					continue
				}
				if len(delta) == 0 {
					return nil, bad
				}
				if i < 4 {
					off |= int(delta[0]) << (8 * i)
				} else {
					size |= int(delta[0]) << (8 * (i - 4))
				}
				delta = delta[1:]
			}
			if size == 0 {
				size = 0x10000
			}
			if off+size > len(base) {
				return nil, bad
			}
			out = append(out, base[off:off+size]...)
		case op != 0:
			if int(op) > len(delta) {
				return nil, bad
			}
			out = append(out, delta[:op]...)
			delta = delta[op:]
		default:
			return nil, bad
		}
	}
	if len(out) != dstSize {
		return nil, bad
	}
	return out, nil
}

// TagTrailers returns the trailers of a tag message as `git for-each-ref
// --format=%(contents:trailers:only,unfold)` lists them: the last paragraph
// (never the subject) when all its lines are trailers, or a quarter of them
// with one that git writes itself (Signed-off-by, cherry picked from);
// continuation lines unfolded; lines of other kinds left out.
func TagTrailers(msg string) []Trailer {
	lines := strings.SplitAfter(msg, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	// No "---" divider here: git reads a tag's or commit's whole message
	// (only `git interpret-trailers` stops at one).
	// Trailing comments and blank lines are not part of it.
	for len(lines) > 0 {
		l := lines[len(lines)-1]
		if strings.HasPrefix(l, "#") || isBlank(l) {
			lines = lines[:len(lines)-1]
			continue
		}
		break
	}
	title := 0 // the first paragraph is the title, never trailers
	for title < len(lines) && (strings.HasPrefix(lines[title], "#") || !isBlank(lines[title])) {
		title++
	}
	start := len(lines)
	trailers, others, cont := 0, 0, 0
	recognized, onlySpaces := false, true
	found := false
	for i := len(lines) - 1; i >= title; i-- {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "#"):
			others += cont
			cont = 0
		case isBlank(l):
			if onlySpaces {
				continue
			}
			others += cont
			if (recognized && trailers*3 >= others) || (trailers > 0 && others == 0) {
				start = i + 1
			}
			found = true
		case strings.HasPrefix(l, "Signed-off-by: ") || strings.HasPrefix(l, "(cherry picked from commit "):
			onlySpaces = false
			trailers++
			cont = 0
			recognized = true
		case separatorAt(l) >= 1 && !isSpace(l[0]):
			onlySpaces = false
			trailers++
			cont = 0
		case isSpace(l[0]):
			onlySpaces = false
			cont++
		default:
			onlySpaces = false
			others += 1 + cont
			cont = 0
		}
		if found {
			break
		}
	}
	var out []Trailer
	for _, l := range lines[start:] {
		l = strings.TrimRight(l, "\n")
		if strings.HasPrefix(l, "#") {
			continue
		}
		if len(out) > 0 && l != "" && isSpace(l[0]) && out[len(out)-1].Key != "" {
			last := &out[len(out)-1]
			last.Value = strings.TrimSpace(last.Value + " " + strings.TrimSpace(l))
			continue
		}
		sep := separatorAt(l)
		if sep < 1 || isSpace(l[0]) {
			out = append(out, Trailer{}) // not a trailer: ends any folding
			continue
		}
		out = append(out, Trailer{Key: strings.TrimSpace(l[:sep]), Value: strings.TrimSpace(l[sep+1:])})
	}
	kept := out[:0]
	for _, t := range out {
		if t.Key != "" {
			kept = append(kept, t)
		}
	}
	return kept
}

// separatorAt is the index of the ':' ending a trailer key (letters,
// digits and '-', then optional blanks), or -1.
func separatorAt(l string) int {
	blanks := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == ':':
			return i
		case !blanks && (c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'):
		case c != '\n' && isSpace(c):
			blanks = true
		default:
			return -1
		}
	}
	return -1
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isBlank(l string) bool { return strings.TrimSpace(l) == "" }

// InTree reports whether path (slash-separated, relative to the top of the
// work tree) names a file in the tree of commit sha: a file git tracks
// there, which git commits whatever the ignore files say. ErrAskGit when
// an object cannot be read in process.
func (f *Files) InTree(sha, path string) (bool, error) {
	typ, body, err := f.ReadObject(sha)
	if err != nil {
		return false, err
	}
	if typ != "commit" {
		return false, ErrAskGit
	}
	tree, ok := strings.CutPrefix(string(body), "tree ")
	if !ok || len(tree) < 40 {
		return false, ErrAskGit
	}
	id := tree[:40]
	parts := strings.Split(path, "/")
	for i, name := range parts {
		typ, body, err := f.ReadObject(id)
		if err != nil {
			return false, err
		}
		if typ != "tree" {
			return false, nil
		}
		entry, found := treeEntry(body, name)
		if !found {
			return false, nil
		}
		isDir := strings.HasPrefix(entry.mode, "40")
		if i == len(parts)-1 {
			return !isDir, nil
		}
		if !isDir {
			return false, nil
		}
		id = entry.sha
	}
	return false, nil
}

type treeItem struct{ mode, sha string }

// treeEntry finds name in a tree object's body: entries of
// "<mode> <name>\x00<20-byte id>".
func treeEntry(body []byte, name string) (treeItem, bool) {
	for len(body) > 0 {
		sp := bytes.IndexByte(body, ' ')
		nul := bytes.IndexByte(body, 0)
		if sp < 0 || nul < sp || len(body) < nul+21 {
			return treeItem{}, false
		}
		if string(body[sp+1:nul]) == name {
			return treeItem{mode: string(body[:sp]), sha: hex.EncodeToString(body[nul+1 : nul+21])}, true
		}
		body = body[nul+21:]
	}
	return treeItem{}, false
}
