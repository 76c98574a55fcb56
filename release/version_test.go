package release

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func v(s string) *semver.Version { return semver.MustParse(s) }

func vs(s ...string) []*semver.Version {
	var out []*semver.Version
	for _, x := range s {
		out = append(out, v(x))
	}
	return out
}

func TestNext(t *testing.T) {
	cases := []struct {
		name    string
		in      NextInput
		want    string
		bump    Bump
		reason  string
		wantErr string
	}{
		{name: "feat", in: NextInput{LastStable: v("1.3.0"), Bump: Minor}, want: "1.4.0", bump: Minor},
		{name: "fix", in: NextInput{LastStable: v("1.3.0"), Bump: Patch}, want: "1.3.1", bump: Patch},
		{name: "breaking", in: NextInput{LastStable: v("1.3.2"), Bump: Major}, want: "2.0.0", bump: Major},
		{name: "0.x breaking bumps minor", in: NextInput{LastStable: v("0.4.2"), Bump: Major}, want: "0.5.0", bump: Minor, reason: "0.x"},
		{name: "0.x forced major", in: NextInput{LastStable: v("0.4.2"), Bump: Patch, Forced: Major}, want: "1.0.0", bump: Major},
		{name: "forced bump", in: NextInput{LastStable: v("1.3.0"), Bump: Patch, Forced: Minor}, want: "1.4.0", reason: "--bump minor"},
		{name: "forced version", in: NextInput{LastStable: v("1.3.0"), Version: v("2.1.0")}, want: "2.1.0", bump: Major, reason: "--version 2.1.0"},
		{name: "version not above", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.3.0"), Version: v("1.3.0")}, wantErr: "not above"},
		{name: "first", in: NextInput{Bump: Minor, Initial: v("0.1.0")}, want: "0.1.0", reason: "first release"},
		{name: "first pre", in: NextInput{Bump: Minor, Initial: v("1.0.0"), Pre: "rc"}, want: "1.0.0-rc.1"},
		{name: "rc.1", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.3.0"), Bump: Minor, Pre: "rc"}, want: "1.4.0-rc.1"},
		{name: "rc.2", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.4.0-rc.1"), Bump: Minor, Pre: "rc", Existing: vs("1.3.0", "1.4.0-rc.1")}, want: "1.4.0-rc.2"},
		{name: "rc.10 after rc.9", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.4.0-rc.9"), Bump: Patch, Pre: "rc", Existing: vs("1.4.0-rc.9", "1.4.0-rc.2", "1.4.0-beta.4")}, want: "1.4.0-rc.10"},
		{name: "beta after rc keeps numbering per id", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.3.0"), Bump: Major, Pre: "beta", Existing: vs("2.0.0-alpha.3")}, want: "2.0.0-beta.1"},
		{name: "breaking after rc restarts", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.4.0-rc.2"), Bump: Major, Pre: "rc", Existing: vs("1.4.0-rc.2")}, want: "2.0.0-rc.1"},
		{name: "promote rc", in: NextInput{LastStable: v("1.3.0"), LastAny: v("1.4.0-rc.2"), Bump: Minor}, want: "1.4.0"},
		{name: "promote only pre", in: NextInput{LastAny: v("1.0.0-rc.3"), Initial: v("0.1.0")}, want: "1.0.0"},
		{name: "maintenance patch", in: NextInput{LastStable: v("1.3.4"), Bump: Patch, Line: &Line{1, 3}}, want: "1.3.5"},
		{name: "maintenance caps feat", in: NextInput{LastStable: v("1.3.4"), Bump: Minor, Line: &Line{1, 3}}, want: "1.3.5", bump: Patch, reason: "capped to patch"},
		{name: "maintenance refuses --bump minor", in: NextInput{LastStable: v("1.3.4"), Forced: Minor, Line: &Line{1, 3}}, wantErr: "only patch"},
		{name: "maintenance refuses --version off line", in: NextInput{LastStable: v("1.3.4"), Version: v("1.4.0"), Line: &Line{1, 3}}, wantErr: "not on maintenance line"},
		{name: "maintenance first", in: NextInput{Bump: Patch, Line: &Line{1, 3}, Initial: v("0.1.0")}, want: "1.3.0"},
		{name: "maintenance rc", in: NextInput{LastStable: v("1.3.4"), Bump: Patch, Line: &Line{1, 3}, Pre: "rc"}, want: "1.3.5-rc.1"},
		{name: "already tagged", in: NextInput{LastStable: v("1.3.0"), Bump: Minor, Existing: vs("1.4.0")}, wantErr: "already tagged"},
		{name: "version with pre and --pre", in: NextInput{LastStable: v("1.3.0"), Version: v("1.4.0-rc.1"), Pre: "rc"}, wantErr: "already names a pre-release"},
	}
	for _, c := range cases {
		got, bump, reason, err := Next(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(errs.Format(err), c.wantErr) {
				t.Errorf("%s: error %v, want %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.String() != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		if c.bump != NoBump && bump != c.bump {
			t.Errorf("%s: bump %s, want %s", c.name, bump, c.bump)
		}
		if c.reason != "" && !strings.Contains(strings.Join(reason, "; "), c.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", c.name, reason, c.reason)
		}
	}
}

func TestSortTagsAndLine(t *testing.T) {
	refs := []TagRef{{"v1.2.0", "a"}, {"v1.10.0", "b"}, {"v1.3.0-rc.1", "c"}, {"1.9.0", "d"}, {"v1.3", "e"}, {"release-2024", "f"}, {"v1.3.1", "g"}, {"v01.2.3", "h"}}
	tags, ignored := SortTags(refs, "v", nil)
	var names []string
	for _, t := range tags {
		names = append(names, t.Name)
	}
	if got := strings.Join(names, " "); got != "v1.10.0 v1.3.1 v1.3.0-rc.1 v1.2.0" {
		t.Errorf("tags %q", got)
	}
	if got := strings.Join(ignored, " "); got != "1.9.0 v1.3 release-2024 v01.2.3" {
		t.Errorf("ignored %q", got)
	}
	tags, _ = SortTags(refs, "v", &Line{1, 3})
	if len(tags) != 2 || tags[0].Name != "v1.3.1" {
		t.Errorf("line 1.3: %v", tags)
	}

	for branch, want := range map[string]string{"release/1.3": "1.3.x", "release/2.0.x": "2.0.x", "main": "", "release/next": ""} {
		l, err := LineOf(branch, DefaultMaintenanceBranch)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if l != nil {
			got = l.String()
		}
		if got != want {
			t.Errorf("%s: line %q, want %q", branch, got, want)
		}
	}
	if _, err := LineOf("x", `^release/(\d+)$`); err == nil {
		t.Error("pattern without named groups accepted")
	}
	if _, err := ParseBump("huge"); err == nil {
		t.Error("bad --bump accepted")
	}
}
