package rootfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/text"
)

// Cache is a directory of bases, one folder per key:
//
//	DIR/KEY/base.tar   the base as mmdebstrap wrote it (podman imports it, the template unpacks it)
//	DIR/KEY/rootfs/    the same tree unpacked, made when first asked for (chroot targets)
//	DIR/KEY/spec.json  what the base is made of
//	DIR/KEY/mmdebstrap.log  mmdebstrap's whole --verbose output (apt, dpkg)
//	DIR/KEY.lock       flock held while a process builds KEY: the others wait, then reuse it
//	DIR/.tmp-KEY-*     a build under way; one left by a killed build is removed by the next
//
// A base appears under its final name only once complete (built in a
// temporary folder, then renamed), so a killed build leaves nothing there
// and two jobs building at once cannot corrupt it.
type Cache struct {
	Dir string
	// Log, when set, receives progress: mmdebstrap's stages as they begin,
	// and every Every (default 30 s) the elapsed time with the packages
	// downloaded, unpacked and set up (see Progress).
	Log   func(msg string)
	Every time.Duration
	// APTCache, when set, is a directory of downloaded .deb files shared
	// by every bootstrap that names it (see SharedAPTCache): a bootstrap
	// starts with them in apt's archive cache and adds what it fetched.
	// The base is the same with or without it (apt checks every file
	// against the mirror's index), so it is not part of the key.
	APTCache string
	// Output, when set, receives mmdebstrap's whole output.
	Output io.Writer
	// Program is the bootstrapper, "mmdebstrap" when empty (tests give a
	// stand-in to exercise the cache alone).
	Program string
}

// Base is a base root filesystem in the cache.
type Base struct {
	Key     string
	Spec    Spec
	Dir     string // DIR/KEY
	Tarball string // DIR/KEY/base.tar
	Rootfs  string // DIR/KEY/rootfs, when asked for (or already there)
	// Reused is true when no bootstrap ran for this call: the base was
	// in the cache, or another process built it while this one waited.
	Reused bool
	// Built is when the base was made (its tarball's time).
	Built time.Time
}

// Find returns the cached base of s without building anything: for
// --dry-run, which says whether a run would build.
func (c Cache) Find(s Spec) (Base, bool) {
	key := s.Key()
	b := c.base(s, key)
	st, err := os.Stat(b.Tarball)
	if err != nil {
		return b, false
	}
	b.Built = st.ModTime()
	if fi, err := os.Stat(filepath.Join(b.Dir, "rootfs", "bin", "sh")); err == nil && !fi.IsDir() {
		b.Rootfs = filepath.Join(b.Dir, "rootfs")
	}
	return b, true
}

func (c Cache) base(s Spec, key string) Base {
	dir := filepath.Join(c.Dir, key)
	return Base{Key: key, Spec: s, Dir: dir, Tarball: filepath.Join(dir, "base.tar")}
}

// FindEarlier returns the newest cached base made of s at another mirror
// state: what a run can fall back to when the mirror cannot be reached to
// read its state.
func (c Cache) FindEarlier(s Spec) (Base, bool) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return Base{}, false
	}
	var best Base
	found := false
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(c.Dir, e.Name(), "spec.json"))
		if err != nil {
			continue
		}
		var old Spec
		if json.Unmarshal(data, &old) != nil {
			continue
		}
		cmp := old
		cmp.MirrorState = s.MirrorState
		if !reflect.DeepEqual(cmp, s) || old.Key() != e.Name() {
			continue
		}
		b, ok := c.Find(old)
		if ok && (!found || b.Built.After(best.Built)) {
			best, found = b, true
		}
	}
	return best, found
}

