package integration

import (
	"regexp"
	"strings"
)

// errorLine matches the lines of a failed command's stderr that say what
// went wrong: apt's "E: …", "error:" in any case (git, compilers, dpkg's
// "dpkg: error:"), and the coreutils' "cannot" ("cp: cannot stat …").
var errorLine = regexp.MustCompile(`^E: |(?i)\berror:|(?i)\bcannot\b`)

// FailureLine picks the line of a failed command's output that names the
// cause: the first stderr line that reads as an error (errorLine; a
// failing postinst's "cp: cannot stat …" comes before dpkg's and apt's
// own complaints about it), else the last non-empty stderr line, else the
// last non-empty stdout line, else "". stdout alone is the last resort:
// apt's "… is only available from another source" is progress on stdout,
// the cause ("E: Version '0.9.0' for 'kioskos' was not found") on stderr.
func FailureLine(stdout, stderr string) string {
	var last string
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if errorLine.MatchString(l) {
			return l
		}
		last = l
	}
	if last != "" {
		return last
	}
	return lastNonEmpty(stdout)
}

func lastNonEmpty(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
