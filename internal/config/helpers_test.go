package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and "+SchemaFile)

// testEnv is the environment the testdata files are read with.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"DISTRO":      "acme",
		"FLAVOUR":     "", // set but empty: ${FLAVOUR:-server} gives server
		"GITLAB_HOST": "gitlab.example.com",
	}[name]
	return v, ok
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./internal/config -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run: go test ./internal/config -update to accept)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata in %s: %v", dir, err)
	}
	return files
}

func withExt(path, ext string) string { return strings.TrimSuffix(path, ".yaml") + ext }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}
