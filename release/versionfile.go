package release

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/pipeline-ci/pipeline/internal/yamlbound"
)

// SetPlain makes a plain version file hold version, keeping whether the
// file ended with a newline (a new file gets one).
func SetPlain(content []byte, version string) []byte {
	if len(content) > 0 && !bytes.HasSuffix(content, []byte("\n")) {
		return []byte(version)
	}
	return []byte(version + "\n")
}

// SetRegex replaces, in every match of pattern, the group named "version"
// (or else the first group) with version. A pattern that matches nothing is
// an error: the file no longer says what the config expects.
func SetRegex(content []byte, pattern, version string) ([]byte, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	g := re.SubexpIndex("version")
	if g < 0 {
		g = 1
	}
	if re.NumSubexp() < g || g < 1 {
		return nil, fmt.Errorf("pattern %q: needs a group around the version, such as (?P<version>[0-9.]+)", pattern)
	}
	matches := re.FindAllSubmatchIndex(content, -1)
	if len(matches) == 0 {
		return nil, fmt.Errorf("pattern %q matches nothing", pattern)
	}
	var b bytes.Buffer
	last := 0
	for _, m := range matches {
		s, e := m[2*g], m[2*g+1]
		if s < 0 {
			continue
		}
		b.Write(content[last:s])
		b.WriteString(version)
		last = e
	}
	b.Write(content[last:])
	return b.Bytes(), nil
}

// SetYAMLKey sets the scalar at a dotted key path ("package.version",
// "images[0].tag" is not supported: keys only) to version, editing only the
// bytes of that value so comments, order and quoting stay as they were.
func SetYAMLKey(content []byte, key, version string) ([]byte, error) {
	if err := yamlbound.Check(content); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("key %s: the document is empty", key)
	}
	n := doc.Content[0]
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("key %s: %q is not inside a mapping (line %d)", key, part, n.Line)
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil, fmt.Errorf("key %s: no %q at line %d", key, part, n.Line)
		}
		n = next
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("key %s: line %d holds a %s, not a scalar", key, n.Line, kindName(n.Kind))
	}
	start := offsetOf(content, n.Line, n.Column)
	if start < 0 {
		return nil, fmt.Errorf("key %s: cannot locate line %d column %d", key, n.Line, n.Column)
	}
	end, quote, err := scalarEnd(content, start)
	if err != nil {
		return nil, fmt.Errorf("key %s: line %d: %w", key, n.Line, err)
	}
	val := version
	if quote != 0 {
		val = string(quote) + version + string(quote)
	}
	out := make([]byte, 0, len(content)+len(version))
	out = append(out, content[:start]...)
	out = append(out, val...)
	out = append(out, content[end:]...)
	return out, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "non-scalar"
}

// offsetOf converts yaml.v3's 1-based line and column (counted in
// characters) to a byte offset.
func offsetOf(content []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(content[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(content) {
			return -1
		}
		_, size := utf8.DecodeRune(content[off:])
		off += size
	}
	return off
}

// scalarEnd finds where the scalar starting at off ends: after the closing
// quote, or before a comment or the end of the line for a plain scalar.
func scalarEnd(content []byte, off int) (end int, quote byte, err error) {
	eol := bytes.IndexByte(content[off:], '\n')
	if eol < 0 {
		eol = len(content) - off
	}
	line := content[off : off+eol]
	switch {
	case len(line) > 0 && (line[0] == '"' || line[0] == '\''):
		q := line[0]
		for i := 1; i < len(line); i++ {
			if q == '"' && line[i] == '\\' {
				i++
				continue
			}
			if line[i] == q {
				if q == '\'' && i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return off + i + 1, q, nil
			}
		}
		return 0, 0, fmt.Errorf("a quoted value spanning lines is not supported")
	case len(line) > 0 && (line[0] == '|' || line[0] == '>'):
		return 0, 0, fmt.Errorf("a block scalar is not supported: write the version on one line")
	}
	end = len(line)
	if i := bytes.Index(line, []byte(" #")); i >= 0 {
		end = i
	}
	for end > 0 && (line[end-1] == ' ' || line[end-1] == '\t' || line[end-1] == '\r') {
		end--
	}
	return off + end, 0, nil
}
