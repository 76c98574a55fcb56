package logging

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzStreamNeverLeaks: a secret written through the log in any number of
// pieces, cut anywhere, with any text around it, never reaches the output.
func FuzzStreamNeverLeaks(f *testing.F) {
	f.Add("before ", " after\n", uint16(3), uint16(9))
	f.Add("", "", uint16(0), uint16(0))
	f.Add("line\nline2 ", "\nmore\n", uint16(12), uint16(1))
	f.Fuzz(func(t *testing.T, prefix, suffix string, cut1, cut2 uint16) {
		const secret = "s3cr3t-T0KEN-value"
		m := &Masker{}
		m.Add(secret)
		var buf bytes.Buffer
		l, err := New(&buf, Options{}, m)
		if err != nil {
			t.Fatal(err)
		}
		text := prefix + secret + suffix
		a, b := int(cut1)%(len(text)+1), int(cut2)%(len(text)+1)
		if a > b {
			a, b = b, a
		}
		w := l.Writer()
		for _, chunk := range []string{text[:a], text[a:b], text[b:]} {
			if _, err := w.Write([]byte(chunk)); err != nil {
				t.Fatal(err)
			}
		}
		l.Flush()
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("secret leaked from %q cut at %d,%d: %q", text, a, b, buf.String())
		}
		if got, want := strings.Count(buf.String(), Masked), strings.Count(m.Mask(text), Masked); got != want {
			t.Fatalf("%d masks in the output, want %d", got, want)
		}
	})
}
