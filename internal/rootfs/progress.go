package rootfs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Progress follows mmdebstrap's --verbose output (its own "I:" lines,
// apt's and dpkg's) and says how far a bootstrap is: the phase, packages
// to install, downloaded, unpacked and set up, and the bytes to fetch.
// Feed it every line; it is pure, so it is tested on real output.
type Progress struct {
	Phase string // mmdebstrap's last "I:" message, without "I: "
	// Packages is how many packages the bootstrap installs in all (apt's
	// "N newly installed" lines, summed over the essential and the
	// remaining phases).
	Packages   int
	Downloaded int   // packages fetched ("Get:N" lines)
	Bytes      int64 // bytes apt said it needs to get, summed
	Cached     int64 // bytes of packages already in the apt archive cache
	Fetched    int64 // bytes of the packages fetched so far
	Unpacked   int   // dpkg "Unpacking" lines
	SetUp      int   // dpkg "Setting up" lines
}

var (
	newlyRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+ upgraded, (\d+) newly installed`) })
	needRe  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^Need to get ([0-9.,]+) ([kMG]?B)(?:/([0-9.,]+) ([kMG]?B))? of archives`)
	})
	indexRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(` (InRelease|Release|Release\.gpg|Packages|Sources|Translation-\w+)(\.\w+)? \[`)
	})
	getRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^Get:\d+ .* \[([0-9.,]+) ([kMG]?B)\]$`) })
)

// Line takes one line of output.
func (p *Progress) Line(line string) {
	line = strings.TrimRight(line, "\r ")
	switch {
	case strings.HasPrefix(line, "I: "):
		p.Phase = strings.TrimPrefix(line, "I: ")
	case strings.HasPrefix(line, "Unpacking "):
		p.Unpacked++
	case strings.HasPrefix(line, "Setting up "):
		p.SetUp++
	case strings.HasPrefix(line, "Get:") && p.Packages > 0 && !indexRe().MatchString(line):
		// A package (apt-get update's index files come before apt says
		// how many packages it installs).
		p.Downloaded++
		if m := getRe().FindStringSubmatch(line); m != nil {
			p.Fetched += aptSize(m[1], m[2])
		}
	default:
		if m := newlyRe().FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			p.Packages += n
		} else if m := needRe().FindStringSubmatch(line); m != nil {
			// "Need to get 3 MB/29.7 MB": 3 MB to fetch, the rest is
			// already in the archive cache.
			get := aptSize(m[1], m[2])
			p.Bytes += get
			if m[3] != "" {
				p.Cached += aptSize(m[3], m[4]) - get
			}
		}
	}
}

// aptSize reads apt's sizes: "29.7 MB" (SI units, as apt prints them).
func aptSize(num, unit string) int64 {
	f, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", ""), 64)
	if err != nil {
		return 0
	}
	mult := map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
	return int64(f * mult)
}

// String is the progress in one line for the log:
// "installing remaining packages: 120/212 packages unpacked, 40 set up; 212 downloaded (160 MB)".
func (p Progress) String() string {
	phase := strings.TrimSuffix(ShortPhase(p.Phase), "...")
	if phase == "" {
		phase = "starting"
	}
	if p.Packages == 0 {
		return phase
	}
	s := fmt.Sprintf("%s: %d/%d packages unpacked, %d set up; %d downloaded", phase, p.Unpacked, p.Packages, p.SetUp, p.Downloaded)
	if p.Bytes > 0 {
		s += fmt.Sprintf(" (%s of %s)", mb(p.Fetched), mb(p.Bytes))
	}
	if p.Cached > 0 {
		s += fmt.Sprintf(", %s from the apt cache", mb(p.Cached))
	}
	return s
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// ShortPhase is one of mmdebstrap's "I:" messages without the hook's
// shell command, which can be hundreds of characters; the hook that makes
// the initramfs is named as such.
func ShortPhase(msg string) string {
	head, cmd, ok := strings.Cut(msg, " in shell: ")
	if !ok {
		return msg
	}
	if strings.Contains(cmd, "update-initramfs -c") {
		return head + ": making the initramfs"
	}
	return head
}
