package config

import (
	"regexp"
	"strings"
	"sync"
)

// envName is what an environment variable name looks like, both inside
// ${…} and as the value of an _env key.
var envName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// expandProblem is one bad ${…} in a value, at a byte offset into it.
type expandProblem struct {
	Offset int
	Msg    string
	// Unset: the variable is not set (the environment's fault, not the
	// file's).
	Unset bool
}

// expand replaces ${NAME} with the variable's value, ${NAME:-default} with
// the value or, when the variable is unset or empty, the default, and $$
// with a single $. Any other $ is kept as written. changed tells whether
// anything was replaced, so the caller knows the text came (in part) from
// the environment.
func expand(s string, lookup func(string) (string, bool)) (out string, changed bool, probs []expandProblem) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) || (s[i+1] != '$' && s[i+1] != '{') {
			b.WriteByte(c)
			i++
			continue
		}
		changed = true
		if s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			probs = append(probs, expandProblem{Offset: i, Msg: `"${" is not closed by "}" — write ${NAME} or ${NAME:-default}, or $${ for a literal "${"`})
			b.WriteString(s[i:])
			break
		}
		inner := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(inner, ":-")
		switch v, ok := lookup(name); {
		case !envName().MatchString(name):
			probs = append(probs, expandProblem{Offset: i, Msg: `"${` + inner + `}" does not name a variable (letters, digits and _, not starting with a digit) — write ${NAME} or ${NAME:-default}, or $$ for a literal $`})
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			probs = append(probs, expandProblem{i, "${" + name + "} is not set and has no default — set " + name + " in the environment, or write ${" + name + ":-default}", true})
		}
		i += 2 + end + 1
	}
	return b.String(), changed, probs
}

// varsIn lists the variables a value refers to with ${NAME} or
// ${NAME:-default}, in order, once each.
func varsIn(s string) []string {
	var out []string
	for _, m := range varRef().FindAllStringSubmatch(s, -1) {
		if m[1] != "" && !contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// varRef is one ${NAME} or ${NAME:-default}; a $$ before it is matched
// too, so an escaped "$${NAME}" is not taken for a reference.
var varRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}`) })
