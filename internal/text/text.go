// Package text holds the small string helpers every package wants for
// messages: the first line of an error, a commit id cut short.
package text

import "strings"

// FirstLine is s up to its first newline (all of s when there is none).
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Short is s cut to its first n bytes: a commit id or a cache key in a
// message ("1a2b3c4d5e6f").
func Short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