// Get returns the base of s, bootstrapped with mmdebstrap when the cache
// lacks it (1 to 6 minutes), and with its unpacked tree when unpack is set.
// Other processes asking for the same key meanwhile wait and reuse it.
func (c Cache) Get(ctx context.Context, s Spec, unpack bool) (Base, error) {
	if b, ok := c.Find(s); ok && (!unpack || b.Rootfs != "") {
		b.Reused = true
		return b, nil
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return Base{}, fmt.Errorf("base cache %s: %w", c.Dir, err)
	}
	key := s.Key()
	unlock, err := c.lock(ctx, key)
	if err != nil {
		return Base{}, err
	}
	defer unlock()

	b := c.base(s, key)
	b.Reused = true
	if _, err := os.Stat(b.Tarball); err != nil {
		c.removeStale(filepath.Join(c.Dir, ".tmp-"+key+"-*"))
		built, err := c.build(ctx, b, unpack)
		if err != nil {
			return Base{}, err
		}
		b.Reused = !built
	}
	if unpack {
		b.Rootfs = filepath.Join(b.Dir, "rootfs")
		if _, err := os.Stat(b.Rootfs); err != nil {
			c.removeStale(filepath.Join(b.Dir, ".rootfs.tmp-*"))
			tmp, err := os.MkdirTemp(b.Dir, ".rootfs.tmp-")
			if err != nil {
				return Base{}, fmt.Errorf("base cache: %w", err)
			}
			if err := Extract(ctx, b.Tarball, tmp); err != nil {
				os.RemoveAll(tmp)
				return Base{}, err
			}
			if err := os.Rename(tmp, b.Rootfs); err != nil {
				os.RemoveAll(tmp)
				return Base{}, fmt.Errorf("base cache: %w", err)
			}
		}
	}
	if st, err := os.Stat(b.Tarball); err == nil {
		b.Built = st.ModTime()
	}
	return b, nil
}

// build bootstraps the base into a temporary folder and renames it to its
// final name. built is false when another writer (one not taking the
// lock: an older pipeline, another host) completed the same base first.
func (c Cache) build(ctx context.Context, b Base, unpack bool) (built bool, err error) {
	tmp, err := os.MkdirTemp(c.Dir, ".tmp-"+b.Key+"-")
	if err != nil {
		return false, fmt.Errorf("base cache: %w", err)
	}
	defer os.RemoveAll(tmp) // gone once renamed
	if err := c.bootstrap(ctx, b, filepath.Join(tmp, "base.tar")); err != nil {
		return false, err
	}
	spec, _ := json.MarshalIndent(b.Spec, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "spec.json"), append(spec, '\n'), 0o644); err != nil {
		return false, fmt.Errorf("base cache: %w", err)
	}
	if unpack {
		c.log("base %s: unpacking the root filesystem", short(b.Key))
		if err := Extract(ctx, filepath.Join(tmp, "base.tar"), filepath.Join(tmp, "rootfs")); err != nil {
			return false, err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return false, fmt.Errorf("base cache: %w", err)
	}
	if err := os.Rename(tmp, b.Dir); err == nil {
		return true, nil
	}
	// The final folder appeared meanwhile. Complete (it has its tarball):
	// use it. Without its tarball: an older pipeline, which wrote its
	// temporary file inside that folder, is building there or died doing
	// so; move this build's files in, the tarball last, since its presence
	// is what makes the base complete.
	if _, err := os.Stat(b.Tarball); err == nil {
		return false, nil
	}
	for _, name := range []string{"spec.json", "rootfs", "base.tar"} {
		from := filepath.Join(tmp, name)
		if _, err := os.Stat(from); err != nil {
			continue
		}
		if err := os.Rename(from, filepath.Join(b.Dir, name)); err != nil && name != "rootfs" {
			return false, fmt.Errorf("base cache: %w", err)
		}
	}
	return true, nil
}

