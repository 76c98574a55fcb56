package build_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

// A build published to S3 (a real MinIO): every file verified there with
// its sha256, a manifest listing them, URLs that apt-get can install the
// locked set from over HTTP, and a re-run that uploads nothing new.
func TestPublishToS3(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	// The repository is read anonymously, as a team's package mirror is.
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
	if err := srv.Client.SetBucketPolicy(context.Background(), bucket, policy); err != nil {
		t.Fatal(err)
	}
	store := &config.Artifacts{URL: "s3://" + bucket + "/ci", S3: config.S3{Endpoint: srv.Endpoint, Insecure: true,
		AccessKeyEnv: "APPLIANCE_S3_KEY", SecretKeyEnv: "APPLIANCE_S3_SECRET"}}
	creds := map[string]string{"APPLIANCE_S3_KEY": srv.AccessKey, "APPLIANCE_S3_SECRET": srv.SecretKey}
	ex := buildtest.BuildExample(t, buildtest.Options{Artifacts: store, Env: creds})
	out := ex.Out

	base := "http://" + srv.Endpoint + "/" + bucket + "/ci/builds/1.0.0"
	if out.Store != base || out.APT.URL != base+"/apt" || out.YUM.URL != base+"/yum" {
		t.Errorf("URLs: store %s apt %s yum %s", out.Store, out.APT.URL, out.YUM.URL)
	}
	// Every local file is in the bucket with the same sha256, and the
	// manifest says so.
	st, err := artifacts.Open(context.Background(), store.URL, artifacts.Settings{S3: store.S3, Env: ci.MapEnv(creds)})
	if err != nil {
		t.Fatal(err)
	}
	var m artifacts.Manifest
	var buf strings.Builder
	if err := st.Get(context.Background(), "builds/1.0.0/manifest.json", &buf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(buf.String()), &m); err != nil {
		t.Fatal(err)
	}
	local := snapshot(t, out)
	if len(m.Objects) != len(local) {
		t.Errorf("manifest lists %d objects, the build has %d files", len(m.Objects), len(local))
	}
	for _, o := range m.Objects {
		rel := strings.TrimPrefix(o.Key, "builds/1.0.0/")
		if local[filepath.FromSlash(rel)] != o.SHA256 {
			t.Errorf("%s: manifest sha256 %s, local %s", o.Key, o.SHA256, local[rel])
		}
		got, err := st.Stat(context.Background(), o.Key)
		if err != nil || got.SHA256 != o.SHA256 || got.Size != o.Size {
			t.Errorf("%s in the bucket: %+v %v", o.Key, got, err)
		}
	}
	for _, k := range srv.Keys(t, bucket) {
		if strings.Contains(k, ".incoming/") {
			t.Errorf("temporary object left: %s", k)
		}
	}

	// apt-get, over HTTP from the bucket, resolves exactly the locked set.
	apt := newAptRoot(t, []string{"deb [trusted=yes] " + out.APT.URL + " " + out.APT.Suite + " " + out.APT.Component}, "")
	if o, err := apt.run("update"); err != nil {
		t.Fatalf("apt-get update from MinIO: %v\n%s", err, o)
	}
	o, err := apt.run("install", "-s", "-y", out.Metapackage)
	if got, want := installs(o), lockedDebs(out); err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("apt from S3 would install:\n%s\nwant:\n%s\n%v %s", strings.Join(got, "\n"), strings.Join(want, "\n"), err, o)
	}

	// The same build again: nothing is uploaded twice.
	again := ex.Rebuild(t, "", buildtest.Options{Artifacts: store, Env: creds})
	if out.Uploaded != len(m.Objects) || again.Out.Uploaded != 0 || again.Out.Reused != len(m.Objects) {
		t.Errorf("first run uploaded %d; re-run uploaded %d and reused %d of %d", out.Uploaded, again.Out.Uploaded, again.Out.Reused, len(m.Objects))
	}
	// Its components came from the component cache in the bucket, as
	// another runner's would.
	for _, c := range again.Out.Components {
		if !c.Reused {
			t.Errorf("re-run: component %s built again, not taken from the cache in the bucket", c.Name)
		}
	}
	if keys := strings.Join(srv.Keys(t, bucket), "\n"); !strings.Contains(keys, "ci/components/appliance-agent/") || strings.Contains(keys, "ci/staging/") {
		t.Errorf("bucket: want ci/components/…, no ci/staging/ left:\n%s", keys)
	}
}
