package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// tmpPrefix marks files being written; List never shows them.
const tmpPrefix = ".incoming-"

// FileStore is a Store in a local directory (file://DIR).
type FileStore struct {
	Root string // absolute directory
}

// NewFileStore returns a store rooted at dir (created when missing).
func NewFileStore(dir string) (*FileStore, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &FileStore{Root: abs}
	if err := s.mkdirAll(abs); err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", abs, err)
	}
	return s, nil
}

func (s *FileStore) path(key string) (string, error) {
	clean := path.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "\\") {
		return "", fmt.Errorf("artifact key %q is not a slash-separated path below the store", key)
	}
	return filepath.Join(s.Root, filepath.FromSlash(clean[1:])), nil
}

// URL is a file:// URL of key.
func (s *FileStore) URL(key string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(s.Root, filepath.FromSlash(key)))}
	return u.String()
}

// PutFile copies the file at src under key, verified.
func (s *FileStore) PutFile(ctx context.Context, key, src string) (Object, error) {
	f, err := os.Open(src)
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", src, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	return s.Put(ctx, key, f, st.Size())
}

// Put writes size bytes of r under key: into a temporary file beside it,
// synced, re-read and checked (size and sha256) and only then renamed to
// its final name.
func (s *FileStore) Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error) {
	dst, err := s.path(key)
	if err != nil {
		return Object{}, err
	}
	if err := s.mkdirAll(filepath.Dir(dst)); err != nil {
		return Object{}, fmt.Errorf("store %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), tmpPrefix+filepath.Base(dst)+"-*")
	if err != nil {
		return Object{}, fmt.Errorf("store %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return Object{}, fmt.Errorf("store %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return Object{}, fmt.Errorf("store %s: read %d bytes, expected %d", key, n, size)
	}
	if err := tmp.Sync(); err != nil {
		return Object{}, err
	}
	if err := tmp.Close(); err != nil {
		return Object{}, err
	}
	want := hex.EncodeToString(h.Sum(nil))
	got, gotSize, err := HashFile(tmp.Name())
	if err != nil {
		return Object{}, err
	}
	if got != want || gotSize != n {
		return Object{}, fmt.Errorf("store %s: verification failed: wrote %d bytes sha256 %s, read back %d bytes sha256 %s", key, n, want, gotSize, got)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Object{}, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return Object{}, fmt.Errorf("store %s: %w", key, err)
	}
	done = true
	return Object{Key: key, URL: s.URL(key), Size: n, SHA256: want}, nil
}

// Copy stores a copy of the file at src under dst, verified like Put.
func (s *FileStore) Copy(ctx context.Context, src, dst string) (Object, error) {
	p, err := s.path(src)
	if err != nil {
		return Object{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s: %w", s.URL(src), ErrNotExist)
	}
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	return s.Put(ctx, dst, f, st.Size())
}

// mkdirAll makes dir and its missing parents below the store's root
// readable by everyone (apt's _apt user, a web server serving the store)
// whatever the umask.
func (s *FileStore) mkdirAll(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		rel, err := filepath.Rel(s.Root, d)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil
		}
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o555 != 0o555 {
			if err := os.Chmod(d, st.Mode().Perm()|0o555); err != nil {
				return err
			}
		}
		if rel == "." {
			return nil
		}
	}
}

// Stat hashes the stored file.
func (s *FileStore) Stat(ctx context.Context, key string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return Object{}, err
	}
	sum, size, err := HashFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s: %w", s.URL(key), ErrNotExist)
	}
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, URL: s.URL(key), Size: size, SHA256: sum}, nil
}

// Get copies the stored file to w.
func (s *FileStore) Get(ctx context.Context, key string, w io.Writer) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", s.URL(key), ErrNotExist)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, ctxReader{ctx, f})
	return err
}

// List walks the directory below prefix.
func (s *FileStore) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	// Walk only below the directory part of the prefix ("builds/1.0/" or
	// "builds/1." both start at builds/), not the whole store.
	start := s.Root
	dir := path.Dir(prefix + "x")
	if dir == ".." || strings.HasPrefix(dir, "../") || strings.HasPrefix(dir, "/") {
		return nil, fmt.Errorf("artifact prefix %q is not a path below the store", prefix)
	}
	if dir != "." {
		start = filepath.Join(s.Root, filepath.FromSlash(dir))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, _ := filepath.Rel(s.Root, p)
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		o, err := s.Stat(ctx, key)
		if err != nil {
			return err
		}
		out = append(out, o)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, err
}

// Delete removes the file; a missing file is not an error.
func (s *FileStore) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// HashFile is the sha256 (hex) and size of the local file at p: what an
// Object records, for comparing a local copy with a stored one.
func HashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
