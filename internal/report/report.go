// Package report writes what a run leaves for people and for the CI system:
// JUnit XML (GitLab artifacts:reports:junit, Jenkins junit), a JSON summary
// and a dotenv file (GitLab artifacts:reports:dotenv) in the report dir.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is the report directory. A nil *Dir writes nothing.
type Dir struct {
	Path string
	// Mask, when set, is applied to every byte written (secret masking).
	Mask func(string) string
}

func (d *Dir) mask(s string) string {
	if d.Mask == nil {
		return s
	}
	return d.Mask(s)
}

// WriteFile writes name under the report dir atomically (temp file + rename).
func (d *Dir) WriteFile(name string, data []byte) (string, error) {
	if d == nil || d.Path == "" {
		return "", nil
	}
	p := filepath.Join(d.Path, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("report dir: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.mask(string(data))), 0o644); err != nil {
		return "", fmt.Errorf("write report %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write report %s: %w", p, err)
	}
	return p, nil
}

// WriteJUnit writes suites as name (e.g. "junit-promote.xml").
func (d *Dir) WriteJUnit(name string, s *JUnit) (string, error) {
	s.Count()
	out, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", err
	}
	return d.WriteFile(name, append([]byte(xml.Header), append(out, '\n')...))
}

// WriteJSON writes v as indented JSON.
func (d *Dir) WriteJSON(name string, v any) (string, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	return d.WriteFile(name, append(out, '\n'))
}

// WriteDotenv merges vars into the dotenv file "pipeline.env" (later values
// win), sorted by key.
func (d *Dir) WriteDotenv(vars map[string]string) (string, error) {
	if d == nil || d.Path == "" || len(vars) == 0 {
		return "", nil
	}
	all := map[string]string{}
	if old, err := os.ReadFile(filepath.Join(d.Path, "pipeline.env")); err == nil {
		for _, line := range strings.Split(string(old), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				all[k] = v
			}
		}
	}
	for k, v := range vars {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		// GitLab's dotenv report takes one line per variable, no quotes.
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(all[k], "\n", " "))
	}
	return d.WriteFile("pipeline.env", []byte(b.String()))
}
