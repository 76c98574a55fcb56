package text

import "testing"

func TestFirstLineAndShort(t *testing.T) {
	for in, want := range map[string]string{"": "", "one": "one", "one\ntwo": "one", "\ntwo": ""} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
	if Short("0123456789abcdef", 12) != "0123456789ab" || Short("abc", 12) != "abc" {
		t.Error("Short")
	}
}
