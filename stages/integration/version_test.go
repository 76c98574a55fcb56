package integration

import (
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// An integration.version that expanded to empty is a configuration error
// naming file:line:col, the key and what was written; written as is, or
// expanded to a version, it is not.
func TestCheckVersion(t *testing.T) {
	file := "project: {name: a}\nintegration:\n  version: ${PIPELINE_METAPACKAGE_VERSION:-}\n"
	for _, c := range []struct {
		file string
		env  map[string]string
		want string // "" = no error
	}{
		{file, nil, "pipeline.yaml:3:12: integration.version: ${PIPELINE_METAPACKAGE_VERSION:-} expanded to empty: there is no version to test"},
		{file, map[string]string{"PIPELINE_METAPACKAGE_VERSION": ""}, "pipeline.yaml:3:12: integration.version:"},
		{file, map[string]string{"PIPELINE_METAPACKAGE_VERSION": "1.1.0"}, ""},
		{"project: {name: a}\nintegration:\n  version: 1.0.0\n", nil, ""},
		{"project: {name: a}\n", nil, ""},
	} {
		cfg, err := config.Parse("pipeline.yaml", []byte(c.file), func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		err = checkVersion(cfg)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q %v: %v", c.file, c.env, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want) || errs.Code(err) != 2):
			t.Errorf("%q %v: got %v, want exit 2 and %q", c.file, c.env, err, c.want)
		}
	}
}
