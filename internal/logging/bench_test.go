package logging

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// The cost of masking: every byte of the log is searched for every secret.
// bench/logging/run.sh runs these side by side.

func secrets(n int) *Masker {
	m := &Masker{}
	for i := 0; i < n; i++ {
		m.Add(fmt.Sprintf("glpat-%016d-secret", i))
	}
	return m
}

// BenchmarkLogLine: one typical log entry, with 0, 12 (the well-known
// variables) and 50 secrets registered.
func BenchmarkLogLine(b *testing.B) {
	for _, n := range []int{0, 12, 50} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			l, err := New(io.Discard, Options{}, secrets(n))
			if err != nil {
				b.Fatal(err)
			}
			l = l.With(map[string]any{"stage": "build", "commit": "0123abcd"})
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				l.Infof("building component %d of 12: make -C components/appliance-agent deb rpm", i)
			}
		})
	}
}

// BenchmarkStream: a command's output (1 MiB of 100-byte lines) streamed
// through Logger.Writer in 4 KiB chunks.
func BenchmarkStream(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, (1<<20)/len(line)))
	for _, n := range []int{0, 12, 50} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			l, err := New(io.Discard, Options{}, secrets(n))
			if err != nil {
				b.Fatal(err)
			}
			w := l.Writer()
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				for off := 0; off < len(data); off += 4096 {
					end := min(off+4096, len(data))
					w.Write(data[off:end])
				}
			}
		})
	}
}
