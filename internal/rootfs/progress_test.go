package rootfs

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestProgressOfARealBootstrap feeds the --verbose output of a real
// `mmdebstrap --variant=minbase --include=procps bookworm` (mmdebstrap
// 1.3.5, kept in testdata) and checks the figures against what apt and
// dpkg said: 69 essential + 30 remaining packages, 29.7 + 10.5 MB.
func TestProgressOfARealBootstrap(t *testing.T) {
	f, err := os.Open("testdata/mmdebstrap-verbose.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p Progress
	var seen []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p.Line(sc.Text())
		if strings.HasPrefix(sc.Text(), "I: installing remaining packages") {
			seen = append(seen, p.String())
		}
	}
	if p.Packages != 99 || p.Downloaded != 99 || p.Unpacked != 99 || p.SetUp != 99 {
		t.Errorf("packages %d downloaded %d unpacked %d set up %d, want 99 each", p.Packages, p.Downloaded, p.Unpacked, p.SetUp)
	}
	if p.Bytes != 40_200_000 || p.Fetched < 39_000_000 || p.Fetched > 41_000_000 {
		t.Errorf("bytes to get %d, fetched %d: want 40.2 MB, about the same", p.Bytes, p.Fetched)
	}
	if !strings.HasPrefix(p.Phase, "success in") {
		t.Errorf("last phase %q", p.Phase)
	}
	// Mid-way, when the essential packages are in and the rest starts.
	want := "installing remaining packages inside the chroot: 69/69 packages unpacked, 69 set up; 69 downloaded (29.7 MB of 29.7 MB)"
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("progress at the remaining packages:\n got %q\nwant %q", seen, want)
	}
}

func TestProgressWithTheAPTCache(t *testing.T) {
	var p Progress
	for _, l := range []string{
		"I: downloading packages with apt...",
		"0 upgraded, 69 newly installed, 0 to remove and 0 not upgraded.",
		"Need to get 3,013 kB/29.7 MB of archives.",
		"Get:1 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9+deb12u14 [2759 kB]",
	} {
		p.Line(l)
	}
	want := "downloading packages with apt: 0/69 packages unpacked, 0 set up; 1 downloaded (2.8 MB of 3.0 MB), 26.7 MB from the apt cache"
	if got := p.String(); got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

func TestSystemFirstPath(t *testing.T) {
	got := SystemFirstPath("/root/.pyenv/shims:/usr/local/bin:/usr/bin:/bin")
	if want := "/usr/sbin:/usr/bin:/sbin:/bin:/root/.pyenv/shims:/usr/local/bin"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestSharedAPTCache: the bootstrap is asked to sync the shared cache in
// and apt's archive out; what it copied out lands in the cache (not in the
// base), a file already there is kept, and the whole output is kept
// beside the base.
func TestSharedAPTCache(t *testing.T) {
	dir := t.TempDir()
	prog := dir + "/mmdebstrap"
	// As mmdebstrap's sync-out hook would: apt's archive into the folder
	// the hook names.
	os.WriteFile(prog, []byte(`#!/bin/sh
set -e
echo "$@" > `+dir+`/args
for a; do out=$last; last=$a; done
mkdir -p "$(dirname "$out")/debs"
echo new > "$(dirname "$out")/debs/new_1_amd64.deb"
echo theirs > "$(dirname "$out")/debs/old_1_amd64.deb"
echo "I: creating tarball..."
echo tar > "$out"
`), 0o755)
	apt := dir + "/apt"
	os.MkdirAll(apt, 0o755)
	os.WriteFile(apt+"/old_1_amd64.deb", []byte("mine"), 0o644)
	c := Cache{Dir: dir + "/bases", Program: prog, APTCache: apt}
	b, err := c.Get(t.Context(), testSpec(), false)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := os.ReadFile(dir + "/args")
	for _, want := range []string{"--verbose", "--setup-hook=sync-in " + apt + " /var/cache/apt/archives/", "--customize-hook=sync-out /var/cache/apt/archives " + c.Dir + "/.tmp-"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("mmdebstrap args lack %q:\n%s", want, args)
		}
	}
	if data, _ := os.ReadFile(apt + "/new_1_amd64.deb"); string(data) != "new\n" {
		t.Errorf("the new download is not in the cache: %q", data)
	}
	if data, _ := os.ReadFile(apt + "/old_1_amd64.deb"); string(data) != "mine" {
		t.Errorf("a file already in the cache was replaced: %q", data)
	}
	if _, err := os.Stat(b.Dir + "/debs"); !os.IsNotExist(err) {
		t.Errorf("the downloads stayed in the base folder: %v", err)
	}
	if log, _ := os.ReadFile(b.Dir + "/mmdebstrap.log"); !strings.Contains(string(log), "I: creating tarball") {
		t.Errorf("mmdebstrap.log: %q", log)
	}
}

func TestShortPhase(t *testing.T) {
	for in, want := range map[string]string{
		`running --customize-hook in shell: sh -c 'rm -f "$1"/usr/sbin/update-initramfs && chroot "$1" update-initramfs -c -k all' exec /tmp/x`: "running --customize-hook: making the initramfs",
		`running --setup-hook in shell: sh -c 'mkdir -p "$1"/var/cache/apt/archives/' exec /tmp/x`:                                              "running --setup-hook",
		"installing remaining packages inside the chroot...":                                                                                    "installing remaining packages inside the chroot...",
	} {
		if got := ShortPhase(in); got != want {
			t.Errorf("ShortPhase(%q) = %q, want %q", in, got, want)
		}
	}
}
