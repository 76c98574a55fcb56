// Package atomicfile writes a file whole or not at all: through a
// temporary file beside it and a rename, so a crash or a kill never leaves
// half a file (a changelog, a report, a handed-off value).
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write replaces path with data, creating the folders above it. The file
// keeps the permissions it had; a new one gets 0644.
func Write(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	err = errors.Join(werr, f.Close(), os.Chmod(f.Name(), mode))
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
