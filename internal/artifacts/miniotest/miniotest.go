// Package miniotest starts a real MinIO server for tests: one per test
// binary, on 127.0.0.1 with a free port and a temporary directory, stopped
// by Stop (call it from TestMain after m.Run).
//
//	func TestMain(m *testing.M) { code := m.Run(); miniotest.Stop(); os.Exit(code) }
//	srv := miniotest.Start(t)            // skips (or fails under CI) when minio is missing
//	bucket := srv.Bucket(t)              // a new empty bucket
//	srv.Endpoint, srv.AccessKey, srv.SecretKey
//
// The server binary is $(go env GOPATH)/bin/minio (scripts/deps/minio.sh
// builds it) or minio on PATH.
package miniotest

import (
	"context"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running MinIO.
type Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Client    *minio.Client
	cmd       *exec.Cmd
	dir       string
	buckets   atomic.Int64
}

var (
	mu      sync.Mutex
	running *Server
	failed  error
)

// Binary returns the path of the minio server, or "".
func Binary() string {
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	p := filepath.Join(strings.Split(gopath, string(os.PathListSeparator))[0], "bin", "minio")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	return ""
}

// Start returns the test binary's MinIO server, starting it the first time.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "minio is not installed, so this test did not run: run scripts/deps/minio.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("NOT CHECKED: " + msg)
	}
	mu.Lock()
	defer mu.Unlock()
	if running == nil && failed == nil {
		running, failed = start(bin)
	}
	if failed != nil {
		t.Fatalf("start minio: %v", failed)
	}
	return running
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, err
	}
	port, console := freePort(), freePort()
	s := &Server{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: "pipeline-test", SecretKey: "pipeline-test-secret", dir: dir}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", s.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", console), filepath.Join(dir, "data"))
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=1")
	logf, _ := os.Create(filepath.Join(dir, "minio.log"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "minio.log"))
			return nil, fmt.Errorf("minio did not become ready in 60s:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Client, err = minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// Bucket creates a new empty bucket and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", os.Getpid(), s.buckets.Add(1))
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
	return name
}

// Keys lists every object key in bucket (including unfinished uploads'
// temporary objects), for tests that check what is really there.
func (s *Server) Keys(t testing.TB, bucket string) []string {
	t.Helper()
	var keys []string
	for o := range s.Client.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
	_ = os.RemoveAll(s.dir)
}

// Stop stops the server if one was started. Call it from TestMain.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		running.stop()
		running = nil
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
