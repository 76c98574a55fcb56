package release

import (
	"fmt"
	"strings"
)

// sprintf fills a link format; a format without a verb (a team's fixed
// URL) is returned as is instead of printing %!(EXTRA…).
func sprintf(format string, args ...any) string {
	if !strings.Contains(format, "%") {
		return format
	}
	return fmt.Sprintf(format, args...)
}
