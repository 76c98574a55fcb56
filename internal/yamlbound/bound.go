// Package yamlbound checks a YAML file's size and nesting depth before any
// YAML parser sees it. The parsers' own limits are far too loose for the
// small files this tool reads (pipeline.yaml, suites, version files): a
// 200 KB file of nested "[" once took 14.7 GB and 7 minutes to report as a
// syntax error. Check is a single pass over the bytes with no allocation
// per level, so a hostile file costs what its size costs.
//
// The depth it measures is an upper bound of what a parser would build:
// open flow collections ([ {) plus the stack of block indentation levels
// (a "- " item counts as a level of its own). Block scalars (| and >),
// comments and quoted strings are skipped, so a shell script inside
// `run: |` or a regex in quotes does not count.
package yamlbound

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

const (
	// MaxSize is the largest file read: pipeline.yaml files of real
	// projects are a few KB.
	MaxSize = 1 << 20
	// MaxDepth is the deepest nesting accepted; pipeline.yaml needs under
	// ten levels.
	MaxDepth = 64
)

// Error is a file refused before parsing. Line and Col (1-based, Col in
// characters) are 0 when the problem is the file as a whole.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d column %d: %s", e.Line, e.Col, e.Msg)
}

// Check returns an *Error when data is larger than MaxSize or nests
// deeper than MaxDepth, nil otherwise.
func Check(data []byte) error {
	return check(data, MaxSize, MaxDepth)
}

func check(data []byte, maxSize, maxDepth int) error {
	if len(data) > maxSize {
		return &Error{Msg: fmt.Sprintf("the file is %d bytes, more than the %d this tool reads — is it the right file?", len(data), maxSize)}
	}
	s := scanner{data: data, maxDepth: maxDepth}
	return s.run()
}

type scanner struct {
	data     []byte
	maxDepth int
	// indents is the stack of block indentation columns (0-based).
	indents []int
	// flow is the number of open [ and {.
	flow int
}

func (s *scanner) tooDeep(off int) error {
	line, col := position(s.data, off)
	return &Error{Line: line, Col: col, Msg: fmt.Sprintf(
		"nesting deeper than %d levels — real files need a handful: is a [ or { never closed, or are lines indented ever further?", s.maxDepth)}
}

func (s *scanner) run() error {
	data := s.data
	// blockScalar is the indentation of the line that opened a | or >
	// scalar; lines indented deeper belong to it. -1: none.
	blockScalar := -1
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off
		}
		line := data[off:end]
		next := end + 1
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		rest := line[indent:]
		blank := len(bytes.TrimSpace(rest)) == 0
		if blockScalar >= 0 {
			if blank || indent > blockScalar {
				off = next
				continue
			}
			blockScalar = -1
		}
		if blank || rest[0] == '#' {
			off = next
			continue
		}
		if s.flow == 0 {
			// Block context: pop the levels this line closes, push its own.
			for len(s.indents) > 0 && s.indents[len(s.indents)-1] > indent {
				s.indents = s.indents[:len(s.indents)-1]
			}
			if len(s.indents) == 0 || s.indents[len(s.indents)-1] < indent {
				s.indents = append(s.indents, indent)
			}
			// Compact nested items ("- - - x", "- key: - x" is invalid)
			// each open a level at their column.
			col := indent
			for col+1 < len(line) && (line[col] == '-' || line[col] == '?') && line[col+1] == ' ' {
				col += 2
				for col < len(line) && line[col] == ' ' {
					col++
				}
				s.indents = append(s.indents, col)
				if len(s.indents)+s.flow > s.maxDepth {
					return s.tooDeep(off + col)
				}
			}
			if len(s.indents) > s.maxDepth {
				return s.tooDeep(off + indent)
			}
		}
		var err error
		var opensBlock bool
		next, opensBlock, err = s.scanTokens(off, off+indent, end)
		if err != nil {
			return err
		}
		if opensBlock {
			blockScalar = indent
		}
		off = next
	}
	return nil
}

// scanTokens reads one line (from start to end) for flow brackets, quoted
// strings and comments. A quoted string may run over several lines; the
// offset where scanning resumes is returned. opensBlock tells that the
// line ends with a block scalar indicator (| or >).
func (s *scanner) scanTokens(lineStart, start, end int) (next int, opensBlock bool, err error) {
	data := s.data
	// tokenStart: the previous significant byte allows a new token here
	// (a flow collection or a quoted string), as at the start of a value.
	tokenStart := true
	for i := start; i < end; i++ {
		c := data[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			continue
		case c == '#' && (i == lineStart || data[i-1] == ' ' || data[i-1] == '\t'):
			return end + 1, false, nil
		case tokenStart && (c == '"' || c == '\''):
			j := skipQuoted(data, i)
			if j >= len(data) {
				return len(data), false, nil // unclosed: the parser says so
			}
			if k := bytes.LastIndexByte(data[i:j], '\n'); k >= 0 {
				// The string ran past this line: go on after it.
				nl := bytes.IndexByte(data[j:], '\n')
				if nl < 0 {
					nl = len(data) - j
				}
				end = j + nl
			}
			i = j
			tokenStart = false
			continue
		case tokenStart && (c == '[' || c == '{'):
			s.flow++
			if len(s.indents)+s.flow > s.maxDepth {
				return 0, false, s.tooDeep(i)
			}
			continue // tokenStart stays true: [[ and [{ nest
		case s.flow > 0 && (c == ']' || c == '}'):
			s.flow--
			tokenStart = false
			continue
		case s.flow > 0 && c == ',':
			tokenStart = true
			continue
		case (c == '|' || c == '>') && tokenStart && s.flow == 0:
			// A block scalar header: | or > with optional indicators and
			// comment, last on the line.
			rest := bytes.TrimLeft(data[i+1:end], "+-0123456789")
			rest = bytes.TrimSpace(rest)
			if len(rest) == 0 || rest[0] == '#' {
				return end + 1, true, nil
			}
		case (c == ':' || c == '-' || c == '?') && (i+1 == end || data[i+1] == ' ' || data[i+1] == '\t' || data[i+1] == '\r'):
			tokenStart = true
			continue
		}
		tokenStart = false
		// Skip the rest of a plain scalar up to ": ", ", " in flow, " #".
		for i+1 < end {
			d := data[i+1]
			if d == ' ' || (s.flow > 0 && (d == ',' || d == ']' || d == '}')) {
				break
			}
			if d == ':' && (i+2 == end || data[i+2] == ' ') {
				break
			}
			i++
		}
	}
	return end + 1, false, nil
}

// skipQuoted returns the offset of the quote closing the string opened at
// i (a doubled single quote and \" are escapes), or len(data) when it is never closed.
func skipQuoted(data []byte, i int) int {
	q := data[i]
	for j := i + 1; j < len(data); j++ {
		switch {
		case q == '"' && data[j] == '\\':
			j++
		case data[j] == q && q == '\'' && j+1 < len(data) && data[j+1] == '\'':
			j++
		case data[j] == q:
			return j
		}
	}
	return len(data)
}

// position is the 1-based line and column (in characters) of offset.
func position(data []byte, offset int) (int, int) {
	if offset > len(data) {
		offset = len(data)
	}
	before := data[:offset]
	line := 1 + bytes.Count(before, []byte("\n"))
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}
