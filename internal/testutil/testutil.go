// Package testutil has the few helpers the tests share: finding the real
// programs they drive, and making real git repositories.
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NeedTool returns the path of the named program. When it is missing, the
// test fails under CI (CI=true: the install script should have put it
// there) and is skipped with a message that says what was not checked on a
// developer machine.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	NotChecked(t, name+" is not installed, so this test did not run: install it with scripts/install-deps.sh")
	return ""
}

// NotChecked ends a test that cannot run here: a failure under CI
// (CI=true: the install script should have made it possible), elsewhere a
// skip whose message says what was not checked. msg says what is missing,
// what was not checked and what to run.
func NotChecked(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip("NOT CHECKED: " + msg)
}

// NeedRoot fails under CI and skips elsewhere when not running as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	NotChecked(t, "this test needs root, so it did not run")
}

// DefaultCacheRoot is where the slow test fixtures (Debian bases, template
// images, podman storage) are kept between runs on a machine.
const DefaultCacheRoot = "/var/tmp/pipeline-testcache"

// CacheRoot is the test fixture cache: $PIPELINE_TESTCACHE when it is an
// absolute path (bench/install/cold-tests.sh points it at an empty
// directory to time a new machine), else DefaultCacheRoot.
func CacheRoot() string {
	if d := os.Getenv("PIPELINE_TESTCACHE"); filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	return DefaultCacheRoot
}
