package dist

import (
	"strings"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

// CompareDeb compares two Debian versions ([epoch:]upstream[-revision]) the
// way dpkg does: <0, 0 or >0.
//
// Written here rather than taken from pault.ag/go/debian/version (MIT, and
// its comparison is the same verrevcmp): that module's go.mod would raise
// klauspost/compress, ulikunitz/xz and go-crypto for the whole build, and
// its Compare wants parsed versions, where this one must order whatever a
// repository holds. TestCompareDebAgreesWithDpkg checks it against
// `dpkg --compare-versions` itself.
func CompareDeb(a, b string) int {
	ea, ua, ra := splitDeb(a)
	eb, ub, rb := splitDeb(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := debPart(ua, ub); c != 0 {
		return c
	}
	return debPart(ra, rb)
}

func splitDeb(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

// debPart is dpkg's verrevcmp: alternating non-digit and digit runs, where
// '~' sorts before everything, even the end of the string.
func debPart(a, b string) int {
	for a != "" || b != "" {
		// Non-digit prefix.
		for (a != "" && !isDigit(a[0])) || (b != "" && !isDigit(b[0])) {
			ca, cb := debOrder(a), debOrder(b)
			if ca != cb {
				return ca - cb
			}
			a, b = a[1:], b[1:]
		}
		// Digit run.
		var na, nb string
		na, a = digits(a)
		nb, b = digits(b)
		if c := compareNum(na, nb); c != 0 {
			return c
		}
	}
	return 0
}

// debOrder is the weight of the first character of s in a non-digit run.
func debOrder(s string) int {
	if s == "" || isDigit(s[0]) {
		return 0
	}
	c := s[0]
	switch {
	case c == '~':
		return -1
	case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return int(c)
	}
	return int(c) + 256
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) (string, string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// compareNum compares two runs of decimal digits of any length.
func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// CompareRPM compares two rpm versions ([epoch:]version[-release]) the way
// rpm does.
func CompareRPM(a, b string) int {
	ea, va, ra := splitRPM(a)
	eb, vb, rb := splitRPM(b)
	if c := compareNum(ea, eb); c != 0 {
		return c
	}
	if c := rpmutils.Vercmp(va, vb); c != 0 {
		return c
	}
	if ra == "" || rb == "" { // a requirement without release matches any release
		return 0
	}
	return rpmutils.Vercmp(ra, rb)
}

func splitRPM(v string) (epoch, version, release string) {
	epoch = "0"
	if e, rest, ok := strings.Cut(v, ":"); ok {
		epoch, v = e, rest
	}
	version, release, _ = strings.Cut(v, "-")
	return epoch, version, release
}

// Compare compares versions of format f.
func Compare(f Format, a, b string) int {
	if f == RPM {
		return CompareRPM(a, b)
	}
	return CompareDeb(a, b)
}
