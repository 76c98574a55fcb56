package config

// Promote is the `promote:` section of pipeline.yaml.
type Promote struct {
}

// DefaultPromote is the promote section when the file says nothing.
func DefaultPromote() Promote { return Promote{} }
