package release

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
)

// ChangelogHeader starts a CHANGELOG.md that does not exist yet.
const ChangelogHeader = "# Changelog\n\nAll notable changes to this project are documented in this file.\nThe format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),\nand this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).\n"

// versionHeading matches a Keep a Changelog entry heading: "## [1.2.3]",
// "## [1.2.3](url) - date", "## 1.2.3", "## v1.2.3 (date)".
var versionHeading = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^## \[?v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)\]?`) })
var unreleasedHeading = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?mi)^## \[?unreleased\]?[^\n]*\n`) })

// HasEntry reports whether the changelog already has an entry for version.
func HasEntry(changelog []byte, version string) bool {
	for _, m := range versionHeading().FindAllSubmatch(changelog, -1) {
		if string(m[1]) == version {
			return true
		}
	}
	return false
}

// Prepend inserts entry as the newest entry of changelog: before the first
// version heading, after an "## [Unreleased]" section heading (whose text
// the release takes over, so the section is kept empty), or at the end of
// the header when there is no entry yet. Every byte of the earlier entries
// is kept. An empty changelog gets ChangelogHeader first. When the entry
// for version is already there, changelog is returned unchanged and false.
func Prepend(changelog []byte, entry, version string) ([]byte, bool) {
	if HasEntry(changelog, version) {
		return changelog, false
	}
	if len(bytes.TrimSpace(changelog)) == 0 {
		changelog = []byte(ChangelogHeader)
	}
	entry = strings.TrimRight(entry, "\n") + "\n"
	at := len(changelog)
	if loc := unreleasedHeading().FindIndex(changelog); loc != nil {
		// Keep the Unreleased heading and whatever is under it, insert the
		// release before the next heading.
		at = loc[1]
		if next := versionHeading().FindIndex(changelog[at:]); next != nil {
			at += next[0]
		} else {
			at = len(changelog)
		}
	} else if loc := versionHeading().FindIndex(changelog); loc != nil {
		at = loc[0]
	}
	var b bytes.Buffer
	b.Grow(len(changelog) + len(entry) + 2)
	head := changelog[:at]
	b.Write(head)
	// One blank line between what comes before and the entry.
	if len(head) > 0 {
		if !bytes.HasSuffix(head, []byte("\n")) {
			b.WriteByte('\n')
		}
		if !bytes.HasSuffix(head, []byte("\n\n")) {
			b.WriteByte('\n')
		}
	}
	b.WriteString(entry)
	if at < len(changelog) {
		b.WriteByte('\n')
		b.Write(changelog[at:])
	}
	return b.Bytes(), true
}
