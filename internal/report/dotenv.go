package report

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// GitLab's dotenv report (artifacts:reports:dotenv) accepts much less than
// the dotenv format at large: one KEY=VALUE per line, no empty lines, no
// comments, keys of ASCII letters, digits and underscores, no multi-line
// values, quotes kept as they are, and a file of at most 5 KB. A file that
// breaks a rule makes the artifact upload fail with "400 Invalid Format",
// and later jobs silently lose every variable, so we keep to the rules here.

// MaxDotenvBytes is GitLab's size limit for a dotenv report.
const MaxDotenvBytes = 5 * 1024

var (
	dotenvKey  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
	notKeyChar = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_]+`) })
	lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
)

// DotenvKey flattens name into a valid key: every run of other characters
// becomes "_" ("image.qcow2-url" → "image_qcow2_url"), and a leading digit
// gets a "_" in front. It returns "" when nothing usable is left.
func DotenvKey(name string) string {
	k := strings.Trim(notKeyChar().ReplaceAllString(strings.TrimSpace(name), "_"), "_")
	if k == "" {
		return ""
	}
	if k[0] >= '0' && k[0] <= '9' {
		k = "_" + k
	}
	return k
}

// CleanDotenv returns vars with keys flattened (DotenvKey) and values on
// one line (line breaks become spaces; surrounding blanks trimmed, as GitLab
// trims them). A key with nothing usable in it, or two keys that flatten to
// the same one, is an error: a later job would read the wrong value.
func CleanDotenv(vars map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(vars))
	from := map[string]string{}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		k := DotenvKey(name)
		if k == "" {
			return nil, fmt.Errorf("dotenv variable %q: a name needs letters, digits or underscores", name)
		}
		if prev, dup := from[k]; dup {
			return nil, fmt.Errorf("dotenv variables %q and %q both become %s: rename one", prev, name, k)
		}
		from[k] = name
		out[k] = strings.TrimSpace(lineBreaks.Replace(vars[name]))
	}
	return out, nil
}

// FormatDotenv renders vars as a GitLab dotenv file: sorted KEY=VALUE lines.
// vars must already be clean (CleanDotenv); a bad key, a line break in a
// value or a file over 5 KB is an error.
func FormatDotenv(vars map[string]string) (string, error) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		if !dotenvKey().MatchString(k) {
			return "", fmt.Errorf("dotenv key %q: only ASCII letters, digits and underscores, not starting with a digit", k)
		}
		if strings.ContainsAny(vars[k], "\r\n") {
			return "", fmt.Errorf("dotenv %s: the value has a line break, which GitLab's dotenv report does not accept", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + vars[k] + "\n")
	}
	if b.Len() > MaxDotenvBytes {
		return "", fmt.Errorf("dotenv report is %d bytes, over GitLab's limit of %d: put large values in a JSON report instead", b.Len(), MaxDotenvBytes)
	}
	return b.String(), nil
}

// FormatDotenvShell renders vars (clean ones, as for FormatDotenv) as a
// POSIX shell file that sets and exports each: `export KEY='VALUE'`, the
// value single-quoted (a quote inside closes the quotes, adds an escaped
// quote and opens them again), so that sh, dash and bash read every value exactly as GitLab reads pipeline.env, with nothing
// expanded. GitLab's dotenv keeps quotes as part of the value, which is
// why this is a second file and not pipeline.env quoted.
func FormatDotenvShell(vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# pipeline's dotenv variables (pipeline.env) for a shell: . ./pipeline-env.sh\n")
	for _, k := range keys {
		b.WriteString("export " + k + "='" + strings.ReplaceAll(vars[k], "'", `'\''`) + "'\n")
	}
	return b.String()
}

// ParseDotenv reads a file written by FormatDotenv (strictly: GitLab's rules).
func ParseDotenv(text string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" && text == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !dotenvKey().MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", i+1, line)
		}
		out[k] = v
	}
	return out, nil
}
