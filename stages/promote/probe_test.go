package promote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// alive reports whether pid is a running process (not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) STATE …: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// TestProbeStopsItsBackgroundChild: a BVT that leaves `sleep 300` running
// in the background is judged by its exit code at once (not an
// infrastructure error once the wait for its output gives up), and the
// sleep is stopped with it, whatever the verdict.
func TestProbeStopsItsBackgroundChild(t *testing.T) {
	testutil.NeedTool(t, "sleep")
	for _, tc := range []struct {
		exit int
		want Verdict
	}{{0, Good}, {1, Bad}, {125, Skip}} {
		t.Run(tc.want.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pc := probeCommand{Command: "sleep 300 & echo $! > bg.pid; echo started; exit " + strconv.Itoa(tc.exit), Timeout: time.Minute}
			start := time.Now()
			res, err := pc.run(context.Background(), dir)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("err = %v, want verdict %s from exit %d", err, tc.want, tc.exit)
			}
			if res.Verdict != tc.want || res.ExitCode != tc.exit {
				t.Errorf("verdict %s exit %d, want %s exit %d", res.Verdict, res.ExitCode, tc.want, tc.exit)
			}
			if took > 3*time.Second {
				t.Errorf("the probe took %s: it waited for the background child", took)
			}
			if !strings.Contains(string(res.Output), "started") {
				t.Errorf("output %q", res.Output)
			}
			data, err := os.ReadFile(filepath.Join(dir, "bg.pid"))
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the background sleep (pid %d) still runs after the probe", pid)
			}
		})
	}
}

// countWriter counts bytes and the longest write it was given.
type countWriter struct {
	n, longest atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	for {
		l := c.longest.Load()
		if int64(len(p)) <= l || c.longest.CompareAndSwap(l, int64(len(p))) {
			break
		}
	}
	return len(p), nil
}

// TestProbeLongLineBoundedMemory: a BVT printing 100 MB on one line, its
// output streamed to the log as promote does, keeps the heap bounded (the
// line is neither held whole nor written whole) and all of it reaches the
// log.
func TestProbeLongLineBoundedMemory(t *testing.T) {
	testutil.NeedTool(t, "head")
	testutil.NeedTool(t, "tr")
	const size = 100 << 20
	const limit = 24 << 20 // the tail (≤ 2 MiB), pieces of 64 KiB and their masking, with room
	var sink countWriter
	masker := &logging.Masker{}
	masker.Add("glpat-NotInTheOutput0001")
	log, err := logging.New(&sink, logging.Options{Level: "info"}, masker)
	if err != nil {
		t.Fatal(err)
	}
	stream := &lineWriter{w: log.Writer(), prefix: "probe 1 │ ", mask: masker}
	pc := probeCommand{Command: "head -c " + strconv.Itoa(size) + " /dev/zero | tr '\\0' a; echo; echo done", Timeout: 2 * time.Minute, Stream: stream}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	res, err := pc.run(context.Background(), t.TempDir())
	stream.Close()
	log.Flush()
	close(stop)
	wg.Wait()
	if err != nil || res.Verdict != Good {
		t.Fatalf("verdict %s, err %v", res.Verdict, err)
	}
	grew := int64(peak.Load()) - int64(base.HeapAlloc)
	t.Logf("heap grew by %d KiB at most for %d MiB on one line; longest log write %d KiB", grew>>10, size>>20, sink.longest.Load()>>10)
	if grew > limit {
		t.Errorf("the heap grew by %d MiB for one line of %d MiB, want under %d MiB", grew>>20, size>>20, limit>>20)
	}
	if got := sink.n.Load(); got < size {
		t.Errorf("%d bytes reached the log, want the whole line (%d bytes) and more", got, size)
	}
	if l := sink.longest.Load(); l > 1<<20 {
		t.Errorf("one write to the log of %d KiB: the line was not cut", l>>10)
	}
	if len(res.Output) > maxOutput+64 || !bytes.HasSuffix(res.Output, []byte("a\ndone\n")) {
		t.Errorf("kept output: %d bytes, ends %q", len(res.Output), res.Output[max(0, len(res.Output)-20):])
	}
	if tail := tailLines(res.Output, 20); len(tail) > maxTail+len("…") {
		t.Errorf("tail of %d bytes, want at most %d", len(tail), maxTail)
	}
}

// TestLineWriterMasksAcrossCuts: a secret that straddles the point where a
// long line is cut is still masked.
func TestLineWriterMasksAcrossCuts(t *testing.T) {
	const secret = "glpat-StraddlingSecret0001"
	masker := &logging.Masker{}
	masker.Add(secret)
	for _, at := range []int{maxLine - 10, maxLine - 1, maxLine, maxLine + 3, 2*maxLine - 5} {
		var out bytes.Buffer
		lw := &lineWriter{w: &out, prefix: "p │ ", mask: masker}
		line := strings.Repeat("x", at) + secret + strings.Repeat("y", maxLine) + "\n"
		// In small writes, as a pipe delivers them.
		for s := line; len(s) > 0; {
			n := min(len(s), 4096)
			if _, err := lw.Write([]byte(s[:n])); err != nil {
				t.Fatal(err)
			}
			s = s[n:]
		}
		lw.Close()
		got := out.String()
		if strings.Contains(got, "Straddling") || !strings.Contains(got, logging.Masked) {
			t.Errorf("secret at %d: not masked in the pieces written", at)
		}
		for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if !strings.HasPrefix(l, "p │ ") || len(l) > maxLine+64 {
				t.Errorf("secret at %d: piece of %d bytes starting %q", at, len(l), l[:min(len(l), 12)])
			}
		}
		if n := strings.Count(got, "x") + strings.Count(got, "y"); n != at+maxLine {
			t.Errorf("secret at %d: %d bytes of the line written, want %d", at, n, at+maxLine)
		}
	}
}

// TestTailBufferKeepsTheEnd: whatever the sizes of the writes, the last
// max bytes are kept, and no more than 2×max held.
func TestTailBufferKeepsTheEnd(t *testing.T) {
	var all bytes.Buffer
	tb := &tailBuffer{max: 1000}
	for i, n := range []int{10, 999, 1000, 1001, 3, 2500, 7, 700, 700, 700} {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		all.Write(p)
		tb.Write(p)
		if cap(tb.buf) > 4*tb.max {
			t.Fatalf("after a write of %d: %d bytes held", n, cap(tb.buf))
		}
	}
	got := tb.Bytes()
	want := all.Bytes()[all.Len()-1000:]
	if !bytes.HasSuffix(got, want) || len(got) != len(want)+len("[… earlier output dropped …]\n") {
		t.Errorf("kept %d bytes, want the last 1000 with the marker", len(got))
	}
	_ = io.Discard
}