// bootstrap runs mmdebstrap --verbose, passing its stages to Log as they
// begin and its progress every Every, and keeping its whole output beside
// the tarball (mmdebstrap.log).
func (c Cache) bootstrap(ctx context.Context, b Base, out string) error {
	prog := c.Program
	if prog == "" {
		prog = "mmdebstrap"
	}
	args := append([]string{"--verbose"}, c.aptCacheArgs(filepath.Dir(out))...)
	args = append(args, b.Spec.Args(out)...)
	cmd := proc.Command(ctx, prog, args...)
	cmd.Env = append(os.Environ(), "PATH="+SystemFirstPath(os.Getenv("PATH")))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	full, err := os.Create(filepath.Join(filepath.Dir(out), "mmdebstrap.log"))
	if err != nil {
		return fmt.Errorf("base cache: %w", err)
	}
	defer full.Close()
	start := time.Now()
	c.log("base %s: bootstrapping %s with %s into %s (%s)", short(b.Key), b.Spec.Describe(), prog, c.Dir, b.Spec.Estimate())
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("bootstrap the base: %w", err)
	}

	var mu sync.Mutex
	var progress Progress
	var tail []string
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(full, line)
			if c.Output != nil {
				fmt.Fprintln(c.Output, line)
			}
			mu.Lock()
			if tail = append(tail, line); len(tail) > 30 {
				tail = tail[1:]
			}
			progress.Line(line)
			mu.Unlock()
			// mmdebstrap announces each stage with "I: ...".
			if msg, ok := strings.CutPrefix(line, "I: "); ok {
				c.log("base %s: mmdebstrap: %s (%s)", short(b.Key), ShortPhase(msg), time.Since(start).Round(time.Second))
			}
		}
		_, _ = io.Copy(io.Discard, pr) // drain so the writer ends; its error is the writer's to report
	}()
	ticking := make(chan struct{})
	go func() {
		every := c.Every
		if every <= 0 {
			every = 30 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ticking:
				return
			case <-t.C:
				mu.Lock()
				now := progress.String()
				mu.Unlock()
				c.log("base %s: still bootstrapping, %s elapsed: %s", short(b.Key), time.Since(start).Round(time.Second), now)
			}
		}
	}()
	err = cmd.Wait()
	pw.Close()
	<-read
	close(ticking)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bootstrap of base %s stopped: %w", short(b.Key), ctx.Err())
		}
		mu.Lock()
		last := strings.Join(tail, "\n")
		mu.Unlock()
		return fmt.Errorf("%s %s: %w\n--- output (last lines) ---\n%s\n--- end of output ---", prog, strings.Join(args, " "), err, last)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		return fmt.Errorf("%s %s exited 0 but wrote no tarball at %s", prog, strings.Join(args, " "), out)
	}
	c.keepDownloads(filepath.Dir(out))
	mu.Lock()
	done := progress
	mu.Unlock()
	c.log("base %s: bootstrapped in %s (%d packages; %s downloaded, %s from the apt cache)", short(b.Key), time.Since(start).Round(time.Second),
		done.Packages, mb(done.Fetched), mb(done.Cached))
	return nil
}

// SystemFirstPath is path with the system's program folders first.
// mmdebstrap runs Python helpers through `/usr/bin/env python3` (with a
// documentation filter, mmtarfilter once per essential package): where a
// version manager's shims come first in PATH (pyenv, asdf), each call
// starts a shell script chain, and on a busy 2-core machine that made
// the extraction of 69 packages take 148 s instead of 13.
func SystemFirstPath(path string) string {
	first := []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}
	out := append([]string(nil), first...)
	for _, d := range filepath.SplitList(path) {
		if d != "" && !slices.Contains(first, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, string(os.PathListSeparator))
}

// lock takes the build lock of key, waiting (and saying so) while another
// process holds it. The kernel drops a flock when its holder dies, so a
// killed build never blocks the next one.
func (c Cache) lock(ctx context.Context, key string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("base cache: %w", err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil // closing drops the lock anyway
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("base cache: lock %s: %w", f.Name(), err)
		}
		if !said {
			c.log("base %s: another process is building it; waiting for it", short(key))
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for base %s: %w", short(key), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// removeStale removes what killed builds left (called under the lock).
func (c Cache) removeStale(glob string) {
	matches, _ := filepath.Glob(glob)
	for _, m := range matches {
		os.RemoveAll(m)
	}
}

func (c Cache) log(format string, args ...any) {
	if c.Log != nil {
		c.Log(fmt.Sprintf(format, args...))
	}
}

func short(key string) string { return text.Short(key, 12) }

// Extract unpacks a root filesystem tarball into dir, keeping owners,
// modes and extended attributes (file capabilities).
func Extract(ctx context.Context, tarball, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := proc.Command(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tarball, "-C", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unpack %s into %s: %w: %s", tarball, dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}
