package artifacts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

func TestMain(m *testing.M) {
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

func randomFile(t *testing.T, size int) (string, string) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return p, hex.EncodeToString(s[:])
}

func s3Settings(srv *miniotest.Server, access, secret string) artifacts.Settings {
	return artifacts.Settings{
		S3:  config.S3{Endpoint: srv.Endpoint, Insecure: true, AccessKeyEnv: "APPLIANCE_S3_KEY", SecretKeyEnv: "APPLIANCE_S3_SECRET"},
		Env: ci.MapEnv{"APPLIANCE_S3_KEY": access, "APPLIANCE_S3_SECRET": secret},
	}
}

// Every store: what is put is what Stat, Get and List return.
func testStoreRoundTrip(t *testing.T, st artifacts.Store) {
	ctx := context.Background()
	p, sum := randomFile(t, 300_000)
	obj, err := st.PutFile(ctx, "builds/1.0.0/pool/a_1.0_all.deb", p)
	if err != nil {
		t.Fatal(err)
	}
	if obj.SHA256 != sum || obj.Size != 300_000 {
		t.Errorf("PutFile returned %+v, want sha256 %s", obj, sum)
	}
	got, err := st.Stat(ctx, "builds/1.0.0/pool/a_1.0_all.deb")
	if err != nil || got.SHA256 != sum || got.Size != 300_000 {
		t.Errorf("Stat: %+v %v", got, err)
	}
	var buf bytes.Buffer
	if err := st.Get(ctx, "builds/1.0.0/pool/a_1.0_all.deb", &buf); err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(buf.Bytes()); hex.EncodeToString(s[:]) != sum {
		t.Error("Get returned other bytes")
	}
	if _, err := st.Put(ctx, "builds/1.0.0/manifest.json", strings.NewReader("{}\n"), 3); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx, "builds/1.0.0/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "builds/1.0.0/manifest.json" || list[1].SHA256 != sum {
		t.Errorf("List: %+v", list)
	}
	if _, err := st.Stat(ctx, "builds/none"); !errors.Is(err, artifacts.ErrNotExist) {
		t.Errorf("Stat of a missing key: %v", err)
	}
	if err := st.Delete(ctx, "builds/1.0.0/manifest.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "builds/1.0.0/manifest.json"); !errors.Is(err, artifacts.ErrNotExist) {
		t.Errorf("after Delete: %v", err)
	}
}

func TestFileStore(t *testing.T) {
	dir := t.TempDir()
	st, err := artifacts.Open(context.Background(), "file://store", artifacts.Settings{Base: dir})
	if err != nil {
		t.Fatal(err)
	}
	if u := st.URL("a/b"); u != "file://"+dir+"/store/a/b" {
		t.Errorf("URL %s", u)
	}
	testStoreRoundTrip(t, st)
	// No temporary file is left beside the objects.
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if strings.Contains(filepath.Base(p), ".incoming-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	if _, err := st.PutFile(context.Background(), "../escape", "/etc/hostname"); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
			t.Error("a key with .. escaped the store")
		}
	}
}

