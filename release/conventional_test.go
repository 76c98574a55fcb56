package release

import (
	"reflect"
	"testing"
)

func TestParseConventional(t *testing.T) {
	cases := []struct {
		msg      string
		ok       bool
		typ      string
		scope    string
		breaking bool
		desc     string
		kind     Kind
		closes   []int
	}{
		{"feat: add login", true, "feat", "", false, "add login", Feature, nil},
		{" feat: leading blank", true, "feat", "", false, "leading blank", Feature, nil},
		{"feat(api): add login", true, "feat", "api", false, "add login", Feature, nil},
		{"Fix(api)!: drop v1", true, "fix", "api", true, "drop v1", Breaking, nil},
		{"fix: crash\n\nBREAKING CHANGE: config moved", true, "fix", "", true, "crash", Breaking, nil},
		{"chore: deps\n\nBREAKING-CHANGE: go 1.26", true, "chore", "", true, "deps", Breaking, nil},
		{"perf: faster walk", true, "perf", "", false, "faster walk", Performance, nil},
		{"docs: typo", true, "docs", "", false, "typo", Other, nil},
		{"Update README", false, "", "", false, "Update README", Other, nil},
		{"feat:no space", false, "", "", false, "feat:no space", Other, nil},
		{"feat(): empty scope", true, "feat", "", false, "empty scope", Feature, nil},
		{"fix: ünïcode ✨ 日本", true, "fix", "", false, "ünïcode ✨ 日本", Fix, nil},
		{"fix: a\r\n\r\nCloses #12, #13\nfixes #7", true, "fix", "", false, "a", Fix, []int{12, 13, 7}},
		{"fix: a\n\nSee #5 for context", true, "fix", "", false, "a", Fix, nil},
		{"", false, "", "", false, "", Other, nil},
	}
	for _, c := range cases {
		got := ParseConventional(c.msg)
		if got.OK != c.ok || got.Type != c.typ || got.Scope != c.scope || got.Breaking != c.breaking || got.Description != c.desc || got.Kind() != c.kind {
			t.Errorf("%q: got %+v kind %s", c.msg, got, got.Kind())
		}
		if !reflect.DeepEqual(got.Closes, c.closes) {
			t.Errorf("%q: closes %v, want %v", c.msg, got.Closes, c.closes)
		}
	}
}

func TestMergeRequestNumber(t *testing.T) {
	for msg, want := range map[string]int{
		"Merge branch 'f' into 'main'\n\nfeat: x\n\nSee merge request grp/proj!42": 42,
		"Merge pull request #7 from org/branch\n\nfeat: y":                         7,
		"feat: squashed (#19)": 19,
		"feat: plain":          0,
		"fix: see !3 in text":  0,
	} {
		if got := MergeRequestNumber(msg); got != want {
			t.Errorf("%q: %d, want %d", msg, got, want)
		}
	}
}

func FuzzParseConventional(f *testing.F) {
	f.Add("feat(x)!: y\n\nBREAKING CHANGE: z\nCloses #1")
	f.Fuzz(func(t *testing.T, msg string) {
		c := ParseConventional(msg)
		if c.OK && c.Type == "" {
			t.Fatalf("%q: OK without a type", msg)
		}
		_ = MergeRequestNumber(msg)
	})
}
