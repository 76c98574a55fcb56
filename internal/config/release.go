package config

// Release is the `release:` section of pipeline.yaml.
type Release struct {
}

// DefaultRelease is the release section when the file says nothing.
func DefaultRelease() Release { return Release{} }
