package release

import "strings"

// The block a team writes in a merged MR's description to replace the
// message its commit was merged with (release-please reads the same block).
const (
	OverrideBegin = "BEGIN_COMMIT_OVERRIDE"
	OverrideEnd   = "END_COMMIT_OVERRIDE"
)

// ParseOverride returns the messages of the override block in an MR
// description, and false when there is none (or it is empty). Each line
// that is a Conventional Commit header with a lower-case type starts a new
// message; the lines after it (a body, footers such as "BREAKING CHANGE:"
// or "Refs: #3", whose tokens are capitalised) belong to it. A block whose
// first line is not such a header is one message.
func ParseOverride(desc string) ([]string, bool) {
	_, rest, ok := strings.Cut(desc, OverrideBegin)
	if !ok {
		return nil, false
	}
	block, _, ok := strings.Cut(rest, OverrideEnd)
	if !ok {
		return nil, false
	}
	var msgs []string
	var cur []string
	flush := func() {
		if m := strings.TrimSpace(strings.Join(cur, "\n")); m != "" {
			msgs = append(msgs, m)
		}
		cur = nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(block, "\r\n", "\n"), "\n") {
		if startsMessage(line) && len(cur) > 0 {
			flush()
		}
		if len(cur) == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t"))
	}
	flush()
	return msgs, len(msgs) > 0
}

func startsMessage(line string) bool {
	typ, _, _, _, ok := parseHeader(strings.TrimSpace(line))
	return ok && typ[0] >= 'a' && typ[0] <= 'z'
}
