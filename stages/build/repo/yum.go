package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

// ErrNoCreaterepo is returned by WriteYUM when createrepo_c is not
// installed.
var ErrNoCreaterepo = errors.New("createrepo_c is not installed, so no YUM repository can be written: install it (Debian/Ubuntu: apt-get install createrepo-c; Fedora/RHEL: dnf install createrepo_c) or set build.yum.enabled: false")

// YUMRepo is a written YUM repository.
type YUMRepo struct {
	Dir   string   `json:"dir"`
	Files []string `json:"files"`
}

// WriteYUM writes a YUM repository of the rpm packages in pkgs into dir:
// the rpms under Packages/ and repodata/ from createrepo_c, with its
// timestamps set to date.
func WriteYUM(ctx context.Context, dir string, pkgs []*dist.Inspected, date time.Time) (*YUMRepo, error) {
	bin, err := exec.LookPath("createrepo_c")
	if err != nil {
		return nil, ErrNoCreaterepo
	}
	repo := &YUMRepo{Dir: dir}
	for _, p := range pkgs {
		if p.Format != dist.RPM {
			continue
		}
		rel := path.Join("Packages", p.File)
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		// A copy, not a link: createrepo_c records the file's time, which
		// is set to date here so the repodata is reproducible, and the
		// component's own file must not be touched.
		if err := copyFile(p.Path, dst, p.SHA256); err != nil {
			return nil, fmt.Errorf("yum: %w", err)
		}
		if err := os.Chtimes(dst, date, date); err != nil {
			return nil, fmt.Errorf("yum: %w", err)
		}
		repo.Files = append(repo.Files, rel)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// A fixed revision and timestamps, no sqlite databases (their bytes
	// differ run to run) and one worker keep repodata reproducible.
	cmd := proc.Command(ctx, bin, "--quiet", "--no-database", "--workers=1",
		"--revision="+strconv.FormatInt(date.Unix(), 10), "--set-timestamp-to-revision", dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("createrepo_c %s: %w: %s", dir, err, strings.TrimSpace(out.String()))
	}
	entries, err := os.ReadDir(filepath.Join(dir, "repodata"))
	if err != nil {
		return nil, fmt.Errorf("createrepo_c wrote no repodata: %w", err)
	}
	for _, e := range entries {
		repo.Files = append(repo.Files, path.Join("repodata", e.Name()))
	}
	sort.Strings(repo.Files)
	return repo, nil
}
