package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// spec is the parsed form of a Command's inputs.
type spec struct {
	typ                    string
	create, update, delete *string
	stdin                  *string
	env                    map[string]string
	logging                string // stdout, stderr, stdoutAndStderr (default) or none
	addPreviousOutputInEnv bool   // default true

	// local
	dir         string
	interpreter []string

	// remote
	conn *connSpec
}

func badInput(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func optString(m resource.PropertyMap, k string) (*string, error) {
	v, ok := m[resource.PropertyKey(k)]
	if !ok {
		return nil, nil
	}
	v = unwrap(v)
	if v.IsNull() {
		return nil, nil
	}
	if !v.IsString() {
		return nil, badInput("property %q must be a string", k)
	}
	s := v.StringValue()
	return &s, nil
}

func parseSpec(t string, m resource.PropertyMap) (*spec, error) {
	if m.ContainsUnknowns() {
		return nil, badInput("inputs contain unknown values outside of a preview")
	}
	s := &spec{typ: t, logging: "stdoutAndStderr", addPreviousOutputInEnv: true}
	var err error
	for k, dst := range map[string]**string{"create": &s.create, "update": &s.update, "delete": &s.delete, "stdin": &s.stdin} {
		if *dst, err = optString(m, k); err != nil {
			return nil, err
		}
	}
	// An empty command is treated like no command at all.
	for _, c := range []**string{&s.create, &s.update, &s.delete} {
		if *c != nil && **c == "" {
			*c = nil
		}
	}
	if l, err := optString(m, "logging"); err != nil {
		return nil, err
	} else if l != nil {
		switch *l {
		case "stdout", "stderr", "stdoutAndStderr", "none":
			s.logging = *l
		default:
			return nil, badInput("property \"logging\" must be one of stdout, stderr, stdoutAndStderr, none")
		}
	}
	if v, ok := m["addPreviousOutputInEnv"]; ok {
		v = unwrap(v)
		if v.IsBool() {
			s.addPreviousOutputInEnv = v.BoolValue()
		} else if !v.IsNull() {
			return nil, badInput("property \"addPreviousOutputInEnv\" must be a boolean")
		}
	}
	if v, ok := m["environment"]; ok {
		v = unwrap(v)
		if v.IsObject() {
			s.env = map[string]string{}
			for k, e := range v.ObjectValue() {
				if !e.IsString() {
					return nil, badInput("environment variable %q must be a string", string(k))
				}
				s.env[string(k)] = e.StringValue()
			}
		} else if !v.IsNull() {
			return nil, badInput("property \"environment\" must be a map of strings")
		}
	}
	switch t {
	case typeLocal:
		if d, err := optString(m, "dir"); err != nil {
			return nil, err
		} else if d != nil {
			s.dir = *d
		}
		if v, ok := m["interpreter"]; ok {
			v = unwrap(v)
			if v.IsArray() {
				for _, e := range v.ArrayValue() {
					if !e.IsString() {
						return nil, badInput("property \"interpreter\" must be a list of strings")
					}
					s.interpreter = append(s.interpreter, e.StringValue())
				}
			}
		}
		if len(s.interpreter) == 0 {
			s.interpreter = []string{"/bin/sh", "-c"}
		}
		for _, k := range []resource.PropertyKey{"assetPaths", "archivePaths"} {
			if _, ok := m[k]; ok {
				return nil, badInput("%q is not supported by this project's command provider build", string(k))
			}
		}
	case typeRemote:
		c, ok := m["connection"]
		if !ok {
			return nil, badInput("missing required property \"connection\"")
		}
		if s.conn, err = parseConn(unwrap(c), "connection"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// envList is the command's environment: the user's variables in name order,
// then the previous outputs when asked for.
func (s *spec) envList(prev *[2]string) [][2]string {
	names := make([]string, 0, len(s.env))
	for k := range s.env {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([][2]string, 0, len(names)+2)
	for _, k := range names {
		out = append(out, [2]string{k, s.env[k]})
	}
	if prev != nil {
		out = append(out, [2]string{"PULUMI_COMMAND_STDOUT", prev[0]}, [2]string{"PULUMI_COMMAND_STDERR", prev[1]})
	}
	return out
}

// run executes one command and returns its stdout and stderr, each without
// one trailing newline. prev, when set, is exported as PULUMI_COMMAND_STDOUT
// and PULUMI_COMMAND_STDERR.
func (p *provider) run(ctx context.Context, urn, op string, s *spec, cmd string, prev *[2]string) (string, string, error) {
	stdout := &logWriter{p: p, ctx: ctx, urn: urn, log: s.logging == "stdout" || s.logging == "stdoutAndStderr"}
	stderr := &logWriter{p: p, ctx: ctx, urn: urn, log: s.logging == "stderr" || s.logging == "stdoutAndStderr"}
	var err error
	switch s.typ {
	case typeLocal:
		err = runLocal(ctx, s, cmd, s.envList(prev), stdout, stderr)
	case typeRemote:
		err = p.runRemote(ctx, urn, s, cmd, s.envList(prev), stdout, stderr)
	}
	stdout.flush()
	stderr.flush()
	out, errOut := stdout.String(), stderr.String()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		return out, errOut, opError(s.typ, op, err, out, errOut)
	}
	return strings.TrimSuffix(out, "\n"), strings.TrimSuffix(errOut, "\n"), nil
}

// logWriter keeps everything written to it and, when log is set, sends each
// complete line to the engine as an ephemeral info message.
type logWriter struct {
	p   *provider
	ctx context.Context
	urn string
	log bool

	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all.Write(b)
	if !w.log {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.p.log(w.ctx, w.urn, pulumirpc.LogSeverity_INFO, line, true)
	}
	return len(b), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.log && len(w.partial) > 0 {
		w.p.log(w.ctx, w.urn, pulumirpc.LogSeverity_INFO, string(w.partial), true)
		w.partial = nil
	}
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}
