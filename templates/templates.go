// Package templates holds the embedded text/templates the stages render:
// init/ (starter pipeline.yaml, .gitlab-ci.yml, Jenkinsfile), release/
// (changelog entry, release notes, MR body), promote/ (culprit comment),
// integration/ (MR comment, child pipeline), build/ (meta-package
// description), and pipeline.schema.json. Each area owns its folder. A team
// can override a template by pointing its config at a file of its own.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"text/template"
)

// FS holds every template file, by path relative to this folder
// ("release/notes.md.tmpl").
//
//go:embed */* *.json
var FS embed.FS

// Read returns the bytes of an embedded file.
func Read(name string) ([]byte, error) { return fs.ReadFile(FS, name) }

// Parse parses the embedded template name, with extra functions.
func Parse(name string, funcs template.FuncMap) (*template.Template, error) {
	src, err := Read(name)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return ParseText(name, string(src), funcs)
}

// ParseText parses src (a team's own override, say) as template name.
func ParseText(name, src string, funcs template.FuncMap) (*template.Template, error) {
	t, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

// Render executes a parsed template with data.
func Render(t *template.Template, data any) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}
