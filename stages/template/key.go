package template

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
)

// Inputs is everything an image is made from. Two builds with equal Inputs
// give the same image, so the key (a hash of the Inputs) names the image in
// the store: a key that is already there needs no build.
type Inputs struct {
	// Recipe is the resolved recipe: distribution, suite, mirror,
	// packages, meta-package and version, users, disk size, formats.
	Recipe Recipe `json:"recipe"`
	// Files maps each input file (dist.lock, files copied in, provisioning
	// scripts) to the sha256 of its content.
	Files map[string]string `json:"files"`
	// Tools maps each program the build runs to its version line.
	Tools map[string]string `json:"tools"`
	// Mirrors maps each package source to the sha256 of its Release file:
	// an unpinned mirror that moved gives a new key.
	Mirrors map[string]string `json:"mirrors"`
	// Builder is the version of this code's disk layout; bumped when the
	// image it makes from the same inputs changes.
	Builder int `json:"builder"`
}

// BuilderVersion is bumped whenever the stage would make a different image
// from the same inputs (layout, boot setup).
const BuilderVersion = 3

// Key is the template key: the hex sha256 of the canonical JSON of in,
// shortened to 32 hex digits (128 bits), which is plenty to name images.
func (in Inputs) Key() string {
	b, err := json.Marshal(in) // maps marshal with sorted keys: canonical
	if err != nil {
		panic(err) // only plain data in Inputs
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:32]
}

// Names lists the input names in order, for the log.
func (in Inputs) Names() []string {
	var out []string
	for k := range in.Files {
		out = append(out, "file "+k)
	}
	for k := range in.Tools {
		out = append(out, "tool "+k)
	}
	for k := range in.Mirrors {
		out = append(out, "mirror "+k)
	}
	sort.Strings(out)
	return out
}
