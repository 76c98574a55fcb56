package build

// The component cache: a component's packages kept in the artifact store
// under its input key, so that a later build (on any runner sharing the
// store) whose inputs for it are the same takes them instead of
// rebuilding.
//
//	components/<name>/<key>/<file>            each package file
//	components/<name>/<key>/component.json    what the entry holds; written last

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// CachedComponent is a component's entry in the cache.
type CachedComponent struct {
	Name   string       `json:"name"`
	Key    string       `json:"key"`
	Inputs Inputs       `json:"inputs"`
	Files  []CachedFile `json:"files"`
	Built  time.Time    `json:"built"` // when it was built (for people; not in any package)
}

// CachedFile is one package file of a cached component.
type CachedFile struct {
	Path   string `json:"path"` // where the command leaves it, relative to the repository
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

const cacheEntry = "component.json"

// CachePrefix is where the component's packages for key are kept.
func CachePrefix(name, key string) string { return path.Join("components", name, key) }

// fetchComponent restores a cached component's package files to where its
// command would have left them, each checked against the sha256 the entry
// records. ok is false when the store has no complete entry for the key.
func fetchComponent(ctx context.Context, st artifacts.Store, repo, name, key string) (entry *CachedComponent, ok bool, err error) {
	prefix := CachePrefix(name, key)
	var buf bytes.Buffer
	if err := st.Get(ctx, path.Join(prefix, cacheEntry), &buf); err != nil {
		if errors.Is(err, artifacts.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("component cache %s: %w", st.URL(prefix), err)
	}
	entry = &CachedComponent{}
	if err := json.Unmarshal(buf.Bytes(), entry); err != nil || entry.Key != key || len(entry.Files) == 0 {
		return nil, false, fmt.Errorf("component cache %s: %s is not a cache entry for key %s (%v): delete it, or build with --rebuild %s",
			st.URL(prefix), cacheEntry, key, err, name) //nolint:errorlint // err is nil when the entry parsed but is not this key's
	}
	for _, f := range entry.Files {
		rel := filepath.FromSlash(path.Clean(f.Path))
		if filepath.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, false, fmt.Errorf("component cache %s: file %q is outside the repository", st.URL(prefix), f.Path)
		}
		err := restoreFile(ctx, st, path.Join(prefix, path.Base(f.Path)), filepath.Join(repo, rel), f)
		if errors.Is(err, artifacts.ErrNotExist) {
			return nil, false, nil // a file gone (expired?): build it again
		}
		if err != nil {
			return nil, false, err
		}
	}
	return entry, true, nil
}

// restoreFile downloads key to dst through a temporary file, which is
// renamed into place only when its size and sha256 are the recorded ones.
func restoreFile(ctx context.Context, st artifacts.Store, key, dst string, want CachedFile) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".restore-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = st.Get(ctx, key, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("component cache: download %s: %w", st.URL(key), err)
	}
	sum, size, err := artifacts.HashFile(tmp.Name())
	if err != nil {
		return err
	}
	if sum != want.SHA256 || size != want.Size {
		return fmt.Errorf("component cache: %s is %d bytes with sha256 %s, but its entry records %d bytes with sha256 %s: delete the entry (%s) or build with --rebuild",
			st.URL(key), size, sum, want.Size, want.SHA256, path.Dir(key))
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// storeComponent uploads a built component's package files under its key,
// then the entry that makes it complete.
func storeComponent(ctx context.Context, st artifacts.Store, repo string, in Inputs, files []string) (*CachedComponent, error) {
	key := in.Key()
	prefix := CachePrefix(in.Name, key)
	entry := &CachedComponent{Name: in.Name, Key: key, Inputs: in, Built: time.Now().UTC()}
	seen := map[string]bool{}
	for _, f := range files {
		base := path.Base(filepath.ToSlash(f))
		if seen[base] {
			return nil, fmt.Errorf("component %s: two package files named %s: the cache keeps one per name", in.Name, base)
		}
		seen[base] = true
		obj, err := st.PutFile(ctx, path.Join(prefix, base), filepath.Join(repo, f))
		if err != nil {
			return nil, fmt.Errorf("component cache: %w", err)
		}
		entry.Files = append(entry.Files, CachedFile{Path: filepath.ToSlash(f), Size: obj.Size, SHA256: obj.SHA256})
	}
	data, err := json.MarshalIndent(entry, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	if _, err := st.Put(ctx, path.Join(prefix, cacheEntry), bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, fmt.Errorf("component cache: %w", err)
	}
	return entry, nil
}

// rebuildSet reads --rebuild: component names, or "all".
func rebuildSet(names []string, cs []config.Component) (map[string]bool, bool, error) {
	known := map[string]bool{}
	var all []string
	for _, c := range cs {
		known[c.Name] = true
		all = append(all, c.Name)
	}
	set := map[string]bool{}
	for _, n := range names {
		if n == "all" {
			return set, true, nil
		}
		if !known[n] {
			return nil, false, errs.Usagef("--rebuild %s: no component has that name (components: %s, or all)", n, strings.Join(all, ", "))
		}
		set[n] = true
	}
	return set, false, nil
}
