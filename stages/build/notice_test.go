package build

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/stages"
)

// TestUnsignedNoticeOnceAtItsLevel: a run of the demo made ten builds
// (the production build, the run's, eight promote probes) and each
// warned that the repository is not signed. A release build warns, a
// snapshot says it as info, a promote probe only at debug level.
func TestUnsignedNoticeOnceAtItsLevel(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     ci.MapEnv
		release bool
		want    string // the level word in the log line, "" for none
	}{
		{"release build", ci.MapEnv{}, true, "level=warning"},
		{"snapshot build", ci.MapEnv{}, false, "level=info"},
		{"promote probe", ci.MapEnv{"PIPELINE_PROMOTE_COMMIT": "abc"}, false, ""},
		{"promote probe of a release", ci.MapEnv{"PIPELINE_PROMOTE_COMMIT": "abc"}, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := logging.New(&buf, logging.Options{Format: "text"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			unsignedNotice(&stages.Env{Log: log, CI: ci.Context{Env: c.env}}, c.release)
			got := buf.String()
			if c.want == "" {
				if got != "" {
					t.Fatalf("a probe said it at info level or above: %q", got)
				}
				return
			}
			if strings.Count(got, "not signed") != 1 || !strings.Contains(got, c.want) {
				t.Fatalf("want one line at %s, got %q", c.want, got)
			}
		})
	}
}
