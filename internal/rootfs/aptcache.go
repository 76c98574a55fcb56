package rootfs

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The apt archive cache shared by every bootstrap on this machine: the
// template's base, the integration base and the test fixtures' bases
// download mostly the same packages (libc, systemd, perl, ...), each once.
//
// mmdebstrap copies the cache into the new root before apt runs
// (--setup-hook sync-in) and copies apt's archive out after the last
// package is installed (--customize-hook sync-out), into the temporary
// build folder; keepDownloads then moves each new .deb into the cache by
// rename, so a bootstrap running at the same time never reads half a
// file. apt checks every file against the mirror's index, so a stale or
// foreign file is never installed, only fetched again.

// SharedAPTCache is the machine's shared apt archive cache:
// $PIPELINE_APT_CACHE (looked up with lookup, a ci.Env's Lookup), else
// /var/tmp/pipeline-cache/apt.
func SharedAPTCache(lookup func(string) (string, bool)) string {
	if d, ok := lookup("PIPELINE_APT_CACHE"); ok && d != "" {
		return d
	}
	return "/var/tmp/pipeline-cache/apt"
}

// aptCacheKeep is how long a .deb no bootstrap used stays in the cache.
const aptCacheKeep = 30 * 24 * time.Hour

// aptCacheArgs are mmdebstrap's options that sync the shared cache in and
// apt's archive out into tmp/debs; none when there is no usable cache.
func (c Cache) aptCacheArgs(tmp string) []string {
	dir := c.APTCache
	if dir == "" || strings.ContainsAny(dir+tmp, " \t\n\"'$\\") {
		return nil // the hooks are split on blanks and run by sh
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.log("apt cache %s: %v: bootstrapping without it", dir, err)
		return nil
	}
	return []string{
		// Keep the essential packages' files for the copy out.
		"--skip=essential/unlink",
		`--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
		"--setup-hook=sync-in " + dir + " /var/cache/apt/archives/",
		"--customize-hook=sync-out /var/cache/apt/archives " + filepath.Join(tmp, "debs"),
	}
}

// keepDownloads moves the .deb files of a finished bootstrap from
// tmp/debs into the shared cache, marks those already there as used, and
// removes files no bootstrap used for aptCacheKeep. Failures only cost
// downloads later, so they are ignored.
func (c Cache) keepDownloads(tmp string) {
	from := filepath.Join(tmp, "debs")
	defer os.RemoveAll(from) // never part of the base
	if c.APTCache == "" {
		return
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return
	}
	now := time.Now()
	added := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".deb") {
			continue
		}
		dst := filepath.Join(c.APTCache, e.Name())
		if _, err := os.Stat(dst); err == nil {
			_ = os.Chtimes(dst, now, now)
			continue
		}
		if moveFile(filepath.Join(from, e.Name()), dst) == nil {
			added++
		}
	}
	all, _ := os.ReadDir(c.APTCache)
	for _, e := range all {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".deb") && now.Sub(info.ModTime()) > aptCacheKeep {
			os.Remove(filepath.Join(c.APTCache, e.Name()))
		}
	}
	if added > 0 {
		c.log("apt cache %s: %d package file(s) added", c.APTCache, added)
	}
}

// moveFile renames src to dst, or copies it to a temporary name beside dst
// and renames that when they are on different file systems.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".in-")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, in)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
