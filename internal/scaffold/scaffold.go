// Package scaffold makes the starter files of `pipeline init` for a
// repository: pipeline.yaml, .gitlab-ci.yml and a Jenkinsfile, rendered from
// the embedded templates in templates/init/. Render is pure; Write puts the
// files in place all or nothing.
package scaffold

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/pipeline-ci/pipeline/templates"
)

// Data fills the templates.
type Data struct {
	Project string // the distribution's name
	Forge   string // gitlab, github, none, or "" (from the CI)
	Staging string // the branch developers commit to
	Master  string // the branch promote feeds and release tags
	Shards  int    // parallel integration jobs
	Cron    string // Jenkins schedule of the weekly release
}

// Defaults returns the Data for a repository in dir.
func Defaults(dir string) Data {
	return Data{
		Project: ProjectName(filepath.Base(dir)),
		Staging: "staging",
		Master:  "master",
		Shards:  2,
		Cron:    "H 6 * * 1", // Monday morning, spread by Jenkins' H
	}
}

var notName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-z0-9.+-]+`) })

// ProjectName makes a package-friendly name (lower case, digits, . + -)
// from a folder name, or "appliance" when nothing usable is left.
func ProjectName(s string) string {
	n := strings.Trim(notName().ReplaceAllString(strings.ToLower(s), "-"), "-.+")
	if n == "" {
		return "appliance"
	}
	return n
}

// ShardList is 1..Shards, for templates.
func (d Data) ShardList() []int {
	out := make([]int, d.Shards)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// Validate says what is wrong with d, naming the flag to fix.
func (d Data) Validate() error {
	switch d.Forge {
	case "", "gitlab", "github", "none":
	default:
		return fmt.Errorf("--forge %q: use gitlab, github or none", d.Forge)
	}
	if d.Shards < 1 || d.Shards > 200 {
		return fmt.Errorf("--shards %d: use 1 to 200 (GitLab's parallel: limit)", d.Shards)
	}
	if ProjectName(d.Project) != d.Project {
		return fmt.Errorf("--project %q: use lower-case letters, digits, '.', '+' and '-' (a package name), e.g. %q", d.Project, ProjectName(d.Project))
	}
	for flag, b := range map[string]string{"--staging": d.Staging, "--master": d.Master} {
		if b == "" || strings.ContainsAny(b, " '\"$\\") {
			return fmt.Errorf("%s %q: give a branch name", flag, b)
		}
	}
	return nil
}

// File is one file to write, by path relative to the repository.
type File struct {
	Path    string `json:"path"`
	Content string `json:"-"`
}

// files maps the repository path of each starter file to its template.
var files = []struct{ path, tmpl string }{
	{"pipeline.yaml", "init/pipeline.yaml.tmpl"},
	{".gitlab-ci.yml", "init/gitlab-ci.yml.tmpl"},
	{"Jenkinsfile", "init/Jenkinsfile.tmpl"},
}

// Render renders the starter files.
func Render(d Data) ([]File, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var out []File
	for _, f := range files {
		t, err := templates.Parse(f.tmpl, nil)
		if err != nil {
			return nil, err
		}
		text, err := templates.Render(t, d)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: f.path, Content: text})
	}
	return out, nil
}

// Existing lists the files that already exist in dir.
func Existing(dir string, fs []File) []string {
	var out []string
	for _, f := range fs {
		if _, err := os.Lstat(filepath.Join(dir, f.Path)); err == nil {
			out = append(out, f.Path)
		}
	}
	return out
}

// ErrExists is returned (wrapped) when Write refuses to overwrite.
var ErrExists = errors.New("already exists")

// Write writes fs into dir. Unless force is set, it writes nothing at all
// when any of them exists. Each file is written to a temporary file first
// and renamed into place only when all of them were written, so a failure
// leaves no half-written file and, without force, nothing at all.
func Write(dir string, fs []File, force bool) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if !force {
		if ex := Existing(dir, fs); len(ex) > 0 {
			return fmt.Errorf("%s: %s %w", dir, strings.Join(ex, ", "), ErrExists)
		}
	}
	var temps []string
	cleanup := func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}
	for _, f := range fs {
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".*.tmp")
		if err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		temps = append(temps, tmp.Name())
		_, werr := tmp.WriteString(f.Content)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	for i, f := range fs {
		if err := os.Rename(temps[i], filepath.Join(dir, f.Path)); err != nil {
			cleanup()
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return nil
}
