package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// runLocal runs cmd through the interpreter (default /bin/sh -c) in its own
// process group, so that cancelling kills the whole tree.
func runLocal(ctx context.Context, s *spec, cmd string, env [][2]string, stdout, stderr io.Writer) error {
	args := append(append([]string{}, s.interpreter[1:]...), cmd)
	c := exec.CommandContext(ctx, s.interpreter[0], args...)
	c.Dir = s.dir
	c.Env = os.Environ()
	for _, kv := range env {
		c.Env = append(c.Env, kv[0]+"="+kv[1])
	}
	if s.stdin != nil {
		c.Stdin = strings.NewReader(*s.stdin)
	}
	c.Stdout, c.Stderr = stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	// Do not wait forever for pipes held open by background children.
	c.WaitDelay = 5 * time.Second
	return c.Run()
}
