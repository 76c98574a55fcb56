package runners_test

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
)

// agentServer serves keyring on a unix socket and counts the connections
// still open.
func agentServer(t *testing.T, keyring agent.Agent) (socket string, open *atomic.Int32) {
	t.Helper()
	socket = filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	open = &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			open.Add(1)
			go func() {
				defer open.Add(-1)
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return socket, open
}

// Authentication through the agent: the agent's socket is open during the
// handshake only, whatever the number of connects (Start, Reset, a re-dial
// after Close). It used to stay open, one more per connect.
func TestSSHAgentClosedAfterConnect(t *testing.T) {
	d := runnertest.StartSSHD(t, 0)
	key, err := ssh.ParseRawPrivateKey(d.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	socket, open := agentServer(t, keyring)
	s := &runners.SSH{Name: "ssh", Addr: d.Addr, User: d.User, AgentSocket: socket, KnownHosts: d.KnownHosts, ReadyTimeout: 5 * time.Second}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := s.Start(ctx); err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		out, err := s.Run(ctx, runners.Command{Script: "echo ok"})
		if err != nil || string(out.Stdout) != "ok\n" {
			t.Fatalf("connect %d: run: %q %v", i, out.Stdout, err)
		}
		s.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Fatalf("%d agent connections still open after 3 connects", n)
	}
}
