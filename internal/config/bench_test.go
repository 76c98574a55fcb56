package config

import (
	"os"
	"testing"
)

// BenchmarkLoadExample decodes examples/appliance/pipeline.yaml, the file
// every `pipeline` command of the demo starts with.
//
//	go test ./internal/config -run '^$' -bench LoadExample -benchmem
func BenchmarkLoadExample(b *testing.B) {
	data, err := os.ReadFile("../../examples/appliance/pipeline.yaml")
	if err != nil {
		b.Skip("no example yet:", err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("pipeline.yaml", data, testEnv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadInvalid decodes a file with many problems: the error path
// (suggestions, sorting) must stay cheap too.
func BenchmarkLoadInvalid(b *testing.B) {
	data, err := os.ReadFile("testdata/invalid/many_problems.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("pipeline.yaml", data, testEnv); err == nil {
			b.Fatal("accepted")
		}
	}
}