func TestS3Store(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	st, err := artifacts.Open(context.Background(), "s3://"+bucket+"/ci", s3Settings(srv, srv.AccessKey, srv.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	if u := st.URL("builds/1.0.0+1.gabc/x.deb"); u != "http://"+srv.Endpoint+"/"+bucket+"/ci/builds/1.0.0+1.gabc/x.deb" {
		t.Errorf("URL %s", u)
	}
	testStoreRoundTrip(t, st)
	for _, k := range srv.Keys(t, bucket) {
		if strings.Contains(k, ".incoming/") {
			t.Errorf("temporary object left: %s", k)
		}
	}
}

// A file larger than a part goes up in parts, and the server's checksum of
// the parts is checked against ours.
func TestS3MultipartVerified(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	store, err := artifacts.Open(context.Background(), "s3://"+bucket, s3Settings(srv, srv.AccessKey, srv.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	st := store.(*artifacts.S3Store)
	st.PartSize = 5 << 20 // S3's minimum
	p, sum := randomFile(t, 11<<20)
	parts := &countingTransport{}
	st2, err := artifacts.NewS3Store(context.Background(), bucket, "", artifacts.S3Options{Endpoint: srv.Endpoint, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Transport: parts})
	if err != nil {
		t.Fatal(err)
	}
	st2.PartSize = 5 << 20
	obj, err := st2.PutFile(context.Background(), "image.qcow2", p)
	if err != nil {
		t.Fatal(err)
	}
	if obj.SHA256 != sum || obj.Size != 11<<20 {
		t.Errorf("object %+v", obj)
	}
	if n := parts.parts.Load(); n != 3 {
		t.Errorf("%d parts uploaded, want 3 (11 MiB in 5 MiB parts)", n)
	}
	var buf bytes.Buffer
	if err := st.Get(context.Background(), "image.qcow2", &buf); err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(buf.Bytes()); hex.EncodeToString(s[:]) != sum {
		t.Error("the multipart object's bytes differ")
	}
}

// countingTransport counts multipart part uploads and can fail requests.
type countingTransport struct {
	parts atomic.Int64
	// fail, when set, decides to fail a request (returning its error).
	fail func(r *http.Request) error
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" && r.Header.Get("X-Amz-Copy-Source") == "" {
		c.parts.Add(1)
	}
	if c.fail != nil {
		if err := c.fail(r); err != nil {
			return nil, err
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// An upload interrupted half-way (the connection drops during the second
// part, every retry too; or the copy to the final key fails) leaves
// nothing under the final key, and no temporary object either.
func TestS3InterruptedUploadLeavesNothing(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	p, _ := randomFile(t, 11<<20)
	for name, fail := range map[string]func(r *http.Request) error{
		"second part": func(r *http.Request) error {
			if r.URL.Query().Get("partNumber") == "2" {
				return errors.New("connection reset by test")
			}
			return nil
		},
		"copy to final key": func(r *http.Request) error {
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return errors.New("connection reset by test")
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			tr := &countingTransport{fail: fail}
			st, err := artifacts.NewS3Store(context.Background(), bucket, "ci", artifacts.S3Options{Endpoint: srv.Endpoint, Insecure: true,
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Transport: tr, MaxRetries: 1})
			if err != nil {
				t.Fatal(err)
			}
			st.PartSize, st.Attempts = 5<<20, 2
			_, err = st.PutFile(context.Background(), "builds/1/big.img", p)
			if err == nil {
				t.Fatal("the interrupted upload succeeded")
			}
			if errs.Code(err) != 3 {
				t.Errorf("exit code %d, want 3 (infrastructure): %v", errs.Code(err), err)
			}
			if _, err := st.Stat(context.Background(), "builds/1/big.img"); !errors.Is(err, artifacts.ErrNotExist) {
				t.Errorf("something is under the final key: %v", err)
			}
			if keys := srv.Keys(t, bucket); len(keys) != 0 {
				t.Errorf("objects left in the bucket: %v", keys)
			}
		})
	}
}

// Refused credentials are a configuration error that names the variables
// to check and never shows the secret; an endpoint that does not answer is
// an infrastructure error (exit 3).
func TestS3Errors(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	_, err := artifacts.Open(context.Background(), "s3://"+bucket, s3Settings(srv, srv.AccessKey, "wrong-secret-value"))
	if errs.Code(err) != 2 {
		t.Fatalf("bad secret: exit %d, want 2: %v", errs.Code(err), err)
	}
	msg := errs.Format(err)
	for _, want := range []string{"refused the credentials", "APPLIANCE_S3_KEY", "APPLIANCE_S3_SECRET", "hint:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "wrong-secret-value") {
		t.Error("the error shows the secret")
	}

	_, err = artifacts.Open(context.Background(), "s3://no-such-bucket", s3Settings(srv, srv.AccessKey, srv.SecretKey))
	if errs.Code(err) != 2 || !strings.Contains(errs.Format(err), "bucket does not exist") {
		t.Errorf("missing bucket: exit %d: %v", errs.Code(err), err)
	}

	_, err = artifacts.Open(context.Background(), "s3://"+bucket, artifacts.Settings{S3: config.S3{Endpoint: srv.Endpoint, Insecure: true}, Env: ci.MapEnv{}})
	if errs.Code(err) != 2 || !strings.Contains(errs.Format(err), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: exit %d: %v", errs.Code(err), err)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	s := s3Settings(srv, srv.AccessKey, srv.SecretKey)
	s.S3.Endpoint = closed
	_, err = artifacts.Open(context.Background(), "s3://"+bucket, s)
	if errs.Code(err) != 3 || !strings.Contains(errs.Format(err), closed) {
		t.Errorf("unreachable endpoint: exit %d, want 3: %v", errs.Code(err), err)
	}
}

// Publishing a directory twice sends nothing the second time.
func TestPublishDirSkipsWhatIsThere(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	st, err := artifacts.Open(context.Background(), "s3://"+bucket+"/ci", s3Settings(srv, srv.AccessKey, srv.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "apt/dists/stable"), 0o755)
	os.WriteFile(filepath.Join(dir, "apt/dists/stable/Release"), []byte("Suite: stable\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dist.lock"), []byte("{}\n"), 0o644)
	count := func() (sent, reused int) {
		objs, err := artifacts.PublishDir(context.Background(), st, "builds/1", dir, func(o artifacts.Object, was bool) {
			if was {
				reused++
			} else {
				sent++
			}
		})
		if err != nil || len(objs) != 2 {
			t.Fatalf("publish: %v %+v", err, objs)
		}
		return
	}
	if s, r := count(); s != 2 || r != 0 {
		t.Errorf("first publish: %d sent %d reused", s, r)
	}
	if s, r := count(); s != 0 || r != 2 {
		t.Errorf("second publish: %d sent %d reused, want all reused", s, r)
	}
	m, err := artifacts.WriteManifest(context.Background(), st, "builds/1", artifacts.Manifest{Build: "1"})
	if err != nil || m.Key != "builds/1/manifest.json" {
		t.Errorf("manifest: %+v %v", m, err)
	}
}

// A connection that drops once is retried, and the upload ends verified.
func TestS3RetriesATransientFailure(t *testing.T) {
	srv := miniotest.Start(t)
	bucket := srv.Bucket(t)
	var failed atomic.Int64
	tr := &countingTransport{fail: func(r *http.Request) error {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, ".incoming/") && failed.Add(1) == 1 {
			return errors.New("connection reset by test")
		}
		return nil
	}}
	st, err := artifacts.NewS3Store(context.Background(), bucket, "", artifacts.S3Options{Endpoint: srv.Endpoint, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Transport: tr, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, sum := randomFile(t, 100_000)
	obj, err := st.PutFile(context.Background(), "x.deb", p)
	if err != nil || obj.SHA256 != sum {
		t.Fatalf("after one dropped connection: %+v %v", obj, err)
	}
	if failed.Load() < 2 {
		t.Error("the failure was not injected")
	}
	if keys := srv.Keys(t, bucket); len(keys) != 1 || keys[0] != "x.deb" {
		t.Errorf("bucket holds %v, want only x.deb", keys)
	}
}

// Under umask 077 the store's directories and files are still readable by
// everyone (apt's _apt user, a web server), and Copy gives a verified
// copy; on S3, Copy is server-side and keeps the sha256.
func TestReadableWhateverTheUmaskAndCopy(t *testing.T) {
	old := syscall.Umask(0o077)
	dir := filepath.Join(t.TempDir(), "store")
	st, err := artifacts.NewFileStore(dir)
	if err == nil {
		_, err = st.Put(context.Background(), "builds/1.0/apt/pool/x.deb", strings.NewReader("package"), 7)
	}
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		want := os.FileMode(0o444)
		if info.IsDir() {
			want = 0o555
		}
		if info.Mode().Perm()&want != want {
			t.Errorf("%s: mode %s under umask 077", p, info.Mode().Perm())
		}
		return nil
	})

	srv := miniotest.Start(t)
	s3, err := artifacts.NewS3Store(context.Background(), srv.Bucket(t), "ci", artifacts.S3Options{
		Endpoint: srv.Endpoint, Insecure: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	for _, store := range []artifacts.Store{st, s3} {
		src, err := store.Put(context.Background(), "staging/a", strings.NewReader("bytes"), 5)
		if err != nil {
			t.Fatal(err)
		}
		got, err := artifacts.Copy(context.Background(), store, "staging/a", "builds/a")
		if err != nil || got.SHA256 != src.SHA256 || got.Key != "builds/a" {
			t.Errorf("%T: Copy = %+v, %v; source sha256 %s", store, got, err, src.SHA256)
		}
		if o, err := store.Stat(context.Background(), "builds/a"); err != nil || o.SHA256 != src.SHA256 {
			t.Errorf("%T: the copy: %+v %v", store, o, err)
		}
		if _, err := artifacts.Copy(context.Background(), store, "staging/missing", "builds/b"); !errors.Is(err, artifacts.ErrNotExist) {
			t.Errorf("%T: Copy of a missing key: %v, want ErrNotExist", store, err)
		}
	}
}
