// Command replay replays the release history of a repository whose tags a
// machine made (semantic-release, release-please): for each stable tag, in
// version order, it puts HEAD at the tag's commit with only the lower tags
// present and asks `pipeline --dry-run release` (and git-cliff
// --bumped-version, when given) which version comes next. A tag is
// reproduced when the answer is the tag's version.
//
//	replay -repo DIR -pipeline BIN [-cliff BIN] [-config FILE] [-except FILE] [-name NAME]
//
// -except lists the tags expected to differ, one "tag reason" a line; the
// command exits 1 when pipeline misses a tag not listed there (or a listed
// one is reproduced after all, so the list stays true). It prints one
// Markdown table row of counts, then the misses.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

type tag struct {
	name, sha string
	v         *semver.Version
}

func main() {
	repo := flag.String("repo", "", "the repository (a git directory or a work tree); it is cloned, never changed")
	bin := flag.String("pipeline", "pipeline", "the pipeline binary")
	cliff := flag.String("cliff", "", "the git-cliff binary (empty: not compared)")
	cfg := flag.String("config", "", "pipeline.yaml to run with")
	except := flag.String("except", "", "file of `tag reason` lines: tags expected not to be reproduced")
	name := flag.String("name", "", "the name shown in the table (default: the repo's base name)")
	flag.Parse()
	if *repo == "" {
		fmt.Fprintln(os.Stderr, "replay: give -repo DIR")
		os.Exit(2)
	}
	if *name == "" {
		*name = filepath.Base(strings.TrimSuffix(*repo, "/repo"))
	}
	excepted, err := readExceptions(*except)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(2)
	}
	work, err := os.MkdirTemp("", "replay-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(3)
	}
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "r")
	must(git("", "clone", "--quiet", "--no-checkout", *repo, dir))
	tags := releaseTags(dir)
	// Start with no tags; each replayed tag is added after its turn.
	var del strings.Builder
	for _, t := range tags {
		fmt.Fprintf(&del, "delete refs/tags/%s\n", t.name)
	}
	mustIn(dir, del.String(), "update-ref", "--stdin")

	stable, okPipe, okCliff := 0, 0, 0
	var misses []string
	unexpected := 0
	for _, t := range tags {
		if t.v.Prerelease() == "" {
			stable++
			// HEAD on branch main at the tag's commit, without a checkout:
			// both tools read history only (and a partial clone may lack
			// the blobs).
			must(git(dir, "update-ref", "refs/heads/main", t.sha))
			must(git(dir, "symbolic-ref", "HEAD", "refs/heads/main"))
			want := t.v.String()
			got := pipelineVersion(*bin, *cfg, dir)
			c := ""
			if *cliff != "" {
				c = cliffVersion(*cliff, dir)
				if c == want {
					okCliff++
				}
			}
			reason, listed := excepted[t.name]
			switch {
			case got == want:
				okPipe++
				if listed {
					unexpected++
					misses = append(misses, fmt.Sprintf("%s: reproduced, but listed as an exception (%s): remove it from the list", t.name, reason))
				}
			case listed:
				misses = append(misses, fmt.Sprintf("%s: pipeline %s (listed: %s)", t.name, orNone(got), reason))
			default:
				unexpected++
				misses = append(misses, fmt.Sprintf("%s: pipeline %s, NOT LISTED", t.name, orNone(got)))
			}
		}
		mustIn(dir, fmt.Sprintf("create refs/tags/%s %s\n", t.name, t.sha), "update-ref", "--stdin")
	}
	cliffCol := "–"
	if *cliff != "" {
		cliffCol = fmt.Sprintf("%d", okCliff)
	}
	fmt.Printf("| %s | %d | %d | %s | %d |\n", *name, stable, okPipe, cliffCol, stable-okPipe-unexpected)
	for _, m := range misses {
		fmt.Fprintln(os.Stderr, "  "+*name+" "+m)
	}
	if unexpected > 0 {
		os.Exit(1)
	}
}

// releaseTags are the tags v + semantic version, lowest first.
func releaseTags(dir string) []tag {
	out, err := git(dir, "for-each-ref", "--format=%(refname:strip=2) %(objectname) %(*objectname)", "refs/tags")
	must(out, err)
	var tags []tag
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "v") {
			continue
		}
		v, err := semver.StrictNewVersion(f[0][1:])
		if err != nil {
			continue
		}
		sha := f[1]
		if len(f) == 3 {
			sha = f[2]
		}
		tags = append(tags, tag{name: f[0], sha: sha, v: v})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].v.LessThan(tags[j].v) })
	return tags
}

func pipelineVersion(bin, cfg, dir string) string {
	args := []string{"--repo", dir, "--dry-run", "--json"}
	if cfg != "" {
		args = append(args, "--config", cfg)
	}
	cmd := exec.Command(bin, append(args, "release")...)
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return "error: " + err.Error()
	}
	var doc struct {
		Results []struct {
			Data struct {
				Releasable bool   `json:"releasable"`
				Version    string `json:"version"`
			} `json:"data"`
		} `json:"results"`
	}
	if json.Unmarshal(out, &doc) != nil || len(doc.Results) == 0 {
		return "error: no JSON result"
	}
	if !doc.Results[0].Data.Releasable {
		return ""
	}
	return doc.Results[0].Data.Version
}

func cliffVersion(bin, dir string) string {
	cmd := exec.Command(bin, "--bumped-version")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
}

func readExceptions(path string) (map[string]string, error) {
	m := map[string]string{}
	if path == "" {
		return m, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, reason, _ := strings.Cut(line, " ")
		m[t] = strings.TrimSpace(reason)
	}
	return m, sc.Err()
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustIn(dir, stdin string, args ...string) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "replay: git %s: %v: %s\n", strings.Join(args, " "), err, out)
		os.Exit(3)
	}
}

func must(_ string, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(3)
	}
}

func orNone(v string) string {
	if v == "" {
		return "nothing to release"
	}
	return v
}
