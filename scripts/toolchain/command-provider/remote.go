package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// connSpec is a parsed connection (or proxy) input.
type connSpec struct {
	host, user                               string
	port                                     int
	privateKey, privateKeyPassword, password *string
	agentSocketPath, hostKey                 *string
	dialErrorLimit                           int           // -1: unlimited
	perDialTimeout                           time.Duration // 0: no limit
	proxy                                    *connSpec
}

func (c *connSpec) addr() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

func parseConn(v resource.PropertyValue, label string) (*connSpec, error) {
	if !v.IsObject() {
		return nil, badInput("property %q must be an object", label)
	}
	m := v.ObjectValue()
	c := &connSpec{port: 22, user: "root", dialErrorLimit: 10, perDialTimeout: 15 * time.Second}
	str := func(k string) (*string, error) { return optString(m, k) }
	num := func(k string) (*float64, error) {
		v, ok := m[resource.PropertyKey(k)]
		if !ok || unwrap(v).IsNull() {
			return nil, nil
		}
		v = unwrap(v)
		if !v.IsNumber() {
			return nil, badInput("property %q must be a number", label+"."+k)
		}
		f := v.NumberValue()
		return &f, nil
	}
	h, err := str("host")
	if err != nil {
		return nil, err
	}
	if h == nil || *h == "" {
		return nil, badInput("missing required property %q", label+".host")
	}
	c.host = *h
	if u, err := str("user"); err != nil {
		return nil, err
	} else if u != nil && *u != "" {
		c.user = *u
	}
	if f, err := num("port"); err != nil {
		return nil, err
	} else if f != nil {
		if *f < 1 || *f > 65535 || *f != math.Trunc(*f) {
			return nil, badInput("property %q must be a port number", label+".port")
		}
		c.port = int(*f)
	}
	if f, err := num("dialErrorLimit"); err != nil {
		return nil, err
	} else if f != nil {
		c.dialErrorLimit = int(*f)
	}
	if f, err := num("perDialTimeout"); err != nil {
		return nil, err
	} else if f != nil {
		c.perDialTimeout = time.Duration(*f * float64(time.Second))
	}
	for k, dst := range map[string]**string{
		"privateKey": &c.privateKey, "privateKeyPassword": &c.privateKeyPassword, "password": &c.password,
		"agentSocketPath": &c.agentSocketPath, "hostKey": &c.hostKey,
	} {
		if *dst, err = str(k); err != nil {
			return nil, err
		}
	}
	if px, ok := m["proxy"]; ok && !unwrap(px).IsNull() {
		if label != "connection" {
			return nil, badInput("property %q: nested proxies are not supported", label+".proxy")
		}
		if c.proxy, err = parseConn(unwrap(px), "connection.proxy"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// clientConfig builds the SSH client configuration. The returned closer
// releases an SSH agent connection, if one was opened.
func (c *connSpec) clientConfig() (*ssh.ClientConfig, func(), error) {
	cfg := &ssh.ClientConfig{User: c.user, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	closer := func() {}
	if c.privateKey != nil && *c.privateKey != "" {
		var signer ssh.Signer
		var err error
		if c.privateKeyPassword != nil && *c.privateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.privateKey), []byte(*c.privateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.privateKey))
		}
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, closer, errors.New("the private key is encrypted: set privateKeyPassword")
			}
			// The parser's message does not quote key material.
			return nil, closer, fmt.Errorf("could not parse the private key: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != nil && *c.password != "" {
		pw := *c.password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if c.agentSocketPath != nil && *c.agentSocketPath != "" {
		sock = *c.agentSocketPath
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if c.agentSocketPath != nil && *c.agentSocketPath != "" {
				return nil, closer, fmt.Errorf("could not reach the SSH agent at %s: %w", sock, err)
			}
		} else {
			closer = func() { conn.Close() }
			cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	if c.hostKey != nil && *c.hostKey != "" {
		key, err := parseHostKey(*c.hostKey)
		if err != nil {
			closer()
			return nil, func() {}, err
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(key)
		// Ask the server for the key type we know, not whichever it prefers.
		switch key.Type() {
		case ssh.KeyAlgoRSA:
			cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		default:
			cfg.HostKeyAlgorithms = []string{key.Type()}
		}
	}
	return cfg, closer, nil
}

// parseHostKey accepts "type base64 [comment]" (authorized_keys or
// known_hosts style, with or without a host field) or bare base64.
func parseHostKey(s string) (ssh.PublicKey, error) {
	s = strings.TrimSpace(s)
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return key, nil
	}
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return key, nil
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
		if key, err := ssh.ParsePublicKey(raw); err == nil {
			return key, nil
		}
	}
	return nil, errors.New("could not parse connection.hostKey as an SSH public key")
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dial connects and authenticates, retrying failed attempts until
// dialErrorLimit errors have happened (-1: forever); each attempt is bounded
// by perDialTimeout. Through a proxy, the proxy is dialled the same way first.
func (c *connSpec) dial(ctx context.Context, onRetry func(attempt int, err error)) (*ssh.Client, func(), error) {
	cfg, closeAgent, err := c.clientConfig()
	if err != nil {
		return nil, closeAgent, err
	}
	var via dialFunc = (&net.Dialer{}).DialContext
	cleanup := closeAgent
	if c.proxy != nil {
		pc, pclose, err := c.proxy.dial(ctx, onRetry)
		if err != nil {
			closeAgent()
			return nil, func() {}, fmt.Errorf("proxy %s: %w", c.proxy.addr(), err)
		}
		via = pc.DialContext
		cleanup = func() { closeAgent(); pc.Close(); pclose() }
	}

	delay := time.Second
	for attempt := 1; ; attempt++ {
		client, err := c.dialOnce(ctx, via, cfg)
		if err == nil {
			return client, cleanup, nil
		}
		if ctx.Err() != nil || (c.dialErrorLimit >= 0 && attempt >= max(c.dialErrorLimit, 1)) {
			cleanup()
			return nil, func() {}, fmt.Errorf("could not connect to %s as %s after %d attempt(s): %w",
				c.addr(), c.user, attempt, err)
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 10*time.Second)
	}
}

func (c *connSpec) dialOnce(ctx context.Context, via dialFunc, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	actx, cancel := ctx, context.CancelFunc(func() {})
	if c.perDialTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.perDialTimeout)
	}
	defer cancel()
	conn, err := via(actx, "tcp", c.addr())
	if err != nil {
		return nil, err
	}
	// Bound the SSH handshake too: close the connection if the attempt's
	// time runs out before it completes.
	handshook := make(chan struct{})
	go func() {
		select {
		case <-actx.Done():
			conn.Close()
		case <-handshook:
		}
	}()
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.addr(), cfg)
	close(handshook)
	if err != nil {
		conn.Close()
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("connection or SSH handshake timed out after %s (perDialTimeout)", c.perDialTimeout)
		}
		return nil, err
	}
	return ssh.NewClient(sc, chans, reqs), nil
}

