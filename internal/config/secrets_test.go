package config

import (
	"reflect"
	"testing"
)

func TestSecretEnvNames(t *testing.T) {
	cfg, err := Load("testdata/valid/full.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range cfg.SecretEnvNames() {
		got[n] = true
	}
	// The stage sections may add _env keys with defaults of their own, so
	// these must be among the names, not all of them.
	for _, n := range []string{"ACME_API_TOKEN", "ACME_S3_KEY", "ACME_S3_SECRET", "CI_JOB_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "PIPELINE_TOKEN"} {
		if !got[n] {
			t.Errorf("SecretEnvNames() = %v: %s missing", cfg.SecretEnvNames(), n)
		}
	}
	if got[""] || got["acme-appliance"] || got["127.0.0.1:9000"] {
		t.Errorf("SecretEnvNames() = %v: holds something that is not under an _env key", cfg.SecretEnvNames())
	}
}

// Names under _env keys are found at any depth: in lists, maps, pointers
// and inline structs of a stage section.
func TestCollectEnvNamesDeep(t *testing.T) {
	type target struct {
		PasswordEnv string `yaml:"password_env"`
		Host        string `yaml:"host"`
	}
	type section struct {
		Targets []target          `yaml:"targets"`
		ByName  map[string]target `yaml:"by_name"`
		Primary *target           `yaml:"primary"`
		KeysEnv []string          `yaml:"keys_env"`
		target  `yaml:",inline"`
		Ignored string `yaml:"ignored"`
	}
	s := section{
		Targets: []target{{PasswordEnv: "A", Host: "h"}},
		ByName:  map[string]target{"x": {PasswordEnv: "B"}},
		Primary: &target{PasswordEnv: "C"},
		KeysEnv: []string{"D", "E"},
		target:  target{PasswordEnv: "F"},
		Ignored: "NOT_A_SECRET",
	}
	set := map[string]bool{}
	collectEnvNames(reflect.ValueOf(s), false, set)
	want := map[string]bool{"A": true, "B": true, "C": true, "D": true, "E": true, "F": true}
	if !reflect.DeepEqual(set, want) {
		t.Errorf("found %v, want %v", set, want)
	}
}
