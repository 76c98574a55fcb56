package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/stages/template"
)

// Its own name: other test files of this package may define -update.
var updateGolden = flag.Bool("update-template", false, "rewrite the template golden files in testdata/golden")

// golden compares got with testdata/golden/name (rewritten with -update-template).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *updateGolden {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run with -update-template to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (-update-template rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestTemplateDryRunOnACacheHit: with unchanged inputs (an image for the
// key is in the store) `pipeline template --dry-run` and `pipeline run
// --dry-run` say the image is there and nothing is to do — outcome
// no-change, the box's catalog and the `vagrant box add` line — not that
// they would build and publish. The mirror is a file:// folder: the key
// is computed as in production, offline.
func TestTemplateDryRunOnACacheHit(t *testing.T) {
	dir := t.TempDir()
	mirror := filepath.Join(dir, "mirror")
	os.MkdirAll(filepath.Join(mirror, "dists", "bookworm"), 0o755)
	os.WriteFile(filepath.Join(mirror, "dists", "bookworm", "Release"), []byte("Suite: bookworm\n"), 0o644)
	store := filepath.Join(dir, "store")
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	yaml := fmt.Sprintf(`version: 1
project:
  name: acme
artifacts:
  url: file://%s
stages: [template]
template:
  name: acme/dev
  base:
    suite: bookworm
    mirror: file://%s
  formats: [qcow2, libvirt]
  cache_dir: %s
`, store, mirror, filepath.Join(dir, "bases"))
	os.WriteFile(filepath.Join(repo, "pipeline.yaml"), []byte(yaml), 0o644)

	// Not built yet: the dry run would build.
	code, out, errOut := runIn(t, repo, ci.MapEnv{}, "--json", "--dry-run", "template")
	if code != 0 {
		t.Fatalf("dry run before the build: exit %d\n%s\n%s", code, out, errOut)
	}
	var doc struct {
		Results []struct {
			Outcome string `json:"outcome"`
			Data    struct {
				Key string `json:"key"`
			} `json:"data"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Results) != 1 || doc.Results[0].Data.Key == "" {
		t.Fatalf("json: %v\n%s", err, out)
	}
	key := doc.Results[0].Data.Key
	if doc.Results[0].Outcome != "dry-run" {
		t.Fatalf("before the build: outcome %s, want dry-run", doc.Results[0].Outcome)
	}

	// The image for the key, as a build publishes it (manifest last).
	st, err := artifacts.NewFileStore(store)
	if err != nil {
		t.Fatal(err)
	}
	layout := template.StoreLayout{Prefix: template.StorePrefix("acme/dev")}
	ctx := context.Background()
	var files []template.File
	for format, name := range map[string]string{"qcow2": "dev.qcow2", "libvirt": "dev-libvirt.box"} {
		obj, err := st.Put(ctx, layout.Image(key, name), strings.NewReader(name), int64(len(name)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, template.File{Format: format, Name: name, Key: obj.Key, URL: obj.URL, Size: obj.Size, SHA256: obj.SHA256})
	}
	m, _ := json.Marshal(template.Manifest{Name: "acme/dev", Key: key, Version: "2026.0101.120000", Created: "2026-01-01T12:00:00Z", Files: files})
	if _, err := st.Put(ctx, layout.Manifest(key), bytes.NewReader(m), int64(len(m))); err != nil {
		t.Fatal(err)
	}
	before, _ := st.List(ctx, "")

	mask := func(s string) string {
		s = strings.ReplaceAll(s, key, "KEY")
		s = strings.ReplaceAll(s, dir, "$DIR")
		return s
	}
	var got strings.Builder
	for _, args := range [][]string{{"--dry-run", "template"}, {"--dry-run", "run"}} {
		code, out, errOut := runIn(t, repo, ci.MapEnv{}, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		fmt.Fprintf(&got, "$ pipeline %s\n%s", strings.Join(args, " "), mask(out))
		if strings.Contains(errOut, "would build") {
			t.Errorf("%v: the log says it would build on a cache hit:\n%s", args, errOut)
		}
		if n := strings.Count(errOut, "is already in the store"); n != 1 {
			t.Errorf("%v: %d lines say the image is in the store, want 1:\n%s", args, n, errOut)
		}
	}
	golden(t, "template-dry-run-cache-hit.txt", got.String())
	if after, _ := st.List(ctx, ""); len(after) != len(before) {
		t.Errorf("the dry runs changed the store: %d objects, were %d", len(after), len(before))
	}
	if _, err := os.Stat(filepath.Join(repo, ".pipeline", "template")); !os.IsNotExist(err) {
		t.Errorf("a dry run made a work directory: %v", err)
	}
}
