package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/yamlbound"
)

// Find looks for pipeline.yaml in dir and its parents. It returns "" when
// there is none.
func Find(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(abs, FileName)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		parent := filepath.Dir(abs)
		if parent == abs {
			return ""
		}
		abs = parent
	}
}

// Load reads the file at path and decodes it strictly onto Default(),
// expanding ${VAR} with lookup (nil: no variable is set). Every problem in
// the file comes back at once in one usage error (exit code 2) whose
// message has a line per problem, each starting with path:line:col; the
// *Error inside (errors.As) lists them.
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("%s: %w", path, err),
			"give the path of an existing pipeline.yaml, or run `pipeline init`")
	}
	cfg, err := Parse(displayPath(path), data, lookup)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

// displayPath is how messages name the file: relative to the working
// directory when it is below it (pipeline.yaml:3:7, as an editor or a CI
// log links it), else as given.
func displayPath(path string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(path) {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// Parse is Load for bytes already read; name is shown in messages.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	cfg := Default()
	later, err := decode(name, data, lookup, cfg, true)
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	cfg.setDeferred(later)
	return cfg, nil
}

// decodeFile decodes one YAML document onto out (a pointer to a struct).
func decodeFile(name string, data []byte, lookup func(string) (string, bool), out any) error {
	_, err := decode(name, data, lookup, out, true)
	return err
}

// decodeWith is decodeFile, with the Validators asked or not (tests compare
// the decoder's own rules with the schema's).
func decodeWith(name string, data []byte, lookup func(string) (string, bool), out any, validate bool) error {
	_, err := decode(name, data, lookup, out, validate)
	return err
}

// decode decodes one YAML document onto out. The error holds every problem
// to report now; what waits for a stage (a stage section's problems that
// depend on the environment) and the values that expanded to empty come
// back in deferred.
func decode(name string, data []byte, lookup func(string) (string, bool), out any, validate bool) (*deferred, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	root, probs := parseDocument(data)
	later := &deferred{file: name}
	if root != nil {
		d := &decoder{lookup: lookup, noValidate: !validate}
		v := reflect.ValueOf(out).Elem()
		if root.Kind != yaml.MappingNode {
			d.add(root, "", "want a mapping at the top level (key: value lines with keys such as %s), got %s",
				list(fieldNames(fieldsOf(v.Type())), 4), describe(root))
		} else {
			d.structure(root, v, "", root, true)
		}
		probs = d.probs
		later.problems, later.empties = d.deferred, d.empties
	}
	if len(probs) == 0 {
		return later, nil
	}
	return nil, errs.New(errs.Usage, newError(name, probs), "")
}

// parseDocument parses data into the node of its only document, or
// returns the problems of the file as a whole: empty, not YAML, or more
// than one document.
func parseDocument(data []byte) (*yaml.Node, []Problem) {
	if p, refused := boundProblem(data); refused {
		return nil, []Problem{p}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := safeDecode(dec, &doc)
	if errors.Is(err, io.EOF) || err == nil && (len(doc.Content) == 0 || isNull(doc.Content[0]) && doc.Content[0].Tag != "!!str") {
		return nil, []Problem{{Msg: `the file is empty — want a mapping of keys, starting with "version: 1" (see docs/config.md)`}}
	}
	if err != nil {
		return nil, []Problem{syntaxProblem(data, err)}
	}
	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, []Problem{syntaxProblem(data, err)}
	default:
		return nil, []Problem{{Line: next.Line, Col: next.Column,
			Msg: `a second YAML document starts here — pipeline.yaml holds one document: remove this "---" line and merge what follows into the first, or delete it`}}
	}
	return doc.Content[0], nil
}

// safeDecode turns a panic in the YAML parser into an error: a malformed
// file must give a message, never a crash.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: the YAML parser failed: %v", r)
		}
	}()
	return dec.Decode(n)
}

// boundProblem refuses a file too big or too deeply nested before any
// parser runs (see yamlbound): both parsers below are linear in neither.
func boundProblem(data []byte) (Problem, bool) {
	var be *yamlbound.Error
	if err := yamlbound.Check(data); errors.As(err, &be) {
		return Problem{Line: be.Line, Col: be.Col, Msg: be.Msg}, true
	}
	return Problem{}, false
}

var (
	v3LineRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })
	v3AnchorRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`) })
)

// syntaxProblem places a YAML syntax error. yaml/v3 gives a line, sometimes
// none and sometimes the line where the enclosing block began; goccy/go-yaml
// gives the line and column of the token it stopped at. The later of the
// two is where the parser really stopped, so it is the one reported.
// goccy stays for this alone: yaml/v3's Node carries positions, but its
// syntax errors carry only that line in their text. data has passed
// yamlbound.Check (parseDocument, YAMLSyntax), so neither parser meets a
// file deep enough to run away; goccy still allocates some 600 bytes per
// byte of input, so it is asked only about files up to goccyMaxSize (real
// pipeline.yaml files are a few KB; a bigger one gets yaml/v3's line).
func syntaxProblem(data []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := v3LineRe().FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if m := v3AnchorRe().FindStringSubmatch(err.Error()); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			l, c := lineCol(data, i)
			return Problem{Line: l, Col: c, Msg: fmt.Sprintf("YAML syntax: alias *%s has no anchor &%s before it", m[1], m[1])}
		}
	}
	if gl, gc, gmsg, ok := goccyPosition(data); ok && gl >= line {
		return Problem{Line: gl, Col: gc, Msg: "YAML syntax: " + gmsg + hint(data, gl, gmsg)}
	}
	if line > 0 {
		return Problem{Line: line, Col: firstColumn(data, line), Msg: "YAML syntax: " + msg + hint(data, line, msg)}
	}
	return Problem{Msg: "YAML syntax: " + msg}
}

// goccyMaxSize bounds the files goccy/go-yaml parses for an error position
// (about 40 MB of allocation at this size).
const goccyMaxSize = 64 << 10

func goccyPosition(data []byte) (line, col int, msg string, ok bool) {
	if len(data) > goccyMaxSize {
		return 0, 0, "", false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := goccyparser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil {
		return 0, 0, "", false
	}
	msg = strings.NewReplacer("\t", `\t`, "\r", `\r`, "\n", `\n`).Replace(se.Message)
	return se.Token.Position.Line, se.Token.Position.Column, msg, se.Token.Position.Line > 0
}

// hint names the usual cause of a syntax error: a tab, or indentation.
func hint(data []byte, line int, msg string) string {
	switch {
	case strings.HasPrefix(strings.TrimLeft(lineText(data, line), " "), "\t"):
		return " (YAML is indented with spaces, never tabs)"
	case strings.Contains(msg, "'}'") || strings.Contains(msg, "']'"):
		return " (is a { or [ above not closed?)"
	case strings.Contains(msg, "not allowed in this context") || strings.Contains(msg, "did not find expected"):
		return " (check the indentation of this line and the ones above it)"
	}
	return ""
}

func lineText(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}

// firstColumn is the column of the first non-blank character of a line.
func firstColumn(data []byte, line int) int {
	l := lineText(data, line)
	return 1 + utf8.RuneCountInString(l[:len(l)-len(strings.TrimLeft(l, " \t"))])
}

func lineCol(data []byte, offset int) (int, int) {
	before := data[:offset]
	line := 1 + bytes.Count(before, []byte("\n"))
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}
