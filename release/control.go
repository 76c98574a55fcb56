package release

import (
	"strings"
	"unicode/utf8"
)

// StripControl removes from s what a terminal or a renderer would act on
// instead of show: ANSI escape sequences (colours, cursor moves, OSC
// titles and hyperlinks) and every other control character but newline
// and tab, C1 controls included, and the Unicode bidirectional overrides
// that make text read differently from what it is. Commit subjects and
// MR titles are written by anyone: they reach CHANGELOG.md, the notes and
// the release MR as plain text.
func StripControl(s string) string {
	if !hasControl(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if s[i] == 0x1b { // ESC
			i = skipEscape(s, i)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !dropped(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			// ASCII, the usual byte: only C0 controls (ESC among them)
			// and DEL are dropped.
			if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
				return true
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if dropped(r) {
			return true
		}
		i += size - 1
	}
	return false
}

// dropped: a control character other than \n and \t, or a bidi control.
func dropped(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// skipEscape returns the index after the escape sequence starting at s[i]
// (ESC): CSI (ESC [ … final byte), OSC, DCS and the like (ESC ] … ended by
// BEL or ESC \), or ESC, intermediates and a final byte (ESC ( B).
func skipEscape(s string, i int) int {
	i++ // ESC
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		i++
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x3f {
			i++ // parameters and intermediates
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			i++ // final byte
		}
		return i
	case ']', 'P', '^', '_', 'X':
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			if s[i] == '\n' {
				return i // unterminated: keep the rest of the text
			}
		}
		return i
	}
	// nF sequences: intermediates, then a final byte (ESC ( B).
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		return i + 1
	}
	return i
}
