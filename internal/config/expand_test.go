package config

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "$B"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, c := range []struct {
		in, out string
		changed bool
		probs   []expandProblem
	}{
		{"plain", "plain", false, nil},
		{"${A}", "alpha", true, nil},
		{"x-${A}-${A}", "x-alpha-alpha", true, nil},
		{"${EMPTY}", "", true, nil},
		{"${EMPTY:-def}", "def", true, nil},
		{"${UNSET:-}", "", true, nil},
		{"${UNSET:-a:-b}", "a:-b", true, nil},
		{"${A:-def}", "alpha", true, nil},
		{"$$", "$", true, nil},
		{"$${A}", "${A}", true, nil},
		{"cost $5 and $A", "cost $5 and $A", false, nil},
		{"trailing $", "trailing $", false, nil},
		{"${DOLLAR}", "$B", true, nil}, // values are not expanded again
		{"a ${UNSET} b", "a  b", true, []expandProblem{{2, "${UNSET} is not set and has no default — set UNSET in the environment, or write ${UNSET:-default}", true}}},
		{"${1X}", "", true, []expandProblem{{0, `"${1X}" does not name a variable (letters, digits and _, not starting with a digit) — write ${NAME} or ${NAME:-default}, or $$ for a literal $`, false}}},
		{"x${A", "x${A", true, []expandProblem{{1, `"${" is not closed by "}" — write ${NAME} or ${NAME:-default}, or $${ for a literal "${"`, false}}},
	} {
		out, changed, probs := expand(c.in, lookup)
		if out != c.out || changed != c.changed || !reflect.DeepEqual(probs, c.probs) {
			t.Errorf("expand(%q) = %q, %v, %v; want %q, %v, %v", c.in, out, changed, probs, c.out, c.changed, c.probs)
		}
	}
}

// _env keys name variables: never expanded, even when one is set.
func TestEnvKeysAreNotExpanded(t *testing.T) {
	cfg, err := Parse("pipeline.yaml", []byte("project: {name: a}\nforge:\n  token_env: TOKEN\n"), func(string) (string, bool) { return "secret", true })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Forge.TokenEnv != "TOKEN" {
		t.Fatalf("token_env = %q", cfg.Forge.TokenEnv)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"name", "command", "packages", "build", "integration", "token_env"}
	for in, want := range map[string]string{
		"comand": "command", "buidl": "build", "Name": "name", "integraton": "integration",
		"pakages": "packages", "zzz": "", "token": "", "commands": "command",
	} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
