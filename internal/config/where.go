package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Where is the place of key's value in the file the configuration was read
// from, as file:line:col (key is a dotted path: release.templates.notes,
// release.version_files[0].path), for a stage that finds a value wrong
// when it uses it (a path that resolves outside the repository). It is
// the file's name alone when the key is not written in it (a default), or
// "pipeline.yaml" when there is no file.
func (c *Config) Where(key string) string {
	if c == nil || c.Path == "" {
		return "pipeline.yaml"
	}
	name := displayPath(c.Path)
	data, err := os.ReadFile(c.Path)
	if err != nil || len(data) > maxWhereSize {
		return name
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return name
	}
	n := doc.Content[0]
	for _, part := range splitKey(key) {
		n = deref(n)
		if n == nil {
			return name
		}
		if i, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
			if i < 0 || i >= len(n.Content) {
				return name
			}
			n = n.Content[i]
			continue
		}
		if n.Kind != yaml.MappingNode {
			return name
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == part {
				next = n.Content[j+1]
			}
		}
		if next == nil {
			return name
		}
		n = next
	}
	return fmt.Sprintf("%s:%d:%d", name, n.Line, n.Column)
}

// maxWhereSize: Where reads only files the loader has already accepted;
// this bound only guards against one replaced since.
const maxWhereSize = 1 << 20

// splitKey splits a.b[2].c into a, b, 2, c.
func splitKey(key string) []string {
	key = strings.NewReplacer("[", ".", "]", "").Replace(key)
	return strings.Split(key, ".")
}
