package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// RunPlugin starts a plugin written for Node.js. The engine asks for one when
// a policy pack whose PulumiPolicy.yaml says `runtime: nodejs` is in play
// (`pulumi preview --policy-pack DIR`): since this host answers for nodejs,
// the CLI runs the pack through it instead of looking for the old
// pulumi-analyzer-policy script. @pulumi/pulumi's cmd/run-policy-pack does
// the work: it loads the pack (TypeScript through ts-node), serves the
// analyzer protocol and prints its port on stdout, which the engine reads from
// the stream this method sends; then the exit code follows.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest, stream pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"mailstack's nodejs language host runs policy packs (analyzer plugins) only, not %q plugins", req.GetKind())
	}
	// The engine cancels the stream when it is done with the analyzer; that
	// ends node too.
	cmd, err := policyPackCommand(stream.Context(), req)
	if err != nil {
		return err
	}

	var mu sync.Mutex
	cmd.Stdout = &streamWriter{mu: &mu, send: func(b []byte) error {
		return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}}
	cmd.Stderr = &streamWriter{mu: &mu, send: func(b []byte) error {
		return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run the policy pack with node: %w", err)
		}
		code = int32(exitErr.ExitCode())
	}
	return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// policyPackCommand is `node [nodeargs] <sdk>/cmd/run-policy-pack ARGS... DIR`
// in the pack's directory: ARGS is what the engine passes (its address), DIR
// the pack, which the runner loads as a module.
func policyPackCommand(ctx context.Context, req *pulumirpc.RunPluginRequest) (*exec.Cmd, error) {
	info := req.GetInfo()
	dir := info.GetProgramDirectory()
	if dir == "" {
		dir = req.GetPwd()
	}
	if dir == "" {
		return nil, status.Error(codes.InvalidArgument, "RunPlugin: no policy pack directory given")
	}
	runner, err := findRunner(dir, "run-policy-pack")
	if err != nil {
		return nil, err
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args := nodeArgs(info.GetOptions().AsMap())
	args = append(args, runner)
	args = append(args, req.GetArgs()...)
	args = append(args, entry)

	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), req.GetEnv()...)
	return cmd, nil
}
