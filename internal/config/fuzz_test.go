package config

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var problemLine = regexp.MustCompile(`^pipeline\.yaml:(\d+:\d+:)? [^\s:]`)

// FuzzLoad: whatever the bytes, decoding never panics, and every line of
// an error starts with pipeline.yaml:line:col: (or pipeline.yaml: for the
// file as a whole). Run it with
//
//	go test ./internal/config -run '^$' -fuzz FuzzLoad -fuzztime 5m
//
// The seeds are every testdata file and nesting past the depth bound; testdata/fuzz/FuzzLoad keeps inputs
// found interesting by earlier runs.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid", "testdata/rich/valid", "testdata/rich/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	// Nesting past yamlbound.MaxDepth, small enough to run each time.
	for _, nest := range []string{"[", "{a: ", "- "} {
		f.Add([]byte("version: 1\nstages: " + strings.Repeat(nest, 100)))
	}
	f.Add([]byte(deepIndent(80)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("pipeline.yaml", data, testEnv)
		checkFuzzError(t, err)
		if err == nil {
			if cfg.Version != 1 {
				t.Errorf("accepted version %d", cfg.Version)
			}
			for _, s := range cfg.Stages {
				if !contains(AllStages, s) {
					t.Errorf("accepted stage %q", s)
				}
			}
		}
		checkFuzzError(t, decodeFile("pipeline.yaml", data, testEnv, defaultRich()))
	})
}

func checkFuzzError(t *testing.T, err error) {
	if err == nil {
		return
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is not a *config.Error: %v", err)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !problemLine.MatchString(line) {
			t.Fatalf("error line does not start with pipeline.yaml:line:col: %q", line)
		}
	}
}
