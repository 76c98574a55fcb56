package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b", "CHANGELOG.md")
	if err := Write(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("new file: %v %v", st, err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o600 {
		t.Fatalf("replaced file: %q %v", b, st.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "a", "b", ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// A folder in the way: an error, and no temporary file left behind.
	if err := Write(filepath.Join(dir, "a"), []byte("x")); err == nil {
		t.Fatal("replaced a folder")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".a.*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
