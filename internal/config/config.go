// Package config reads pipeline.yaml: found upward from the repository,
// decoded strictly (an unknown key, a wrong type or a missing required value
// is an error naming file:line:col and the expected form), with ${VAR}
// expansion from the environment. Secrets are never values in the file: the
// file names the environment variable that holds them (fields ending in _env).
//
// Each stage's section lives in its own file (build.go, template.go, ...).
package config

// FileName is the configuration file looked for upward from --repo.
const FileName = "pipeline.yaml"

// Config is the whole pipeline.yaml.
type Config struct {
	// Path is the file it was read from; empty when defaults are used.
	Path string `yaml:"-" json:"-"`

	Version     int         `yaml:"version"`
	Project     Project     `yaml:"project"`
	Forge       Forge       `yaml:"forge"`
	Artifacts   Artifacts   `yaml:"artifacts"`
	Stages      []string    `yaml:"stages"`
	Build       Build       `yaml:"build"`
	Template    Template    `yaml:"template"`
	Integration Integration `yaml:"integration"`
	Promote     Promote     `yaml:"promote"`
	Release     Release     `yaml:"release"`
}

// Project names the distribution.
type Project struct {
	Name string `yaml:"name"`
}

// Forge says which code-hosting server to talk to.
type Forge struct {
	// Type is gitlab, github or none; empty means: from the CI context.
	Type string `yaml:"type"`
	// URL is the API base (https://gitlab.example.com/api/v4).
	URL string `yaml:"url"`
	// Project is the GitLab project id or path, or the GitHub owner/repo.
	Project string `yaml:"project"`
	// TokenEnv names the environment variable holding the API token.
	TokenEnv string `yaml:"token_env"`
	// Statuses: post a commit status for each stage.
	Statuses bool `yaml:"statuses"`
}

// Artifacts configures the artifact store.
type Artifacts struct {
	// URL is file://DIR (default: file://.pipeline/artifacts) or s3://bucket/prefix.
	URL string `yaml:"url"`
	S3  S3     `yaml:"s3"`
}

// S3 holds the S3 endpoint and the names of the credential variables.
type S3 struct {
	Endpoint     string `yaml:"endpoint"`
	Region       string `yaml:"region"`
	Insecure     bool   `yaml:"insecure"`
	AccessKeyEnv string `yaml:"access_key_env"`
	SecretKeyEnv string `yaml:"secret_key_env"`
}

// AllStages is the order of `pipeline run`.
var AllStages = []string{"build", "template", "integration", "promote", "release"}

// Default returns the configuration used when there is no pipeline.yaml,
// and the base the file is decoded onto.
func Default() *Config {
	return &Config{
		Version:   1,
		Artifacts: Artifacts{URL: "file://.pipeline/artifacts"},
		Stages:    append([]string(nil), AllStages...),
		Promote:   DefaultPromote(),
		Release:   DefaultRelease(),
	}
}

// FieldError is a problem with one value found after decoding. Path is
// relative to the struct that reports it, dotted, with [i] for list items
// ("components[1].command"). The decoder reports it at the value's
// file:line:col.
type FieldError struct {
	Path string
	Msg  string
}

// Validator is implemented by sections (and any struct inside them) that
// check more than types. A field tagged `pipeline:"required"` is checked by
// the decoder itself.
type Validator interface {
	Validate() []FieldError
}
