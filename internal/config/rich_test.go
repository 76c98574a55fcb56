package config

import (
	"strings"
	"time"
)

// richConfig exercises the decoder on every kind of field the stage
// sections may use, some not (yet) in Config: durations, floats, pointers,
// maps, lists of structs, inline structs, Validators in list items.
type richConfig struct {
	Name       string                   `yaml:"name" pipeline:"required" doc:"A name."`
	Mode       string                   `yaml:"mode" enum:"fast,slow"`
	Count      int                      `yaml:"count"`
	Ratio      float64                  `yaml:"ratio"`
	Enabled    bool                     `yaml:"enabled"`
	Timeout    Duration                 `yaml:"timeout"`
	Wait       time.Duration            `yaml:"wait"`
	Limit      *int                     `yaml:"limit"`
	Tags       []string                 `yaml:"tags"`
	Labels     map[string]string        `yaml:"labels"`
	Components []richComponent          `yaml:"components"`
	Targets    map[string]richComponent `yaml:"targets"`
	Primary    *richComponent           `yaml:"primary"`
	SecretsEnv map[string]string        `yaml:"secrets_env"`
	richLevel  `yaml:",inline"`
}

type richLevel struct {
	Level uint8 `yaml:"level" enum:"1,2,3"`
}

type richComponent struct {
	Name     string   `yaml:"name" pipeline:"required"`
	Command  string   `yaml:"command"`
	Packages []string `yaml:"packages"`
}

func (c richComponent) Validate() []FieldError {
	var out []FieldError
	if len(c.Packages) > 0 && c.Command == "" {
		out = append(out, FieldError{Path: "command", Msg: "is empty: a component with packages needs a command that builds them"})
	}
	if strings.HasPrefix(c.Command, "sudo ") {
		out = append(out, FieldError{Path: "command", Msg: "must not use sudo: the build runs as the CI user"})
	}
	for i, p := range c.Packages {
		if strings.ContainsAny(p, " /") {
			out = append(out, FieldError{Path: fmtIndex("packages", i), Msg: "is not a package name"})
		}
	}
	return out
}

func defaultRich() *richConfig {
	return &richConfig{Mode: "slow", Timeout: Duration(30e9), Labels: map[string]string{"team": "os"}}
}