const acceptEnvHint = "This only works if your SSH server is configured to accept these variables via AcceptEnv. " +
	"Alternatively, if a Bash-like shell runs the command on the remote host, you could prefix the command " +
	"itself with the variables in the form 'VAR=value command'"

// runRemote runs cmd in one SSH session: the remote user's shell runs the
// string as given, stdin is written and then closed.
func (p *provider) runRemote(ctx context.Context, urn string, s *spec, cmd string, env [][2]string,
	stdout, stderr io.Writer,
) error {
	client, cleanup, err := s.conn.dial(ctx, func(attempt int, err error) {
		p.log(ctx, urn, pulumirpc.LogSeverity_DEBUG,
			fmt.Sprintf("dial attempt %d to %s failed: %v; retrying", attempt, s.conn.addr(), err), true)
	})
	if err != nil {
		return err
	}
	defer cleanup()
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("could not open an SSH session on %s: %w", s.conn.addr(), err)
	}
	defer session.Close()
	for _, kv := range env {
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			return fmt.Errorf("Unable to set '%s'. %s", kv[0], acceptEnvHint) //nolint:staticcheck // upstream wording
		}
	}
	if s.stdin != nil {
		session.Stdin = strings.NewReader(*s.stdin)
	}
	session.Stdout, session.Stderr = stdout, stderr
	if err := session.Start(cmd); err != nil {
		return fmt.Errorf("could not start the command on %s: %w", s.conn.addr(), err)
	}
	done := make(chan error, 1)
	go func() { done <- session.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGKILL)
		client.Close()
		<-done
		return fmt.Errorf("cancelled: %w", ctx.Err())
	}
}
