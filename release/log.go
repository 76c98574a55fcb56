package release

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LogFormat is the --format given to `git log -z` whose output ReadLog
// parses: fields separated by US (0x1f), records ended by NUL. The raw
// message comes last, so a 0x1f inside a message cannot shift a field.
const LogFormat = "--format=%H%x1f%P%x1f%ct%x1f%an%x1f%B"

// Commit is one commit as read from git log.
type Commit struct {
	SHA     string
	Parents []string
	Time    time.Time // committer time
	Author  string
	// Message is the raw message, byte for byte (%B), without the final
	// newline git adds.
	Message string

	// conv is Message read as a Conventional Commit, when ParseLog read it
	// already (see Commit.conventional).
	conv *Conventional
}

// conventional reads msg as a Conventional Commit, reusing what ParseLog
// read of the commit's own message: ParseLog does it while git is still
// walking the history, so the plan does not wait for it afterwards.
func (c Commit) conventional(msg string) Conventional {
	if c.conv != nil && msg == c.Message {
		cc := *c.conv
		cc.Closes = slices.Clip(cc.Closes) // an append by the caller must not reach the shared array
		return cc
	}
	return ParseConventional(msg)
}

// IsMerge reports whether the commit has more than one parent.
func (c Commit) IsMerge() bool { return len(c.Parents) > 1 }

// Short is the abbreviated commit id used in notes.
func (c Commit) Short() string {
	if len(c.SHA) > 8 {
		return c.SHA[:8]
	}
	return c.SHA
}

// Subject is the first line of the message.
func (c Commit) Subject() string {
	s, _, _ := strings.Cut(c.Message, "\n")
	return strings.TrimRight(s, "\r")
}

// ReadLog streams `git log -z LogFormat` output from r and calls fn for
// each commit in order. Records are split on NUL only, however long they
// are and wherever the reads of r happen to end, so no commit is ever split
// or dropped. A record that does not have the expected fields is an error
// naming its position: it means the format and the parser disagree.
func ReadLog(r io.Reader, fn func(Commit) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte // a record larger than the buffer, being assembled
	n := 0
	for {
		chunk, err := br.ReadSlice(0)
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read git log: %w", err)
		}
		rec := chunk
		if long != nil {
			rec = append(long, chunk...)
			long = nil
		}
		if err == io.EOF {
			// Trailing bytes without a NUL: git always ends a record with
			// one, so only whitespace may be left.
			if len(bytes.TrimSpace(rec)) > 0 {
				return fmt.Errorf("git log record %d: truncated output (no NUL terminator)", n+1)
			}
			return nil
		}
		rec = rec[:len(rec)-1] // the NUL
		// git puts a newline between records when a format ends with one;
		// a record never starts with one.
		rec = bytes.TrimLeft(rec, "\n")
		if len(rec) == 0 {
			continue
		}
		n++
		c, perr := parseRecord(rec)
		if perr != nil {
			return fmt.Errorf("git log record %d: %w", n, perr)
		}
		if err := fn(c); err != nil {
			return err
		}
	}
}

// ParseLog reads the whole output into a slice, newest first as git gives
// it, each message read as a Conventional Commit as it arrives.
func ParseLog(r io.Reader) ([]Commit, error) {
	var out []Commit
	err := ReadLog(r, func(c Commit) error {
		cc := ParseConventional(c.Message)
		c.conv = &cc
		out = append(out, c)
		return nil
	})
	return out, err
}

func parseRecord(rec []byte) (Commit, error) {
	var f [4][]byte
	rest := rec
	for i := range f {
		j := bytes.IndexByte(rest, 0x1f)
		if j < 0 {
			return Commit{}, fmt.Errorf("want 5 fields separated by 0x1f, found %d in %q", i+1, trunc(rec))
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	if len(f[0]) < 40 {
		return Commit{}, fmt.Errorf("bad commit id %q", trunc(f[0]))
	}
	c := Commit{SHA: string(f[0]), Author: string(f[3])}
	if len(f[1]) > 0 {
		c.Parents = strings.Fields(string(f[1]))
	}
	if secs, err := strconv.ParseInt(string(f[2]), 10, 64); err == nil {
		c.Time = time.Unix(secs, 0).UTC()
	} else {
		return Commit{}, fmt.Errorf("commit %s: bad time %q", c.SHA, f[2])
	}
	msg := rest
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	c.Message = string(msg)
	return c, nil
}

func trunc(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
