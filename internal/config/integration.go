package config

// Integration is the `integration:` section of pipeline.yaml.
type Integration struct {
}
