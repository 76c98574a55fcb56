package runners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH runs on a host over SSH: one connection per host, reused by every
// command (each command is a session on it) and re-dialled once when it
// breaks. The host key is checked against KnownHosts; authentication is a
// private key or the SSH agent. Reset runs ResetCommand on this machine (a
// snapshot revert, say) and reconnects.
type SSH struct {
	Name string
	// Addr is host:port.
	Addr string
	User string
	// KnownHosts is the known_hosts file the host key must be in.
	KnownHosts string
	// Key is a PEM private key; when empty the agent at AgentSocket
	// (SSH_AUTH_SOCK) is used.
	Key         []byte
	AgentSocket string
	// ResetCommand is run locally by Reset; empty means no reset.
	ResetCommand string
	// DialTimeout bounds connecting (default 10s); ReadyTimeout is how long
	// Start and Reset keep trying to connect (default 30s).
	DialTimeout  time.Duration
	ReadyTimeout time.Duration

	mu     sync.Mutex
	client *ssh.Client
}

func (s *SSH) Target() string { return s.Name }

// config is the client configuration of one connect. Authentication
// through the agent opens the agent's socket only when the handshake asks
// for keys; done closes it (call it once the handshakes are over).
func (s *SSH) config(ctx context.Context) (cfg *ssh.ClientConfig, done func(), err error) {
	done = func() {}
	if s.KnownHosts == "" {
		return nil, done, fmt.Errorf("no known_hosts file: host keys are always checked; add the host's key to a known_hosts file and name it")
	}
	hostKey, err := knownhosts.New(s.KnownHosts)
	if err != nil {
		return nil, done, fmt.Errorf("known_hosts: %w", err)
	}
	var auth []ssh.AuthMethod
	if len(s.Key) > 0 {
		signer, err := ssh.ParsePrivateKey(s.Key)
		if err != nil {
			return nil, done, fmt.Errorf("private key: %w", err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	} else if s.AgentSocket != "" {
		a := &agentConn{ctx: ctx, socket: s.AgentSocket}
		auth = append(auth, ssh.PublicKeysCallback(a.signers))
		done = a.close
	} else {
		return nil, done, fmt.Errorf("no private key and no SSH agent: configure key_file/key_env or run an agent")
	}
	timeout := s.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &ssh.ClientConfig{User: s.User, Auth: auth, HostKeyCallback: hostKey, Timeout: timeout}, done, nil
}

func (s *SSH) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect(ctx)
}

// connect dials until it works or ReadyTimeout passes. Host key and
// authentication failures are not retried: waiting will not fix them.
func (s *SSH) connect(ctx context.Context) error {
	cfg, done, err := s.config(ctx)
	if err != nil {
		return unreachable(s.Name, "ssh "+s.Addr, err)
	}
	defer done()
	ready := s.ReadyTimeout
	if ready == 0 {
		ready = 30 * time.Second
	}
	deadline := time.Now().Add(ready)
	// known_hosts may hold a key of another type than the one the server
	// offers first; x/crypto/ssh does not narrow its host key algorithms to
	// the known ones by itself, so on such a mismatch ask again for the
	// known types only.
	var offered string
	check := cfg.HostKeyCallback
	cfg.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		offered = key.Type()
		return check(host, remote, key)
	}
	narrowed := false
	for {
		client, err := dialSSH(ctx, s.Addr, cfg)
		if err == nil {
			s.client = client
			return nil
		}
		var keyErr *knownhosts.KeyError
		if errors.As(err, &keyErr) && !narrowed && len(keyErr.Want) > 0 {
			if algs := otherTypes(keyErr.Want, offered); len(algs) > 0 {
				cfg.HostKeyAlgorithms, narrowed = algs, true
				continue
			}
		}
		permanent := errors.As(err, &keyErr) || isAuthError(err)
		if permanent || time.Now().After(deadline) || ctx.Err() != nil {
			hint := ""
			if errors.As(err, &keyErr) {
				hint = " (the host key is not the one in " + s.KnownHosts + ")"
			}
			return unreachable(s.Name, "ssh "+s.User+"@"+s.Addr, fmt.Errorf("%w%s", err, hint))
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// agentConn is one connect's link to the SSH agent: dialled when a
// handshake first asks for keys, kept for the retries of that connect
// (a signer from the agent signs through it), closed by close.
type agentConn struct {
	ctx    context.Context
	socket string
	conn   net.Conn
}

func (a *agentConn) signers() ([]ssh.Signer, error) {
	if a.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(a.ctx, "unix", a.socket)
		if err != nil {
			return nil, fmt.Errorf("ssh agent at %s: %w", a.socket, err)
		}
		a.conn = conn
	}
	return agent.NewClient(a.conn).Signers()
}

func (a *agentConn) close() {
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
}

// otherTypes lists the host key algorithms of the known keys when none of
// them is of the offered type (else nil: a real mismatch).
func otherTypes(known []knownhosts.KnownKey, offered string) []string {
	var algs []string
	for _, k := range known {
		t := k.Key.Type()
		if t == offered {
			return nil
		}
		if t == ssh.KeyAlgoRSA {
			algs = append(algs, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		}
		algs = append(algs, t)
	}
	return algs
}

func isAuthError(err error) bool {
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("unable to authenticate"))
}

func dialSSH(ctx context.Context, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// session opens a session on the shared connection, re-dialling once if
// the connection has broken.
func (s *SSH) session(ctx context.Context) (*ssh.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		if err := s.connect(ctx); err != nil {
			return nil, err
		}
	}
	sess, err := s.client.NewSession()
	if err == nil {
		return sess, nil
	}
	s.client.Close()
	s.client = nil
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	sess, err = s.client.NewSession()
	if err != nil {
		return nil, unreachable(s.Name, "ssh session", err)
	}
	return sess, nil
}

func (s *SSH) Run(ctx context.Context, cmd Command) (Output, error) {
	sess, err := s.session(ctx)
	if err != nil {
		return Output{}, err
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr, sess.Stdin = &stdout, &stderr, cmd.Stdin
	runCtx := ctx
	line := "/bin/sh -c " + Quote(Script(cmd))
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		// The local timer is the backstop; timeout(1) on the host is what
		// actually kills the script there (sshd ignores signal requests).
		runCtx, cancel = context.WithTimeout(ctx, cmd.Timeout+3*time.Second)
		defer cancel()
		line = withTargetTimeout(line, cmd.Timeout)
	}
	start := time.Now()
	// The remote login shell runs the command string; sh -c keeps the
	// script's dialect the same whatever the user's shell is.
	if err := sess.Start(line); err != nil {
		return Output{}, unreachable(s.Name, "ssh exec", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-runCtx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		sess.Close()
		select {
		case <-done: //nolint:errcheck // killed: the cancellation is the error reported
		case <-time.After(2 * time.Second):
		}
		out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Exit: -1, TimedOut: true, Duration: time.Since(start)}
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s: %w", s.Name, ctx.Err())
		}
		return out, nil
	}
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case werr == nil:
	case errors.As(werr, &exitErr):
		out.Exit = exitErr.ExitStatus()
		if cmd.Timeout > 0 && out.Exit == 137 && out.Duration >= cmd.Timeout {
			out.Exit, out.TimedOut = -1, true
		}
	case errors.As(werr, &missing):
		return out, unreachable(s.Name, "ssh exec", werr)
	default:
		return out, unreachable(s.Name, "ssh exec", werr)
	}
	return out, nil
}

// DialContext opens a TCP connection from the host (direct-tcpip), so
// http checks see what the host sees.
func (s *SSH) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	if s.client == nil {
		if err := s.connect(ctx); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	c := s.client
	s.mu.Unlock()
	return c.DialContext(ctx, network, addr)
}

func (s *SSH) CopyIn(ctx context.Context, src, dst string) error {
	return CopyInTar(ctx, s, src, dst)
}

func (s *SSH) CopyOut(ctx context.Context, src, dst string) error {
	return CopyOutTar(ctx, s, src, dst)
}

func (s *SSH) Reset(ctx context.Context) error {
	if s.ResetCommand == "" {
		return ErrNoReset
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	cmd := proc.Command(ctx, "/bin/sh", "-c", s.ResetCommand)
	if out, err := cmd.CombinedOutput(); err != nil {
		return unreachable(s.Name, "reset command", fmt.Errorf("%w: %s", err, bytes.TrimSpace(out)))
	}
	return s.connect(ctx)
}

func (s *SSH) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		err := s.client.Close()
		s.client = nil
		return err
	}
	return nil
}

// ReadKeyFile reads a private key file, for configurations that name one.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	return b, nil
}

// HostPort joins host and port.
func HostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
