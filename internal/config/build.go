package config

// Build is the `build:` section of pipeline.yaml.
type Build struct {
}
