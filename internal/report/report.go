// Package report writes what a run leaves for people and for the CI system:
// JUnit XML (GitLab artifacts:reports:junit, Jenkins junit), a JSON summary
// and a dotenv file (GitLab artifacts:reports:dotenv) in the report dir.
// Every byte written goes through Dir.Mask, so no secret reaches a report.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Dir is the report directory. A nil *Dir writes nothing.
type Dir struct {
	Path string
	// Mask, when set, is applied to every byte written (secret masking).
	Mask func(string) string
}

// Well-known file names in the report dir.
const (
	DotenvFile = "pipeline.env" // artifacts:reports:dotenv
	// DotenvShellFile holds the same variables for a shell
	// (`. pipeline-env.sh`): GitLab keeps a dotenv value's quotes as
	// part of it, so pipeline.env cannot quote the values a shell needs
	// quoted (`deb [trusted=yes] …`).
	DotenvShellFile = "pipeline-env.sh"
	SummaryFile     = "pipeline.json" // the run's JSON summary
)

func (d *Dir) mask(s string) string {
	if d.Mask == nil {
		return s
	}
	return d.Mask(s)
}

// WriteFile writes name under the report dir atomically (temp file +
// rename): a reader never sees half a report, even when the job is killed.
func (d *Dir) WriteFile(name string, data []byte) (string, error) {
	if d == nil || d.Path == "" {
		return "", nil
	}
	p := filepath.Join(d.Path, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("report dir: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("write report %s: %w", p, err)
	}
	_, werr := f.WriteString(d.mask(string(data)))
	cerr := f.Close()
	if err := firstErr(werr, cerr, os.Chmod(f.Name(), 0o644)); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write report %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write report %s: %w", p, err)
	}
	return p, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// WriteJUnit writes suites as name (e.g. "junit-promote.xml"), with the
// totals counted and the text normalised (see JUnit.Marshal).
func (d *Dir) WriteJUnit(name string, s *JUnit) (string, error) {
	out, err := s.Marshal()
	if err != nil {
		return "", fmt.Errorf("junit %s: %w", name, err)
	}
	return d.WriteFile(name, out)
}

// WriteJSON writes v as indented JSON.
func (d *Dir) WriteJSON(name string, v any) (string, error) {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("json %s: %w", name, err)
	}
	return d.WriteFile(name, append(out, '\n'))
}

// WriteDotenv merges vars into the dotenv file "pipeline.env" (later values
// win; keys sorted). Keys and values are made to follow GitLab's dotenv
// rules (see FormatDotenv).
func (d *Dir) WriteDotenv(vars map[string]string) (string, error) {
	if d == nil || d.Path == "" || len(vars) == 0 {
		return "", nil
	}
	all := map[string]string{}
	if old, err := os.ReadFile(filepath.Join(d.Path, DotenvFile)); err == nil {
		prev, err := ParseDotenv(string(old))
		if err != nil {
			return "", fmt.Errorf("%s: %w (delete it to start over)", filepath.Join(d.Path, DotenvFile), err)
		}
		all = prev
	}
	clean, err := CleanDotenv(vars)
	if err != nil {
		return "", err
	}
	for k, v := range clean {
		all[k] = v
	}
	text, err := FormatDotenv(all)
	if err != nil {
		return "", err
	}
	if _, err := d.WriteFile(DotenvShellFile, []byte(FormatDotenvShell(all))); err != nil {
		return "", err
	}
	return d.WriteFile(DotenvFile, []byte(text))
}

// Summary is the JSON summary of one invocation (pipeline.json): what ran,
// on which commit, and how it ended. Results holds the stages' results.
type Summary struct {
	Command  string  `json:"command"`
	CI       string  `json:"ci"`
	Commit   string  `json:"commit,omitempty"`
	Branch   string  `json:"branch,omitempty"`
	Started  string  `json:"started"` // RFC 3339, UTC
	Seconds  float64 `json:"seconds"`
	DryRun   bool    `json:"dry_run"`
	ExitCode int     `json:"exit_code"`
	Error    string  `json:"error,omitempty"`
	Results  any     `json:"results"`
}

// WriteSummary writes s as pipeline.json.
func (d *Dir) WriteSummary(s *Summary) (string, error) {
	return d.WriteJSON(SummaryFile, s)
}
