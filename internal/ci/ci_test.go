package ci

import (
	"reflect"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		env  MapEnv
		want Context
	}{
		{
			name: "terminal: nothing set",
			env:  MapEnv{"HOME": "/home/dev", "TERM": "xterm"},
			want: Context{Provider: Terminal},
		},
		{
			name: "terminal: a stray CI=true is not a CI we know",
			env:  MapEnv{"CI": "true"},
			want: Context{Provider: Terminal},
		},
		{
			name: "gitlab: branch pipeline",
			env: MapEnv{
				"GITLAB_CI": "true", "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
				"CI_PROJECT_ID": "42", "CI_PROJECT_URL": "https://gitlab.example.com/os/appliance",
				"CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567", "CI_COMMIT_BRANCH": "staging",
				"CI_DEFAULT_BRANCH": "master", "CI_PIPELINE_SOURCE": "push",
				"CI_JOB_URL": "https://gitlab.example.com/os/appliance/-/jobs/7", "CI_JOB_NAME": "integration 2/4",
				"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "4",
				"CI_JOB_TOKEN": "job-token-value",
			},
			want: Context{
				Provider: GitLab, APIURL: "https://gitlab.example.com/api/v4", Project: "42",
				WebURL: "https://gitlab.example.com/os/appliance",
				SHA:    "0123456789abcdef0123456789abcdef01234567", Branch: "staging", DefaultBranch: "master",
				Source: "push", JobURL: "https://gitlab.example.com/os/appliance/-/jobs/7", JobName: "integration 2/4",
				NodeIndex: 2, NodeTotal: 4, JobToken: true,
			},
		},
		{
			name: "gitlab: merge request pipeline, api token present",
			env: MapEnv{
				"GITLAB_CI": "true", "CI_API_V4_URL": "https://gl/api/v4", "CI_PROJECT_ID": "9",
				"CI_COMMIT_SHA": "abc", "CI_MERGE_REQUEST_IID": "17",
				"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature/x", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "staging",
				"CI_PIPELINE_SOURCE": "merge_request_event",
				"CI_JOB_TOKEN":       "jt", "PIPELINE_TOKEN": "glpat-secret",
			},
			want: Context{
				Provider: GitLab, APIURL: "https://gl/api/v4", Project: "9", SHA: "abc",
				Branch: "feature/x", MergeRequest: 17, TargetBranch: "staging", Source: "merge_request_event",
			},
		},
		{
			name: "gitlab: scheduled pipeline on a tag-less default branch",
			env: MapEnv{
				"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "master", "CI_DEFAULT_BRANCH": "master",
				"CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_SHA": "def",
			},
			want: Context{Provider: GitLab, SHA: "def", Branch: "master", DefaultBranch: "master", Source: "schedule"},
		},
		{
			name: "gitlab: tag pipeline",
			env:  MapEnv{"GITLAB_CI": "true", "CI_COMMIT_TAG": "v1.4.0", "CI_COMMIT_SHA": "f00"},
			want: Context{Provider: GitLab, SHA: "f00", Tag: "v1.4.0"},
		},
		{
			name: "gitlab: detected from CI_API_V4_URL alone (gitlab-ci-local, custom executors)",
			env:  MapEnv{"CI_API_V4_URL": "https://gl/api/v4", "CI_NODE_INDEX": " 3 ", "CI_NODE_TOTAL": "x"},
			want: Context{Provider: GitLab, APIURL: "https://gl/api/v4", NodeIndex: 3},
		},
		{
			name: "jenkins: multibranch branch build",
			env: MapEnv{
				"JENKINS_URL": "https://ci.example.com/", "BRANCH_NAME": "staging", "GIT_COMMIT": "1234",
				"BUILD_URL": "https://ci.example.com/job/appliance/job/staging/5/", "JOB_NAME": "appliance/staging",
			},
			want: Context{Provider: Jenkins, SHA: "1234", Branch: "staging",
				JobURL: "https://ci.example.com/job/appliance/job/staging/5/", JobName: "appliance/staging"},
		},
		{
			name: "jenkins: change request",
			env: MapEnv{
				"JENKINS_URL": "https://ci/", "BRANCH_NAME": "PR-12", "CHANGE_ID": "12",
				"CHANGE_BRANCH": "fix/boot", "CHANGE_TARGET": "staging", "GIT_COMMIT": "5678",
			},
			want: Context{Provider: Jenkins, SHA: "5678", Branch: "fix/boot", MergeRequest: 12, TargetBranch: "staging"},
		},
		{
			name: "jenkins: plain pipeline job has only GIT_BRANCH",
			env:  MapEnv{"JENKINS_URL": "https://ci/", "GIT_BRANCH": "origin/master", "GIT_COMMIT": "9"},
			want: Context{Provider: Jenkins, SHA: "9", Branch: "master"},
		},
		{
			name: "github: push",
			env: MapEnv{
				"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "os/appliance", "GITHUB_SERVER_URL": "https://github.com/",
				"GITHUB_SHA": "aaa", "GITHUB_REF": "refs/heads/staging", "GITHUB_EVENT_NAME": "push",
				"GITHUB_RUN_ID": "99", "GITHUB_JOB": "build",
			},
			want: Context{Provider: GitHub, APIURL: "https://api.github.com", Project: "os/appliance",
				WebURL: "https://github.com/os/appliance", SHA: "aaa", Branch: "staging", Source: "push",
				JobURL: "https://github.com/os/appliance/actions/runs/99", JobName: "build"},
		},
		{
			name: "github: pull request on GitHub Enterprise",
			env: MapEnv{
				"GITHUB_ACTIONS": "true", "GITHUB_API_URL": "https://ghe.example.com/api/v3",
				"GITHUB_REPOSITORY": "os/appliance", "GITHUB_SHA": "bbb", "GITHUB_REF": "refs/pull/31/merge",
				"GITHUB_HEAD_REF": "feature/y", "GITHUB_BASE_REF": "staging", "GITHUB_EVENT_NAME": "pull_request",
			},
			want: Context{Provider: GitHub, APIURL: "https://ghe.example.com/api/v3", Project: "os/appliance",
				SHA: "bbb", Branch: "feature/y", MergeRequest: 31, TargetBranch: "staging", Source: "pull_request"},
		},
		{
			name: "github: tag",
			env:  MapEnv{"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v2.0.0", "GITHUB_SHA": "ccc"},
			want: Context{Provider: GitHub, APIURL: "https://api.github.com", SHA: "ccc", Tag: "v2.0.0"},
		},
		{
			name: "gitlab wins when a runner also exports Jenkins variables",
			env:  MapEnv{"GITLAB_CI": "true", "JENKINS_URL": "https://ci/", "CI_COMMIT_SHA": "x1"},
			want: Context{Provider: GitLab, SHA: "x1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tt.env)
			if got.Env == nil {
				t.Fatal("Context.Env is nil: stages need it to look up their secrets")
			}
			got.Env = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Detect:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.IsCI() != (tt.want.Provider != Terminal) {
				t.Errorf("IsCI() = %v for %s", got.IsCI(), got.Provider)
			}
		})
	}
}

func TestShortSHA(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "abc", "0123456789abcdef": "01234567"} {
		if got := (Context{SHA: in}).ShortSHA(); got != want {
			t.Errorf("ShortSHA(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOSEnvReadsTheProcess(t *testing.T) {
	t.Setenv("PIPELINE_CI_TEST_VAR", "here")
	if v, ok := OS.Lookup("PIPELINE_CI_TEST_VAR"); !ok || v != "here" {
		t.Fatalf("OS.Lookup = %q, %v", v, ok)
	}
	if Get(OS, "PIPELINE_CI_TEST_UNSET_VAR") != "" {
		t.Fatal("Get of an unset variable is not empty")
	}
}
