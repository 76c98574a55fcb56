package release

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// encode writes commits the way `git log -z LogFormat` does.
func encode(commits []Commit) []byte {
	var b bytes.Buffer
	for _, c := range commits {
		fmt.Fprintf(&b, "%s\x1f%s\x1f%d\x1f%s\x1f%s\n\x00", c.SHA, strings.Join(c.Parents, " "), c.Time.Unix(), c.Author, c.Message)
	}
	return b.Bytes()
}

func sha(n int) string { return fmt.Sprintf("%08x%032x", n*2654435761%(1<<32), n) }

// chunkReader returns at most n bytes per Read, so record boundaries land
// at every possible place relative to the reads.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestReadLogExact(t *testing.T) {
	huge := "feat: huge\n\n" + strings.Repeat("é ünïcödé 日本語 \x1f line\n", 9000) // > 64 KiB, with 0x1f
	commits := []Commit{
		{SHA: sha(1), Parents: []string{sha(2)}, Author: "Zoë", Time: time.Unix(1700000000, 0).UTC(), Message: "feat(ui): ajouter l'écran ✨\n\nCloses #4"},
		{SHA: sha(2), Parents: []string{sha(3), sha(9)}, Author: "A", Time: time.Unix(1700000001, 0).UTC(), Message: huge},
		{SHA: sha(3), Author: "B", Time: time.Unix(1700000002, 0).UTC(), Message: "not conventional at all\n\ttrailing\t\n"},
		{SHA: sha(4), Parents: []string{sha(5)}, Author: "C", Time: time.Unix(1700000003, 0).UTC(), Message: ""},
	}
	// Put a record separator exactly on 64 KiB and on the reader's buffer
	// size: the first record is padded so the second one starts there.
	for _, boundary := range []int{64 << 10, 256 << 10} {
		pad := boundary - len(encode(commits[:1]))
		c0 := commits[0]
		c0.Message += strings.Repeat("x", pad)
		all := append([]Commit{c0}, commits[1:]...)
		data := encode(all)
		if !bytes.Equal(data[boundary-1:boundary], []byte{0}) {
			t.Fatalf("setup: byte %d is %q, want NUL", boundary-1, data[boundary-1])
		}
		readers := map[string]io.Reader{
			"whole":   bytes.NewReader(data),
			"onebyte": iotest.OneByteReader(bytes.NewReader(data)),
			"4093":    &chunkReader{data: data, n: 4093},
			"64k":     &chunkReader{data: data, n: 64 << 10},
		}
		for name, r := range readers {
			got, err := ParseLog(r)
			if err != nil {
				t.Fatalf("%d/%s: %v", boundary, name, err)
			}
			if len(got) != len(all) {
				t.Fatalf("%d/%s: %d commits, want %d", boundary, name, len(got), len(all))
			}
			for i := range all {
				w := all[i]
				if got[i].SHA != w.SHA || got[i].Message != w.Message || got[i].Author != w.Author ||
					!got[i].Time.Equal(w.Time) || strings.Join(got[i].Parents, " ") != strings.Join(w.Parents, " ") {
					t.Errorf("%d/%s: commit %d differs (message %d bytes, want %d)", boundary, name, i, len(got[i].Message), len(w.Message))
				}
			}
		}
	}
}

func TestReadLogErrors(t *testing.T) {
	for name, in := range map[string]string{
		"truncated": sha(1) + "\x1f\x1f1\x1fA\x1fmsg",
		"fields":    sha(1) + "\x1fmsg\x00",
		"bad sha":   "abc\x1f\x1f1\x1fA\x1fmsg\x00",
		"bad time":  sha(1) + "\x1f\x1fnow\x1fA\x1fmsg\x00",
	} {
		if _, err := ParseLog(strings.NewReader(in)); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(errs.Format(err), "record 1") {
			t.Errorf("%s: error %q does not name the record", name, err)
		}
	}
	if got, err := ParseLog(strings.NewReader("")); err != nil || len(got) != 0 {
		t.Errorf("empty log: %v %v", got, err)
	}
}

func FuzzReadLog(f *testing.F) {
	f.Add("feat: x\n\nbody", "fix!: y", 3)
	f.Add("ü\x1f\x1f", "\n\n\n", 1)
	f.Fuzz(func(t *testing.T, m1, m2 string, chunk int) {
		if strings.ContainsRune(m1+m2, 0) || chunk <= 0 {
			return
		}
		in := []Commit{{SHA: sha(1), Message: m1, Time: time.Unix(1, 0).UTC()}, {SHA: sha(2), Parents: []string{sha(1)}, Message: m2, Time: time.Unix(2, 0).UTC()}}
		got, err := ParseLog(&chunkReader{data: encode(in), n: chunk})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Message != m1 || got[1].Message != m2 {
			var msgs []string
			for _, c := range got {
				msgs = append(msgs, c.Message)
			}
			t.Fatalf("round trip lost bytes: %q", msgs)
		}
	})
}
