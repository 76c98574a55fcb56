package integration

import (
	"regexp"
	"strings"
	"sync"
)

var (
	// errorLine matches the lines of a failed command's output that say
	// what went wrong: apt's "E: …", "error:" in any case (git, compilers,
	// "dpkg: error: …"), and the coreutils' "cannot" ("cp: cannot stat …").
	errorLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^E: |(?i)\berror:|(?i)\bcannot\b`) })
	// wrapperLine is an error line that only says a sub-process failed:
	// apt's "E: Sub-process /usr/bin/dpkg returned an error code (1)". The
	// sub-process's own words are the cause.
	wrapperLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`returned an error code|^E: Sub-process `) })
)

// FailureLine picks the line of a failed command's output that names the
// cause, in this order:
//
//  1. the first stderr line that reads as an error (errorLine) and is not
//     a wrapper (apt's "E: Version '0.9.0' for 'kioskos' was not found");
//  2. the first stdout line that reads as an error: apt runs dpkg with the
//     maintainer scripts' output on stdout, so a failing postinst's
//     "cp: cannot stat …" is there, and apt's stderr only has
//     "E: Sub-process /usr/bin/dpkg returned an error code (1)";
//  3. a wrapper line of stderr;
//  4. the last non-empty stderr line, else stdout's; else "".
//
// stdout's last line is the last resort: apt's "… is only available from
// another source" is progress there, not the cause.
func FailureLine(stdout, stderr string) string {
	errLines := func(s string) (cause, wrapper string) {
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			switch {
			case !errorLine().MatchString(l):
			case wrapperLine().MatchString(l):
				if wrapper == "" {
					wrapper = l
				}
			default:
				return l, wrapper
			}
		}
		return "", wrapper
	}
	cause, wrapper := errLines(stderr)
	if cause != "" {
		return cause
	}
	if out, _ := errLines(stdout); out != "" {
		return out
	}
	if wrapper != "" {
		return wrapper
	}
	if last := lastNonEmpty(stderr); last != "" {
		return last
	}
	return lastNonEmpty(stdout)
}

func lastNonEmpty(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
