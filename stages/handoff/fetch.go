package handoff

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// ReadManifest reads the manifest of the build in folder prefix
// (builds/<id>): the one way later stages find a build. found is false
// when the store has no complete build there: no manifest (written after
// every package), or one whose pointers (the repository indexes, written
// after it) are not all stored yet, see artifacts.Complete.
func ReadManifest(ctx context.Context, st artifacts.Store, prefix string) (m artifacts.Manifest, found bool, err error) {
	found, err = Fetch(ctx, st, path.Join(prefix, artifacts.ManifestName), &m)
	if found && err == nil && artifacts.Complete(ctx, st, m) != nil {
		return m, false, nil
	}
	return m, found, err
}

// Download writes the objects of manifest m that lie below prefix/<sub>
// for each sub in subs (every object below prefix when subs is empty) into
// dest, keeping their paths relative to prefix. Every file is checked
// against the manifest's size and sha256; a file already in dest with the
// right sum is kept, not downloaded again. dest is replaced only when
// complete: a failed download leaves the old one as it was.
func Download(ctx context.Context, st artifacts.Store, m artifacts.Manifest, prefix string, subs []string, dest string) (fetched, kept int, err error) {
	want := map[string]artifacts.Object{}
	for _, o := range m.Objects {
		rel, ok := strings.CutPrefix(o.Key, strings.TrimSuffix(prefix, "/")+"/")
		if !ok || rel == "" || rel == artifacts.ManifestName || !safeRel(rel) {
			continue
		}
		if len(subs) > 0 && !under(rel, subs) {
			continue
		}
		want[rel] = o
	}
	if len(want) == 0 {
		return 0, 0, fmt.Errorf("the manifest of %s lists no file below %s", st.URL(prefix), strings.Join(subs, ", "))
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return 0, 0, err
	}
	work, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".fetch-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(work)
	for rel, o := range want {
		local := filepath.Join(work, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return fetched, kept, err
		}
		old := filepath.Join(dest, filepath.FromSlash(rel))
		if sum, size, err := artifacts.HashFile(old); err == nil && sum == o.SHA256 && size == o.Size {
			// Kept as it is: a hard link (the work dir sits beside dest),
			// since the old dir is swapped out whole and never written into.
			if err := os.Link(old, local); err == nil {
				kept++
				continue
			}
		}
		if err := getVerified(ctx, st, o, local); err != nil {
			return fetched, kept, err
		}
		fetched++
	}
	oldDir := dest + ".old"
	_ = os.RemoveAll(oldDir)
	if _, err := os.Stat(dest); err == nil {
		if err := os.Rename(dest, oldDir); err != nil {
			return fetched, kept, err
		}
	}
	if err := os.Rename(work, dest); err != nil {
		return fetched, kept, err
	}
	return fetched, kept, os.RemoveAll(oldDir)
}

// getVerified downloads o to local and checks its size and sha256.
func getVerified(ctx context.Context, st artifacts.Store, o artifacts.Object, local string) error {
	f, err := os.Create(local)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{}
	err = st.Get(ctx, o.Key, io.MultiWriter(f, h, cw))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", st.URL(o.Key), err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != o.SHA256 || cw.n != o.Size {
		return fmt.Errorf("download %s: got %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s: the store's copy is damaged",
			st.URL(o.Key), cw.n, sum, o.Size, o.SHA256)
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func under(rel string, subs []string) bool {
	for _, s := range subs {
		s = strings.Trim(s, "/")
		if rel == s || strings.HasPrefix(rel, s+"/") {
			return true
		}
	}
	return false
}

// safeRel refuses a key that would leave the destination.
func safeRel(rel string) bool {
	c := path.Clean(rel)
	return c == rel && !path.IsAbs(c) && c != ".." && !strings.HasPrefix(c, "../")
}

// FetchBuild downloads build b's published files into dir by its manifest
// (every file verified). The error wraps ErrNoBuild when the store has no
// manifest of it.
func FetchBuild(ctx context.Context, st artifacts.Store, b *Build, dir string) (fetched, kept int, err error) {
	m, found, err := ReadManifest(ctx, st, b.Prefix())
	if err != nil {
		return 0, 0, err
	}
	if !found {
		return 0, 0, fmt.Errorf("build %s: %s has no manifest: %w", b.ID, st.URL(b.Prefix()), ErrNoBuild)
	}
	return Download(ctx, st, m, b.Prefix(), nil, dir)
}
