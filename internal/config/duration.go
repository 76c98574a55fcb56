package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as "90s", "30m", "1h30m".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration written as text with a unit. A bare
// number is refused: 30 could mean seconds or minutes.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		what := "a mapping"
		switch {
		case n.Kind == yaml.SequenceNode:
			what = "a list"
		case n.ShortTag() == "!!int" || n.ShortTag() == "!!float":
			what = "the number " + n.Value + " — add a unit: " + n.Value + "s or " + n.Value + "m"
		case n.Kind == yaml.ScalarNode:
			what = fmt.Sprintf("%q", n.Value)
		}
		return fmt.Errorf("want a duration such as 90s, 30m or 1h30m (a number and a unit: ns, us, ms, s, m, h), got %s", what)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration: want a number and a unit, such as 90s, 30m or 1h30m", n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as text ("1m30s"), as the file has it.
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// JSONSchema describes the form for templates/pipeline.schema.json.
func (Duration) JSONSchema() map[string]any {
	return map[string]any{
		"type":    "string",
		"pattern": `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`,
	}
}
