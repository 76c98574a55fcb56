package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
)

// Manifest records what one build published where, as
// <prefix>/manifest.json: stored after every object but its Pointers, so a
// build whose manifest exists and is Complete is whole.
type Manifest struct {
	Build   string   `json:"build"`
	Version string   `json:"version,omitempty"`
	Commit  string   `json:"commit,omitempty"`
	Objects []Object `json:"objects"`
	// Pointers are the keys of the objects written after the manifest
	// (a build's repository indexes, through which users reach the rest):
	// the build is complete when they are stored as Objects lists them.
	Pointers []string `json:"pointers,omitempty"`
}

// Complete says whether the build m describes is complete: every one of
// its Pointers is stored with the size and sha256 its Objects list.
func Complete(ctx context.Context, st Store, m Manifest) error {
	want := map[string]Object{}
	for _, o := range m.Objects {
		want[o.Key] = o
	}
	for _, k := range m.Pointers {
		got, err := st.Stat(ctx, k)
		if err != nil {
			return fmt.Errorf("build %s is not complete: %s: %w", m.Build, k, err)
		}
		if w := want[k]; got.SHA256 != w.SHA256 || got.Size != w.Size {
			return fmt.Errorf("build %s is not complete: %s is stored with sha256 %s, the manifest lists %s", m.Build, k, got.SHA256, w.SHA256)
		}
	}
	return nil
}

// ManifestName is the manifest's key below a build's prefix.
const ManifestName = "manifest.json"

// Progress is told about each file as it is published.
type Progress func(obj Object, reused bool)

// PublishDir uploads every file below dir to the store under prefix, in
// sorted order. A file already stored with the same size and sha256 is not
// sent again: uploads are content-addressed by sha256, so a re-run of the
// same build costs a Stat per file.
func PublishDir(ctx context.Context, st Store, prefix, dir string, progress Progress) ([]Object, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", dir, err)
	}
	sort.Strings(files)
	var out []Object
	for _, rel := range files {
		local := filepath.Join(dir, filepath.FromSlash(rel))
		key := path.Join(prefix, rel)
		sum, size, err := HashFile(local)
		if err != nil {
			return out, err
		}
		if old, err := st.Stat(ctx, key); err == nil && old.SHA256 == sum && old.Size == size {
			out = append(out, old)
			if progress != nil {
				progress(old, true)
			}
			continue
		}
		obj, err := st.PutFile(ctx, key, local)
		if err != nil {
			return out, err
		}
		out = append(out, obj)
		if progress != nil {
			progress(obj, false)
		}
	}
	return out, nil
}

// WriteManifest stores m as <prefix>/manifest.json and returns its object.
func WriteManifest(ctx context.Context, st Store, prefix string, m Manifest) (Object, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Object{}, err
	}
	data = append(data, '\n')
	return st.Put(ctx, path.Join(prefix, ManifestName), bytes.NewReader(data), int64(len(data)))
}

// Copier is a Store that copies an object to another key without sending
// its bytes again (a server-side copy on S3).
type Copier interface {
	Copy(ctx context.Context, src, dst string) (Object, error)
}

// Copy stores the object at src under dst too, verified like Put: with
// the store's own copy when it has one, else through a temporary file.
func Copy(ctx context.Context, st Store, src, dst string) (Object, error) {
	if c, ok := st.(Copier); ok {
		return c.Copy(ctx, src, dst)
	}
	tmp, err := os.CreateTemp("", "pipeline-copy-*")
	if err != nil {
		return Object{}, err
	}
	defer os.Remove(tmp.Name())
	err = st.Get(ctx, src, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Object{}, fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return st.PutFile(ctx, dst, tmp.Name())
}
