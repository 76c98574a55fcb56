package config

// Template is the `template:` section of pipeline.yaml.
type Template struct {
}
