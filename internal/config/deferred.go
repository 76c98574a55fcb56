package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// A pipeline.yaml is shared by jobs that each run one stage, and a job has
// only the variables of its stage: the integration job's
// ${PIPELINE_METAPACKAGE_VERSION} comes from the build job, so the build
// job cannot have it. The loader therefore reports at once every problem
// except the ones that depend on the environment (an unset ${VAR}, a value
// that expanded to the wrong type or to empty) inside a stage's section
// (build:, template:, integration:, promote:, release:). Those wait in the
// Config, and the stage asks Check before it runs. Sections every stage
// reads (version, project, forge, artifacts, stages) are checked always.

// deferred is what decoding left for later: the problems of each stage
// section that depend on the environment, and the values written with
// ${…} that expanded to empty.
type deferred struct {
	file     string               // the file, as messages name it
	problems map[string][]Problem // by stage section
	empties  map[string]Problem   // by dotted path; Msg is the value as written
	// envNames are the _env names of the sections reset to their defaults,
	// still masked (SecretEnvNames).
	envNames []string
}

// setDeferred keeps what decoding left for the stages, and resets each
// section with a deferred problem to its default: a value that could not be
// expanded must not stay half-set where another stage could read it. The
// section's own stage is refused by Check.
func (c *Config) setDeferred(later *deferred) {
	if later == nil || len(later.problems) == 0 && len(later.empties) == 0 {
		return
	}
	c.later = later
	v, def := reflect.ValueOf(c).Elem(), reflect.ValueOf(Default()).Elem()
	for _, f := range fieldsOf(v.Type()) {
		if len(later.problems[f.name]) == 0 {
			continue
		}
		names := map[string]bool{}
		collectEnvNames(v.FieldByIndex(f.index), false, names)
		for n := range names {
			later.envNames = append(later.envNames, n)
		}
		v.FieldByIndex(f.index).Set(def.FieldByIndex(f.index))
		for path := range later.empties {
			if strings.HasPrefix(path, f.name+".") || strings.HasPrefix(path, f.name+"[") {
				delete(later.empties, path)
			}
		}
	}
	sort.Strings(later.envNames)
}

// Check returns the problems of the stage's section that were left for it
// to judge: a ${VAR} not set in this job's environment, a value that
// expanded to the wrong type, or to empty where the key needs a value. A
// usage error (exit 2) with a line per problem, each starting with
// file:line:col; nil when there is none. Every stage asks it before it
// runs.
func (c *Config) Check(stage string) error {
	if c == nil || c.later == nil || len(c.later.problems[stage]) == 0 {
		return nil
	}
	return errs.New(errs.Usage, newError(c.later.file, append([]Problem(nil), c.later.problems[stage]...)),
		"the "+stage+" stage reads these values: give this job the variables (a CI/CD variable, or the dotenv of the job that makes them), or write a default as ${NAME:-value}")
}

// ExpandedEmpty tells whether the value of key (a dotted path such as
// integration.version) was written with ${…} and expanded to empty, for a
// stage that can take such a value from elsewhere (the build's hand-off)
// and must say so when it cannot. pos is file:line:col of the value and
// written the value as written (${PIPELINE_METAPACKAGE_VERSION:-}).
func (c *Config) ExpandedEmpty(key string) (pos, written string, ok bool) {
	if c == nil || c.later == nil {
		return "", "", false
	}
	p, ok := c.later.empties[key]
	if !ok {
		return "", "", false
	}
	return fmt.Sprintf("%s:%d:%d", c.later.file, p.Line, p.Col), p.Msg, true
}
