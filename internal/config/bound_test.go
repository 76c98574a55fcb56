package config

import (
	"runtime"
	"strings"
	"testing"
)

// hostileNesting are inputs that made the loader run away before sizes
// and depths were bounded (a 200 KB file of "[" took 14.7 GB and 427 s),
// and the worst shapes still accepted by the bound: as big and as deep
// as allowed.
func hostileNesting() map[string][]byte {
	near := strings.Repeat("[", 60) + strings.Repeat("]", 60) + ",\n"
	return map[string][]byte{
		"200 KB of [":        []byte("version: 1\nstages: " + strings.Repeat("[", 200_000)),
		"200 KB of {a: ":     []byte("version: 1\nstages: " + strings.Repeat("{a: ", 50_000)),
		"block indentation":  []byte(deepIndent(600)),
		"compact items":      []byte("version: 1\nstages:\n" + strings.Repeat("- ", 100_000) + "x\n"),
		"1 MB at depth 60":   []byte("version: 1\nstages: [\n" + strings.Repeat(near, (1<<20-40)/len(near)) + "]\n"),
		"1 MB never closed":  []byte("version: 1\nstages: [\n" + strings.Repeat(near, (1<<20-40)/len(near))),
		"just over the size": []byte("version: 1\n" + strings.Repeat("#", 1<<20)),
	}
}

func deepIndent(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\n")
	for i := 0; i < n; i++ {
		b.WriteString(strings.Repeat(" ", i) + "k:\n")
	}
	return b.String()
}

// Parsing any hostile nesting allocates under 256 MB in all (TotalAlloc,
// which bounds the peak heap from above) and returns a usage error naming
// pipeline.yaml:line:col or the file. Before the bound, the first input
// alone took 14.7 GB.
func TestParseHostileNestingBoundedMemory(t *testing.T) {
	const limit = 256 << 20
	for name, data := range hostileNesting() {
		t.Run(name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Parse("pipeline.yaml", data, testEnv)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			checkFuzzError(t, err)
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("allocated %d MB parsing %d bytes, want under %d MB", got>>20, len(data), limit>>20)
			} else {
				t.Logf("allocated %.1f MB for %d bytes: %s", float64(got)/(1<<20), len(data), firstLine(err.Error()))
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
