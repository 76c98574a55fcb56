package template

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// Manifest records one built template: stored last, as
// images/<key>/manifest.json, so a key whose manifest exists is complete.
type Manifest struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	Version string `json:"version"`
	Created string `json:"created"`
	// Cmdline boots the image's kernel directly (the files "kernel" and
	// "initrd" below): what runners use under emulation.
	Cmdline string `json:"cmdline"`
	// HostKey is the image's SSH host key (ed25519), for known_hosts.
	HostKey string       `json:"ssh_host_key"`
	Files   []File       `json:"files"`
	Inputs  Inputs       `json:"inputs"`
	Smoke   *SmokeResult `json:"smoke,omitempty"`
}

// File is one published file of a template.
type File struct {
	Format string `json:"format"` // qcow2, qcow2-compressed, vmdk, libvirt, virtualbox, kernel, initrd
	Name   string `json:"name"`
	Key    string `json:"key"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Layout of the template's objects in the store, below Prefix:
//
//	images/<key>/<files>, images/<key>/manifest.json
//	catalog/versions/<version>.json   one object per published version
//	catalog.json                      the Vagrant catalog, rebuilt from them
type StoreLayout struct{ Prefix string }

func (s StoreLayout) Image(key, name string) string { return path.Join(s.Prefix, "images", key, name) }
func (s StoreLayout) Manifest(key string) string    { return s.Image(key, "manifest.json") }
func (s StoreLayout) Versions() string              { return path.Join(s.Prefix, "catalog", "versions") + "/" }
func (s StoreLayout) Version(v string) string       { return s.Versions() + v + ".json" }
func (s StoreLayout) Catalog() string               { return path.Join(s.Prefix, "catalog.json") }

// FindManifest returns the manifest of key, or nil when the store has none.
func FindManifest(ctx context.Context, st artifacts.Store, l StoreLayout, key string) (*Manifest, error) {
	var buf bytes.Buffer
	if err := st.Get(ctx, l.Manifest(key), &buf); err != nil {
		if errors.Is(err, artifacts.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", l.Manifest(key), err)
	}
	var m Manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, fmt.Errorf("%s: %w", st.URL(l.Manifest(key)), err)
	}
	return &m, nil
}

func putJSON(ctx context.Context, st artifacts.Store, key string, v any) (artifacts.Object, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return artifacts.Object{}, err
	}
	b = append(b, '\n')
	return st.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
}

// PublishCatalog adds version to the catalog: it stores the version's own
// object, then rebuilds catalog.json from every version object. Two runs
// publishing at once each write their own object, and whichever writes the
// index last has listed both; the loop re-lists until the index it wrote
// holds every version present, so no run's version is lost. Versions
// beyond retention are deleted with their images.
func PublishCatalog(ctx context.Context, st artifacts.Store, l StoreLayout, name, description string, v CatalogVersion, retention int) (Catalog, []CatalogVersion, error) {
	if _, err := putJSON(ctx, st, l.Version(v.Version), v); err != nil {
		return Catalog{}, nil, fmt.Errorf("catalog version %s: %w", v.Version, err)
	}
	var pruned []CatalogVersion
	for attempt := 0; ; attempt++ {
		versions, err := readVersions(ctx, st, l)
		if err != nil {
			return Catalog{}, nil, err
		}
		kept, dropped := Prune(versions, retention)
		keptKeys := map[string]bool{}
		for _, k := range kept {
			keptKeys[k.Key] = true
		}
		for _, d := range dropped {
			if keptKeys[d.Key] { // a --force rebuild republished these files
				d.Key = ""
			}
			if err := deleteVersion(ctx, st, l, d); err != nil {
				return Catalog{}, nil, err
			}
			pruned = append(pruned, d)
		}
		cat := BuildCatalog(name, description, kept)
		if _, err := putJSON(ctx, st, l.Catalog(), cat); err != nil {
			return Catalog{}, nil, fmt.Errorf("catalog: %w", err)
		}
		after, err := readVersions(ctx, st, l)
		if err != nil {
			return Catalog{}, nil, err
		}
		if sameVersions(kept, after) || attempt >= 5 {
			return cat, pruned, nil
		}
	}
}

func readVersions(ctx context.Context, st artifacts.Store, l StoreLayout) ([]CatalogVersion, error) {
	objs, err := st.List(ctx, l.Versions())
	if err != nil {
		return nil, fmt.Errorf("list catalog versions: %w", err)
	}
	var out []CatalogVersion
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		var buf bytes.Buffer
		if err := st.Get(ctx, o.Key, &buf); err != nil {
			if errors.Is(err, artifacts.ErrNotExist) {
				continue // pruned by another run meanwhile
			}
			return nil, fmt.Errorf("read %s: %w", o.Key, err)
		}
		var v CatalogVersion
		if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s: %w", o.URL, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func deleteVersion(ctx context.Context, st artifacts.Store, l StoreLayout, v CatalogVersion) error {
	if v.Key != "" {
		objs, err := st.List(ctx, l.Image(v.Key, ""))
		if err != nil {
			return err
		}
		// The manifest first: a half-deleted image must not look complete.
		if err := st.Delete(ctx, l.Manifest(v.Key)); err != nil && !errors.Is(err, artifacts.ErrNotExist) {
			return err
		}
		for _, o := range objs {
			if err := st.Delete(ctx, o.Key); err != nil && !errors.Is(err, artifacts.ErrNotExist) {
				return err
			}
		}
	}
	if err := st.Delete(ctx, l.Version(v.Version)); err != nil && !errors.Is(err, artifacts.ErrNotExist) {
		return err
	}
	return nil
}

func sameVersions(a, b []CatalogVersion) bool {
	seen := map[string]bool{}
	for _, v := range a {
		seen[v.Version] = true
	}
	for _, v := range b {
		if !seen[v.Version] {
			return false
		}
	}
	return true
}
