package release

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// The release leaves its state in git so that a re-run knows how far an
// earlier run got: the release commit and the annotated tag carry these
// trailers. The forge release is made last and marks a release complete.
const (
	TrailerVersion   = "Release-Version"
	TrailerMilestone = "Release-Milestone"
)

// ReleaseSubject is the subject of the release commit and MR title.
func ReleaseSubject(version string) string { return "chore(release): " + version }

var releaseSubjectRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^chore\(release\): v?(\d+\.\d+\.\d+\S*)\s*$`) })

// JournalMessage is the message of the release commit or tag: subject,
// then trailers naming the version and the milestone the release closes.
func JournalMessage(subject, version, milestone string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s: %s\n", subject, TrailerVersion, version)
	if milestone != "" {
		fmt.Fprintf(&b, "%s: %s\n", TrailerMilestone, milestone)
	}
	return b.String()
}

// Trailers returns the "Key: value" lines of the message's last paragraph.
func Trailers(msg string) map[string]string {
	msg = strings.TrimRight(msg, "\n")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(msg[i+2:], "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

// Journal is what a release commit or tag says about its release.
type Journal struct {
	Version   string
	Milestone string
}

// ReadJournal reads a release commit's or tag's message; ok is false for
// any other message. A squash-merged release MR keeps only its title, so
// the subject alone is enough.
func ReadJournal(msg string) (Journal, bool) {
	if !strings.HasPrefix(msg, "chore(release):") && !strings.Contains(msg, TrailerVersion+":") {
		return Journal{}, false // the common case, decided cheaply
	}
	t := Trailers(msg)
	if v := t[TrailerVersion]; v != "" {
		return Journal{Version: strings.TrimPrefix(v, "v"), Milestone: t[TrailerMilestone]}, true
	}
	subject, _, _ := strings.Cut(msg, "\n")
	if m := releaseSubjectRE().FindStringSubmatch(strings.TrimRight(subject, "\r")); m != nil {
		return Journal{Version: m[1]}, true
	}
	return Journal{}, false
}
