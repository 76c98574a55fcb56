package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Source is a parsed sources.list line: "deb [options] URL SUITE COMPONENTS".
type Source struct {
	Options    string // inside the brackets, may be empty
	URL        string
	Suite      string
	Components []string
}

// ParseSource parses a one-line sources.list entry.
func ParseSource(line string) (Source, error) {
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "deb" {
		return Source{}, fmt.Errorf("%q is not a sources.list line: want \"deb [options] URL SUITE COMPONENT...\"", line)
	}
	f = f[1:]
	var s Source
	if strings.HasPrefix(f[0], "[") {
		var opts []string
		for len(f) > 0 {
			o := f[0]
			f = f[1:]
			opts = append(opts, strings.Trim(o, "[]"))
			if strings.HasSuffix(o, "]") {
				break
			}
		}
		s.Options = strings.TrimSpace(strings.Join(opts, " "))
	}
	if len(f) < 2 {
		return Source{}, fmt.Errorf("%q has no URL and suite", line)
	}
	s.URL, s.Suite, s.Components = strings.TrimRight(f[0], "/"), f[1], f[2:]
	return s, nil
}

// Line renders the source with a different URL.
func (s Source) Line(url string) string {
	l := "deb "
	if s.Options != "" {
		l += "[" + s.Options + "] "
	}
	return l + url + " " + s.Suite + " " + strings.Join(s.Components, " ")
}

// ReleaseURLs are where the source's Release file may be.
func (s Source) ReleaseURLs() []string {
	if strings.HasSuffix(s.Suite, "/") { // flat repository
		base := s.URL + "/" + strings.TrimSuffix(s.Suite, "/")
		return []string{base + "/InRelease", base + "/Release"}
	}
	base := s.URL + "/dists/" + s.Suite
	return []string{base + "/InRelease", base + "/Release"}
}

// MirrorState is the sha256 of the first Release file found for the
// source: it changes whenever the repository publishes anything, so an
// unpinned mirror gives a new key when it moves, and a snapshot URL never
// does.
func MirrorState(ctx context.Context, s Source) (string, error) {
	var lastErr error
	for _, u := range s.ReleaseURLs() {
		b, err := fetch(ctx, u)
		if err == nil {
			sum := sha256.Sum256(b)
			return hex.EncodeToString(sum[:]), nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("read the Release file of %s %s: %w", s.URL, s.Suite, lastErr)
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		return os.ReadFile(p)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}
