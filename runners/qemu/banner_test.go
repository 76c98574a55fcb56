package qemu

import (
	"context"
	"net"
	"testing"
	"time"
)

// qemu's port forwarder accepts a connection before the guest's sshd
// listens, and then says nothing: banner must give up when the caller's
// context ends, not after its own 3 s read timeout.
func TestBannerHonoursContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the test ends
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if banner(ctx, l.Addr().String()) {
		t.Fatal("a silent server counted as SSH")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("banner returned %s after its context was cancelled at 100ms", took)
	}

	// And a server that answers is recognised.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	go func() {
		c, err := l2.Accept()
		if err == nil {
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
	if !banner(context.Background(), l2.Addr().String()) {
		t.Fatal("an SSH banner was not recognised")
	}
}
