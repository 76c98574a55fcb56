package handoff_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

const sha = "0123456789abcdef0123456789abcdef01234567"

func sampleBuild() *handoff.Build {
	return &handoff.Build{ID: "1.1.0-3.gabc", Commit: sha, Metapackage: "appliance", Version: "1.1.0+3.gabc",
		TagPrefix: "v", Lock: "dist.lock", Dir: ".pipeline/build", Store: "file:///s/builds/1.1.0-3.gabc",
		Manifest: "file:///s/builds/1.1.0-3.gabc/manifest.json", APTURL: "file:///s/builds/1.1.0-3.gabc/apt",
		APTSuite: "stable", APTSource: "deb [trusted=yes] file:///s/builds/1.1.0-3.gabc/apt stable main"}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	when := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	values := []handoff.Value{
		sampleBuild(),
		&handoff.Template{Box: "appliance/dev", Key: "k1", Version: "3", Commit: sha, Image: "file:///s/t.qcow2"},
		&handoff.Verdict{Stage: "integration", Commit: sha, Outcome: handoff.OutcomeFailed, Summary: "1 failed", Passed: 3, Failed: 1, Time: when, Shard: "2/3"},
	}
	for _, v := range values {
		p, err := handoff.Save(dir, v)
		if err != nil {
			t.Fatal(err)
		}
		if p != filepath.Join(dir, "handoff", v.Name()+".json") {
			t.Errorf("%s saved at %s", v.Name(), p)
		}
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(handoff.Value)
		if v, ok := v.(*handoff.Verdict); ok {
			// A verdict's file name comes from its stage and shard.
			got.(*handoff.Verdict).Stage, got.(*handoff.Verdict).Shard = v.Stage, v.Shard
		}
		found, err := handoff.Load(dir, got)
		if err != nil || !found {
			t.Fatalf("load %s: found=%v %v", v.Name(), found, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("load %s:\n got %+v\nwant %+v", v.Name(), got, v)
		}
	}
	if found, err := handoff.Load(t.TempDir(), &handoff.Build{}); found || err != nil {
		t.Errorf("empty report dir: found=%v err=%v", found, err)
	}
	os.WriteFile(handoff.File(dir, "build"), []byte("{not json"), 0o644)
	if _, err := handoff.Load(dir, &handoff.Build{}); err == nil || !strings.Contains(errs.Format(err), "run the build stage again") {
		t.Errorf("damaged hand-off: %v", err)
	}
}

func TestKeys(t *testing.T) {
	b := sampleBuild()
	if got, want := b.Keys(), []string{"builds/1.1.0-3.gabc/handoff.json", "commits/" + sha + "/build.json"}; !reflect.DeepEqual(got, want) {
		t.Errorf("build keys %v, want %v", got, want)
	}
	v := &handoff.Verdict{Stage: "integration", Commit: sha}
	if got := v.Keys(); !reflect.DeepEqual(got, []string{"verdicts/" + sha + "/integration.json"}) {
		t.Errorf("verdict keys %v", got)
	}
	v.Shard = "2/3"
	if got := v.Keys(); !reflect.DeepEqual(got, []string{"verdicts/" + sha + "/integration-shard-2-of-3.json"}) {
		t.Errorf("shard verdict keys %v", got)
	}
	if handoff.BuildID("1.1.0+3.gabc/x") != "1.1.0-3.gabc-x" {
		t.Errorf("BuildID %q", handoff.BuildID("1.1.0+3.gabc/x"))
	}
}

func TestDotenv(t *testing.T) {
	b := sampleBuild()
	got := b.Dotenv()
	want := map[string]string{
		"PIPELINE_METAPACKAGE": "appliance=1.1.0+3.gabc", "PIPELINE_METAPACKAGE_NAME": "appliance",
		"PIPELINE_METAPACKAGE_VERSION": "1.1.0+3.gabc", "PIPELINE_BUILD_ID": "1.1.0-3.gabc", "PIPELINE_BUILD_COMMIT": sha,
		"PIPELINE_REPO_URL": b.APTURL, "PIPELINE_APT_SUITE": "stable", "PIPELINE_APT_SOURCE": b.APTSource,
		"PIPELINE_MANIFEST_URL": b.Manifest,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("build dotenv\n got %v\nwant %v", got, want)
	}
	// YUM only: the repo URL is the YUM one.
	y := &handoff.Build{ID: "1", Version: "1", Metapackage: "m", YUMURL: "file:///y"}
	if y.Dotenv()["PIPELINE_REPO_URL"] != "file:///y" {
		t.Errorf("yum-only repo url: %v", y.Dotenv())
	}
	tp := &handoff.Template{Key: "k", Image: "i", Catalog: "c", Version: "2"}
	if got := tp.Dotenv(); !reflect.DeepEqual(got, map[string]string{"PIPELINE_TEMPLATE_KEY": "k", "PIPELINE_TEMPLATE_URL": "i",
		"PIPELINE_TEMPLATE_CATALOG_URL": "c", "PIPELINE_TEMPLATE_VERSION": "2"}) {
		t.Errorf("template dotenv %v", got)
	}
	v := &handoff.Verdict{Stage: "integration", Passed: 4, Failed: 1}
	if got := v.Dotenv(); !reflect.DeepEqual(got, map[string]string{"PIPELINE_INTEGRATION_PASSED": "4", "PIPELINE_INTEGRATION_FAILED": "1"}) {
		t.Errorf("verdict dotenv %v", got)
	}
}

// The README documents the variables by name: every name a hand-off
// renders must be there, so the docs and the dotenv report never drift.
func TestDotenvNamesDocumented(t *testing.T) {
	var docs []byte
	for _, f := range []string{"../../docs/build.md", "../../docs/template.md", "../../docs/integration.md", "../../docs/cli.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b...)
	}
	all := map[string]string{}
	full := sampleBuild()
	full.APTKeyURL, full.YUMURL, full.LockURL = "k", "y", "l"
	for _, v := range []handoff.Value{full, &handoff.Template{Key: "k", Image: "i", Manifest: "m", Catalog: "c"}, &handoff.Verdict{Stage: "integration"}} {
		for k := range v.Dotenv() {
			all[k] = v.Name()
		}
	}
	for k, stage := range all {
		if !bytes.Contains(docs, []byte(k)) {
			t.Errorf("%s (the %s hand-off) is not documented in docs/", k, stage)
		}
	}
}

func fileStore(t *testing.T) artifacts.Store {
	st, err := artifacts.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func minioStore(t *testing.T) artifacts.Store {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	st, err := artifacts.Open(context.Background(), "s3://"+bucket+"/ci", artifacts.Settings{
		S3:  config.S3{Endpoint: srv.Endpoint, Insecure: true},
		Env: ci.MapEnv{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStoreFile(t *testing.T)  { testStore(t, fileStore(t)) }
func TestStoreMinIO(t *testing.T) { testStore(t, minioStore(t)) }

// A job with only the commit sha and the store finds the build: published
// by one job, looked up by another with an empty report dir; a stale
// report dir (another commit) is passed over for the store.
func testStore(t *testing.T, st artifacts.Store) {
	ctx := context.Background()
	b := sampleBuild()
	objs, err := handoff.Publish(ctx, st, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("published %d objects, want the hand-off and the commit pointer", len(objs))
	}
	open := func(context.Context) (artifacts.Store, error) { return st, nil }

	got, from, err := handoff.Sources{ReportDir: t.TempDir(), Commit: sha, Store: open}.Build(ctx)
	if err != nil || from != handoff.FromStore || !reflect.DeepEqual(got, b) {
		t.Fatalf("from the store: %+v from %q, %v", got, from, err)
	}

	stale := t.TempDir()
	old := sampleBuild()
	old.Commit, old.Version, old.APTKeyURL = "feedface", "0.9.0", "file:///stale.key"
	handoff.Save(stale, old)
	got, from, err = handoff.Sources{ReportDir: stale, Commit: sha, Store: open}.Build(ctx)
	if err != nil || from != handoff.FromStore || !reflect.DeepEqual(got, b) {
		t.Fatalf("stale report dir: %+v from %q, %v", got, from, err)
	}

	fresh := t.TempDir()
	mine := sampleBuild()
	mine.Dir = "elsewhere"
	handoff.Save(fresh, mine)
	got, from, err = handoff.Sources{ReportDir: fresh, Commit: sha, Store: open}.Build(ctx)
	if err != nil || from != handoff.FromReportDir || got.Dir != "elsewhere" {
		t.Fatalf("report dir first: %+v from %q, %v", got, from, err)
	}

	inProc := &handoff.Set{Build: &handoff.Build{Version: "in-process"}}
	got, from, _ = handoff.Sources{InProcess: inProc, ReportDir: fresh, Commit: sha, Store: open}.Build(ctx)
	if from != handoff.FromProcess || got.Version != "in-process" {
		t.Fatalf("in process first: %+v from %q", got, from)
	}

	got, from, err = handoff.Sources{ReportDir: t.TempDir(), Commit: "9999999999999999999999999999999999999999", Store: open}.Build(ctx)
	if got != nil || from != "" || err != nil {
		t.Fatalf("no build of that commit: %+v from %q, %v", got, from, err)
	}

	// The verdict is where `pipeline serve` reads it.
	v := &handoff.Verdict{Stage: "integration", Commit: sha, Outcome: handoff.OutcomePassed, Passed: 2, Time: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	if _, err := handoff.Publish(ctx, st, v); err != nil {
		t.Fatal(err)
	}
	var back handoff.Verdict
	if ok, err := handoff.Fetch(ctx, st, "verdicts/"+sha+"/integration.json", &back); !ok || err != nil || back != *v {
		t.Fatalf("verdict: %+v %v %v", back, ok, err)
	}

	testDownload(t, st)
}

// Download fetches a published build by its manifest, checks every file's
// sha256, keeps what is already there, and refuses a damaged copy.
func testDownload(t *testing.T, st artifacts.Store) {
	ctx := context.Background()
	src := t.TempDir()
	files := map[string]string{
		"apt/dists/stable/Release":        "Suite: stable\n",
		"apt/pool/main/a/a_1.0.0_all.deb": strings.Repeat("deb", 1000),
		"yum/repodata/repomd.xml":         "<repomd/>",
		"dist.lock":                       "a 1.0.0\n",
	}
	for rel, body := range files {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	prefix := handoff.BuildPrefix("1.0.0")
	objs, err := artifacts.PublishDir(ctx, st, prefix, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := artifacts.WriteManifest(ctx, st, prefix, artifacts.Manifest{Build: "1.0.0", Version: "1.0.0", Objects: objs}); err != nil {
		t.Fatal(err)
	}
	prod, err := handoff.FindProduction(ctx, st, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handoff.FindProduction(ctx, st, "0.9.0"); !errors.Is(err, handoff.ErrNoBuild) || !strings.Contains(errs.Format(err), "0.9.0") {
		t.Errorf("no such build: %v", err)
	}

	dest := filepath.Join(t.TempDir(), "prod")
	fetched, kept, err := handoff.Download(ctx, st, prod.Manifest, prod.Prefix, []string{"apt", "yum"}, dest)
	if err != nil || fetched != 3 || kept != 0 {
		t.Fatalf("download: %d fetched, %d kept, %v", fetched, kept, err)
	}
	for rel, body := range files {
		got, err := os.ReadFile(filepath.Join(dest, rel))
		if rel == "dist.lock" {
			if err == nil {
				t.Errorf("dist.lock is not below apt/ or yum/ but was downloaded")
			}
			continue
		}
		if string(got) != body {
			t.Errorf("%s: %q, want %q (%v)", rel, got, body, err)
		}
	}
	fetched, kept, err = handoff.Download(ctx, st, prod.Manifest, prod.Prefix, []string{"apt", "yum"}, dest)
	if err != nil || fetched != 0 || kept != 3 {
		t.Fatalf("download again: %d fetched, %d kept, %v", fetched, kept, err)
	}

	// The store's copy is damaged: refused, and the old dest stays whole.
	bad := "apt/dists/stable/Release"
	if _, err := st.Put(ctx, prefix+"/"+bad, strings.NewReader("Suite: evil\n"), 12); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dest, bad)) // so it is not kept from disk
	_, _, err = handoff.Download(ctx, st, prod.Manifest, prod.Prefix, []string{"apt"}, dest)
	if err == nil || !strings.Contains(errs.Format(err), "sha256") || !strings.Contains(errs.Format(err), "damaged") {
		t.Fatalf("damaged object: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dest, "yum/repodata/repomd.xml")); err != nil {
		t.Errorf("a failed download changed the old copy: %v", err)
	}
}

func TestLastRelease(t *testing.T) {
	tags := []string{"v1.0.0", "v1.2.0", "v1.10.0", "v2.0.0-rc.1", "x1.9.0", "v1.3", "v1.4.0", "vnext", ""}
	for _, tc := range []struct {
		underTest, want string
		ok              bool
	}{
		{"", "1.10.0", true},
		{"1.10.0+3.gabc", "1.10.0", true}, // a snapshot three commits after v1.10.0
		{"1.10.0", "1.4.0", true},         // a release build is not its own production
		{"1.11.0+1.gabc", "1.10.0", true},
		{"2.0.0", "1.10.0", true},
		{"1.0.0", "", false},
		{"not-semver", "1.10.0", true},
	} {
		got, tag, ok := handoff.LastRelease(tags, "v", tc.underTest)
		if got != tc.want || ok != tc.ok || (ok && tag != "v"+got) {
			t.Errorf("LastRelease(under test %q) = %q %q %v, want %q %v", tc.underTest, got, tag, ok, tc.want, tc.ok)
		}
	}
}
